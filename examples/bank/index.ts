import { service } from "sagaflow";
import { customer } from "./customer.ts";
import { transfer } from "./transfer.ts";
import { transferWorkflow } from "./transfer-workflow.ts";
import { wallet } from "./wallet.ts";

/** The showcase service: `npm start` serves it. */
export default service("bank", [wallet, customer, transfer, transferWorkflow]);
