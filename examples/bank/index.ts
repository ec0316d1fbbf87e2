import { service } from "sagaflow";
import { customer } from "./customer.ts";
import { wallet } from "./wallet.ts";

/** The showcase service: `npm start` serves it. */
export default service("bank", [wallet, customer]);
