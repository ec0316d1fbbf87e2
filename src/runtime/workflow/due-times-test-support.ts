import { entity } from "../../define/entity.ts";
import { workflow } from "../../define/workflow.ts";

/**
 * Components whose every kind of due time waits `delayMs`: a workflow timeout (`deadline`), a
 * pause timeout (`pauser`), a retry back-off (`retrier`, which fails its first attempt) and, for
 * a durable timer to hit, a `target` entity. The clock tests (early wake-ups, a wall clock set
 * back) run them under clocks that misbehave and check that each still happens on time.
 */
export function dueTimeComponents(delayMs: number) {
  const target = entity(
    "target",
    { initial: () => ({ hits: 0 }), events: { hit: (s: { hits: number }, _e: {}) => ({ hits: s.hits + 1 }) } },
    { commands: { hit: (_s, _c: {}, fx) => fx.emit("hit", {}).reply((after) => after) }, queries: { get: (s, _: {}, fx) => fx.reply(s) } },
  );
  const deadline = workflow("deadline", {
    start: (_input: {}) => ({ late: false }),
    steps: {
      wait: (_s, _input, ctx) => ctx.pause(),
      late: (s, _input, ctx) => ctx.update({ ...s, late: true }).end(),
    },
    timeout: { afterMs: delayMs, step: "late" },
  });
  const pauser = workflow("pauser", {
    start: (_input: {}) => ({ timedOut: false }),
    steps: {
      wait: (_s, _input, ctx) => ctx.pause({ timeoutMs: delayMs, then: "expired" }),
      expired: (s, _input, ctx) => ctx.update({ ...s, timedOut: true }).end(),
    },
  });
  const failed = new Set<string>();
  const retrier = workflow("retrier", {
    start: (_input: {}) => ({ ran: 0 }),
    steps: {
      flaky: (s, _input, ctx) => {
        if (!failed.has(ctx.workflowId)) {
          failed.add(ctx.workflowId);
          throw new Error("not yet");
        }
        return ctx.update({ ran: s.ran + 1 }).end();
      },
    },
    defaults: { retry: { initialBackoffMs: delayMs } },
  });
  return { target, deadline, pauser, retrier };
}
