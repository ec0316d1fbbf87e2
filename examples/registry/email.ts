import { access, keyValue } from "sagaflow";

export interface EmailClaim {
  owner: string;
  status: "reserved" | "confirmed";
}

/** One e-mail address (the id) and who holds it; null while it is free. */
export const email = keyValue("email", {
  expose: access.anyone,
  initial: (): EmailClaim | null => null,
  commands: {
    reserve: (s, c: { owner: string }, fx) =>
      s === null
        ? fx.update({ owner: c.owner, status: "reserved" }).reply((s) => s)
        : s.owner === c.owner
          ? fx.reply(s)
          : fx.error("email_taken", "another user holds or has reserved this address"),
    confirm: (s, c: { owner: string }, fx) =>
      s?.owner !== c.owner
        ? fx.error("not_reserved", "this address is not reserved for this user")
        : s.status === "confirmed"
          ? fx.reply(s)
          : fx.update({ owner: c.owner, status: "confirmed" }).reply((s) => s),
    /** Frees the address if `owner` holds it, confirmed or not. */
    release: (s, c: { owner: string }, fx) =>
      s?.owner === c.owner ? fx.update(null).reply({ released: true }) : fx.reply({ released: false }),
    /** Frees the address only if `owner` reserved it and never confirmed it. */
    expire: (s, c: { owner: string }, fx) =>
      s?.owner === c.owner && s.status === "reserved" ? fx.update(null).reply({ released: true }) : fx.reply({ released: false }),
  },
  queries: {
    get: (s, _: {}, fx) => (s === null ? fx.error("not_found", "this address is free", { status: 404 }) : fx.reply(s)),
  },
});
