import { access, table, view } from "sagaflow";
import { order, type OrderStatus } from "./order.ts";

interface OrderRow {
  id: string;
  customerId: string;
  status: Exclude<OrderStatus, "new">;
  total: number;
}

const withStatus = (status: OrderRow["status"]) => (row: OrderRow | undefined) => row && { ...row, status };

/** Orders by status and by customer: the query side, kept up to date from the orders' events. */
export const orders = view("orders", {
  version: 1,
  tables: {
    orders: table<typeof order, OrderRow>(order, {
      events: {
        placed: (_row, e, { id }) => ({ id, customerId: e.customerId, status: "placed", total: e.total }),
        awaitingPayment: withStatus("awaiting_payment"),
        paid: withStatus("paid"),
        shipped: withStatus("shipped"),
        cancelled: withStatus("cancelled"),
      },
    }),
  },
  queries: {
    byStatus: "SELECT (id, customerId, status, total) AS orders FROM orders WHERE status = :status ORDER BY id",
    byCustomer: "SELECT (id, customerId, status, total) AS orders FROM orders WHERE customerId = :customerId ORDER BY id",
  },
  expose: access.anyone,
});
