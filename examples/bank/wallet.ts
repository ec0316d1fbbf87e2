import { access, entity } from "sagaflow";

export interface Wallet {
  balance: number;
  open: boolean;
}

const positiveAmount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;
const amountOrZero = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** A wallet holding a whole-number balance. It has no de-duplication code: the runtime does that. */
export const wallet = entity(
  "wallet",
  {
    initial: (): Wallet => ({ balance: 0, open: false }),
    events: {
      created: (_s, e: { initialBalance: number }) => ({ balance: e.initialBalance, open: true }),
      withdrawn: (s, e: { amount: number }) => ({ ...s, balance: s.balance - e.amount }),
      deposited: (s, e: { amount: number }) => ({ ...s, balance: s.balance + e.amount }),
    },
  },
  {
    expose: access.anyone,
    commands: {
      create: (s, c: { initialBalance: number }, fx) =>
        s.open
          ? fx.error("already_exists", "this wallet was already created")
          : !amountOrZero(c.initialBalance)
            ? fx.error("invalid_amount", "initialBalance must be a whole number ≥ 0")
            : fx.emit("created", { initialBalance: c.initialBalance }).reply((s) => ({ balance: s.balance })),

      withdraw: (s, c: { amount: number }, fx) =>
        !s.open
          ? fx.error("not_found", "no such wallet")
          : !positiveAmount(c.amount)
            ? fx.error("invalid_amount", "amount must be a whole number > 0")
            : s.balance < c.amount
              ? fx.error("insufficient_funds", `balance ${s.balance} is less than ${c.amount}`)
              : fx.emit("withdrawn", { amount: c.amount }).reply((s) => ({ balance: s.balance })),

      deposit: (s, c: { amount: number }, fx) =>
        !s.open
          ? fx.error("not_found", "no such wallet")
          : !positiveAmount(c.amount)
            ? fx.error("invalid_amount", "amount must be a whole number > 0")
            : s.balance + c.amount > Number.MAX_SAFE_INTEGER
              ? fx.error("balance_limit", `a balance cannot exceed ${Number.MAX_SAFE_INTEGER} (past it, sums lose units)`)
              : fx.emit("deposited", { amount: c.amount }).reply((s) => ({ balance: s.balance })),
    },
    queries: {
      balance: (s, _: {}, fx) =>
        s.open ? fx.reply({ balance: s.balance }) : fx.error("not_found", "no such wallet"),
    },
  },
);
