import { access, entity } from "sagaflow";

export interface User {
  status: "new" | "pending" | "active" | "rejected";
  email: string;
  name: string;
  reason?: string;
  /** An address the user asked to move to, while it is being reserved. */
  pendingEmail?: string | undefined;
}

/** A user whose e-mail address is unique: the address is reserved before the user is active. */
export const user = entity(
  "user",
  {
    initial: (): User => ({ status: "new", email: "", name: "" }),
    events: {
      registered: (_s, e: { email: string; name: string }): User => ({ status: "pending", email: e.email, name: e.name }),
      activated: (s): User => ({ ...s, status: "active" }),
      rejected: (s, e: { reason: string }): User => ({ ...s, status: "rejected", reason: e.reason }),
      emailChangeRequested: (s, e: { email: string }): User => ({ ...s, pendingEmail: e.email }),
      emailChanged: (s, e: { old: string; email: string }): User => ({ ...s, email: e.email, pendingEmail: undefined }),
      emailChangeRejected: (s, _e: { email: string; reason: string }): User => ({ ...s, pendingEmail: undefined }),
    },
  },
  {
    expose: access.anyone,
    commands: {
      register: (s, c: { email: string; name: string }, fx) =>
        s.status !== "new"
          ? fx.error("already_exists", "this user is already registered")
          : typeof c.email !== "string" || !/^[^@\s/]+@[^@\s/]+$/.test(c.email) || c.email.length > 254
            ? fx.error("invalid_email", "email must look like name@domain")
            : typeof c.name !== "string" || c.name.length === 0 || c.name.length > 200
              ? fx.error("invalid_name", "name must be 1 to 200 characters")
              : fx.emit("registered", { email: c.email.toLowerCase(), name: c.name }).reply({ status: "pending" }),

      /** The reservation of `email` is confirmed: finish registering, or finish the change. */
      confirmEmail: (s, c: { email: string }, fx) =>
        s.status === "pending" && s.email === c.email
          ? fx.emit("activated", {}).reply({ status: "active" })
          : s.status === "active" && s.pendingEmail === c.email
            ? fx.emit("emailChanged", { old: s.email, email: c.email }).reply({ status: "active" })
            : s.status === "active" && s.email === c.email
              ? fx.reply({ status: "active" })
              : fx.error("not_waiting", `this user is not waiting for ${c.email}`),

      /** The reservation of `email` failed or timed out. */
      refuseEmail: (s, c: { email: string; reason: string }, fx) =>
        s.status === "pending" && s.email === c.email
          ? fx.emit("rejected", { reason: c.reason }).reply({ status: "rejected" })
          : s.pendingEmail === c.email
            ? fx.emit("emailChangeRejected", { email: c.email, reason: c.reason }).reply({ status: s.status })
            : fx.error("not_waiting", `this user is not waiting for ${c.email}`),

      changeEmail: (s, c: { email: string }, fx) =>
        s.status !== "active"
          ? fx.error("not_active", "only an active user can change e-mail address")
          : typeof c.email !== "string" || !/^[^@\s/]+@[^@\s/]+$/.test(c.email)
            ? fx.error("invalid_email", "email must look like name@domain")
            : s.pendingEmail !== undefined
              ? fx.error("change_in_progress", `already moving to ${s.pendingEmail}`)
              : c.email.toLowerCase() === s.email
                ? fx.reply({ status: "active" })
                : fx.emit("emailChangeRequested", { email: c.email.toLowerCase() }).reply({ status: "pending" }),
    },
    queries: {
      get: (s, _: {}, fx) =>
        s.status === "new"
          ? fx.error("not_found", "no such user", { status: 404 })
          : fx.reply({ email: s.email, name: s.name, status: s.status, ...(s.reason ? { reason: s.reason } : {}) }),
    },
  },
);
