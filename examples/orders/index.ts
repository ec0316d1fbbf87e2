import { service } from "sagaflow";
import { paymentVerdicts, placedOrders } from "./consumers.ts";
import { fulfilment } from "./fulfilment.ts";
import { order } from "./order.ts";
import { payment } from "./payment.ts";
import { stock } from "./stock.ts";
import { orders } from "./views.ts";

/**
 * Orders fulfilled by a process manager: an event-sourced order, stock per product, payments
 * from a (simulated) provider, and the `fulfilment` workflow that reserves, waits for the
 * payment with a timeout, and ships or compensates. See README.md.
 *
 * Routes for clients (the rest is for the process manager): stock `restock` and `get`, order
 * `place` and `get`, payment `pay`, and the `orders` view's queries.
 */
export default service("orders", [order, stock, payment, fulfilment, placedOrders, paymentVerdicts, orders]);
