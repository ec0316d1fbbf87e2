import { z } from "zod";
import { keyValue } from "sagaflow";
/** A key-value entity: the customer's profile is one value, replaced as a whole. Input is checked with zod. */
export const customer = keyValue("customer", {
    initial: () => null,
    inputs: {
        register: z.object({ name: z.string().min(1).max(200), email: z.string().email() }),
        addWallet: z.object({ walletId: z.string().min(1).max(256) }),
    },
    commands: {
        register: (s, c, fx) => s ? fx.error("already_exists", "customer already registered")
            : fx.update({ name: c.name, email: c.email, wallets: [] }).reply((s) => s),
        addWallet: (s, c, fx) => !s ? fx.error("not_found", "no such customer")
            : s.wallets.includes(c.walletId) ? fx.reply(s)
                : fx.update({ ...s, wallets: [...s.wallets, c.walletId] }).reply((s) => s),
        close: (s, _, fx) => (s ? fx.delete().reply({ closed: true }) : fx.error("not_found", "no such customer")),
    },
    queries: {
        get: (s, _, fx) => (s ? fx.reply(s) : fx.error("not_found", "no such customer")),
    },
});
