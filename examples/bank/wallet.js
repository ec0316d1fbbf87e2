import { entity } from "sagaflow";
const positiveAmount = (n) => Number.isSafeInteger(n) && n > 0;
const amountOrZero = (n) => Number.isSafeInteger(n) && n >= 0;
/** A wallet holding a whole-number balance. It has no de-duplication code: the runtime does that. */
export const wallet = entity("wallet", {
    initial: () => ({ balance: 0, open: false }),
    events: {
        created: (_s, e) => ({ balance: e.initialBalance, open: true }),
        withdrawn: (s, e) => ({ ...s, balance: s.balance - e.amount }),
        deposited: (s, e) => ({ ...s, balance: s.balance + e.amount }),
    },
}, {
    commands: {
        create: (s, c, fx) => s.open
            ? fx.error("already_exists", "this wallet was already created")
            : !amountOrZero(c.initialBalance)
                ? fx.error("invalid_amount", "initialBalance must be a whole number ≥ 0")
                : fx.emit("created", { initialBalance: c.initialBalance }).reply((s) => ({ balance: s.balance })),
        withdraw: (s, c, fx) => !s.open
            ? fx.error("not_found", "no such wallet")
            : !positiveAmount(c.amount)
                ? fx.error("invalid_amount", "amount must be a whole number > 0")
                : s.balance < c.amount
                    ? fx.error("insufficient_funds", `balance ${s.balance} is less than ${c.amount}`)
                    : fx.emit("withdrawn", { amount: c.amount }).reply((s) => ({ balance: s.balance })),
        deposit: (s, c, fx) => !s.open
            ? fx.error("not_found", "no such wallet")
            : !positiveAmount(c.amount)
                ? fx.error("invalid_amount", "amount must be a whole number > 0")
                : s.balance + c.amount > Number.MAX_SAFE_INTEGER
                    ? fx.error("balance_limit", `a balance cannot exceed ${Number.MAX_SAFE_INTEGER} (past it, sums lose units)`)
                    : fx.emit("deposited", { amount: c.amount }).reply((s) => ({ balance: s.balance })),
    },
    queries: {
        balance: (s, _, fx) => s.open ? fx.reply({ balance: s.balance }) : fx.error("not_found", "no such wallet"),
    },
});
