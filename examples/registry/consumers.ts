import { consumer, deferred, isRefusal, type ConsumerContext } from "sagaflow";
import { email } from "./email.ts";
import { user } from "./user.ts";

/** How long a reservation may wait for its confirmation (REGISTRY_RESERVATION_TIMEOUT_MS, default 10 s). */
export const reservationTimeoutMs = Number(process.env["REGISTRY_RESERVATION_TIMEOUT_MS"] ?? 10_000);

const timerName = (address: string, owner: string) => `reservation:${address}:${owner}`;

/** Reserves the address a user asks for; a taken address refuses the request. */
async function reserve(address: string, owner: string, ctx: ConsumerContext) {
  try {
    await ctx.call(email, address).reserve({ owner });
  } catch (error) {
    if (isRefusal(error) && error.code === "email_taken") {
      await ctx.call(user, owner).refuseEmail({ email: address, reason: "email_taken" });
      return;
    }
    throw error;
  }
  // If the confirmation never comes, the timer tells the user, whose consumer frees the address.
  await ctx.timers.start(timerName(address, owner), reservationTimeoutMs, deferred(user, owner).refuseEmail({ email: address, reason: "timeout" }));
}

/** Choreography, step 1: users' events drive reservations and releases of addresses. */
export const reservations = consumer("reservations", {
  source: user,
  events: {
    registered: (e, ctx) => reserve(e.email, ctx.id, ctx),
    emailChangeRequested: (e, ctx) => reserve(e.email, ctx.id, ctx),
    rejected: async (e, ctx) => {
      // Only a timed-out registration holds a reservation to give back.
      if (e.reason !== "timeout") return;
      const { email: address } = await ctx.call(user, ctx.id).get();
      await ctx.call(email, address).expire({ owner: ctx.id });
    },
    emailChangeRejected: async (e, ctx) => {
      if (e.reason === "timeout") await ctx.call(email, e.email).expire({ owner: ctx.id });
    },
    emailChanged: async (e, ctx) => {
      await ctx.call(email, e.old).release({ owner: ctx.id });
    },
  },
  ignoreUnknown: true,
});

/** Choreography, step 2: a reserved address confirms its user, then itself. */
export const confirmations = consumer("confirmations", {
  source: email,
  state: async ({ state }, ctx) => {
    if (state?.status !== "reserved") return;
    try {
      await ctx.call(user, state.owner).confirmEmail({ email: ctx.id });
    } catch (error) {
      // The user no longer waits (the reservation timed out first): give the address back.
      if (isRefusal(error) && error.code === "not_waiting") {
        await ctx.call(email, ctx.id).expire({ owner: state.owner });
        return;
      }
      throw error;
    }
    await ctx.call(email, ctx.id).confirm({ owner: state.owner });
    await ctx.timers.cancel(timerName(ctx.id, state.owner));
  },
});
