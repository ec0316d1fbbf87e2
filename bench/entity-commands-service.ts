/**
 * The service the entity-commands bench drives: a wallet-like event-sourced entity. Kept here
 * rather than borrowed from examples/ so that the bench measures the same thing over time.
 */
import { access, entity, service } from "../src/index.ts";

export const wallet = entity(
  "wallet",
  {
    initial: () => ({ balance: 0, open: false }),
    events: {
      created: (_s, e: { initialBalance: number }) => ({ balance: e.initialBalance, open: true }),
      deposited: (s, e: { amount: number }) => ({ ...s, balance: s.balance + e.amount }),
    },
  },
  {
    expose: access.anyone,
    commands: {
      create: (s, c: { initialBalance: number }, fx) =>
        s.open
          ? fx.error("already_exists", "this wallet was already created")
          : fx.emit("created", { initialBalance: c.initialBalance }).reply((s) => ({ balance: s.balance })),
      deposit: (s, c: { amount: number }, fx) =>
        !s.open
          ? fx.error("not_found", "no such wallet")
          : !Number.isSafeInteger(c.amount) || c.amount <= 0
            ? fx.error("invalid_amount", "amount must be a whole number > 0")
            : fx.emit("deposited", { amount: c.amount }).reply((s) => ({ balance: s.balance })),
    },
    queries: {
      balance: (s, _: {}, fx) => (s.open ? fx.reply({ balance: s.balance }) : fx.error("not_found", "no such wallet")),
    },
  },
);

export default service("bench", [wallet]);
