import { z } from "zod";
import { access, keyValue } from "sagaflow";

export interface Customer {
  name: string;
  email: string;
  wallets: string[];
}

/** A customer's own token (`sub` = the customer id in the path), or an administrator's (`roles` contains "admin"). */
export const customerOrAdmin = access.anyOf(access.subjectIs("id"), access.role("admin"));

/**
 * A key-value entity: the customer's profile is one value, replaced as a whole. Input is checked
 * with zod. Over HTTP only the customer or an administrator may call it (with a bank-example token).
 */
export const customer = keyValue("customer", {
  expose: { register: customerOrAdmin, get: customerOrAdmin, addWallet: customerOrAdmin, close: customerOrAdmin },
  initial: (): Customer | null => null,
  inputs: {
    register: z.object({ name: z.string().min(1).max(200), email: z.string().email() }),
    addWallet: z.object({ walletId: z.string().min(1).max(256) }),
  },
  commands: {
    register: (s, c: { name: string; email: string }, fx) =>
      s ? fx.error("already_exists", "customer already registered")
        : fx.update({ name: c.name, email: c.email, wallets: [] }).reply((s) => s),
    addWallet: (s, c: { walletId: string }, fx) =>
      !s ? fx.error("not_found", "no such customer")
        : s.wallets.includes(c.walletId) ? fx.reply(s)
        : fx.update({ ...s, wallets: [...s.wallets, c.walletId] }).reply((s) => s),
    close: (s, _: {}, fx) => (s ? fx.delete().reply({ closed: true }) : fx.error("not_found", "no such customer")),
  },
  queries: {
    get: (s, _: {}, fx) => (s ? fx.reply(s) : fx.error("not_found", "no such customer")),
  },
});
