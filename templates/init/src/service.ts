import { access, entity, saga, service, table, view } from "sagaflow";

/** An event-sourced bank account: its state is the fold of its events. */
export const account = entity(
  "account",
  {
    initial: () => ({ open: false, owner: "", balance: 0 }),
    events: {
      opened: (_s, e: { owner: string }) => ({ open: true, owner: e.owner, balance: 0 }),
      deposited: (s, e: { amount: number }) => ({ ...s, balance: s.balance + e.amount }),
      withdrawn: (s, e: { amount: number }) => ({ ...s, balance: s.balance - e.amount }),
    },
  },
  {
    // Over HTTP, nothing is reachable unless exposed: here every command and query, by anyone.
    // `expose: { balance: access.authenticated }` would expose one query, to callers with a token.
    expose: access.anyone,
    commands: {
      open: (s, c: { owner: string }, fx) =>
        s.open ? fx.error("already_open") : fx.emit("opened", c).reply((s) => ({ balance: s.balance })),
      deposit: (s, c: { amount: number }, fx) =>
        !s.open ? fx.error("not_found", "no such account", { status: 404 })
          : !(Number.isInteger(c.amount) && c.amount > 0) ? fx.error("invalid_amount", "amount must be a whole number > 0")
          : fx.emit("deposited", c).reply((s) => ({ balance: s.balance })),
      withdraw: (s, c: { amount: number }, fx) =>
        !s.open ? fx.error("not_found", "no such account", { status: 404 })
          : !(Number.isInteger(c.amount) && c.amount > 0) ? fx.error("invalid_amount", "amount must be a whole number > 0")
          : s.balance < c.amount ? fx.error("insufficient_funds")
          : fx.emit("withdrawn", c).reply((s) => ({ balance: s.balance })),
    },
    queries: {
      balance: (s, _: {}, fx) => (s.open ? fx.reply({ balance: s.balance }) : fx.error("not_found", "no such account", { status: 404 })),
    },
  },
);

/** Moves money between two accounts; gives it back if the deposit is refused. */
export const transfer = saga("transfer", {
  expose: access.anyone,
  start: (input: { from: string; to: string; amount: number }) => input,
  steps: [
    {
      name: "withdraw",
      run: (s, ctx) => ctx.call(account, s.from).withdraw({ amount: s.amount }),
      compensate: (s, ctx) => ctx.call(account, s.from).deposit({ amount: s.amount }),
    },
    { name: "deposit", run: (s, ctx) => ctx.call(account, s.to).deposit({ amount: s.amount }) },
  ],
});

/** Accounts by owner, kept up to date from the accounts' events. */
export const accounts = view("accounts", {
  expose: access.anyone,
  version: 1,
  tables: {
    accounts: table<typeof account, { owner: string; balance: number }>(account, {
      events: {
        opened: (_row, e) => ({ owner: e.owner, balance: 0 }),
        deposited: (row, e) => row && { ...row, balance: row.balance + e.amount },
        withdrawn: (row, e) => row && { ...row, balance: row.balance - e.amount },
      },
    }),
  },
  queries: {
    byOwner: "SELECT * AS accounts FROM accounts WHERE owner = :owner ORDER BY balance DESC",
  },
});

export default service("bank", [account, transfer, accounts]);
