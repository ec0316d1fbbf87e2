import { env, service } from "sagaflow";
import { customer } from "./customer.ts";
import { customerOverview } from "./overview.ts";
import { deposits, transferEvents, transferWorkflowEvents } from "./topics.ts";
import { transfer } from "./transfer.ts";
import { transferWorkflow } from "./transfer-workflow.ts";
import { wallet } from "./wallet.ts";

/**
 * The showcase service: `npm start` serves it. Wallets and transfers are public; customers take
 * an HS256 token of the issuer `bank-example`, signed with `BANK_JWT_SECRET` (without it the
 * service still starts, says so in its log, and every customer route answers 401). With
 * `NATS_URL` set, deposits also arrive from NATS (`bank.deposits`) and every ended transfer is
 * published (`bank.transfers.{id}`).
 */
export default service(
  "bank",
  [wallet, customer, transfer, transferWorkflow, customerOverview, ...(process.env["NATS_URL"] ? [deposits, transferEvents, transferWorkflowEvents] : [])],
  { auth: { issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: env("BANK_JWT_SECRET") }] } },
);
