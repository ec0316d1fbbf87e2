import { service } from "sagaflow";
import { customer } from "./customer.ts";
import { deposits, transferEvents, transferWorkflowEvents } from "./topics.ts";
import { transfer } from "./transfer.ts";
import { transferWorkflow } from "./transfer-workflow.ts";
import { wallet } from "./wallet.ts";

/**
 * The showcase service: `npm start` serves it. With `NATS_URL` set, deposits also arrive from
 * NATS (`bank.deposits`) and every ended transfer is published (`bank.transfers.{id}`).
 */
export default service("bank", [wallet, customer, transfer, transferWorkflow, ...(process.env.NATS_URL ? [deposits, transferEvents, transferWorkflowEvents] : [])]);
