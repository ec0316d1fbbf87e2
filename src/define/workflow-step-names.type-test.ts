/**
 * Type tests (checked by `tsc --noEmit`, never run): step names are checked by the type checker.
 * Each `@ts-expect-error` fails the type check if the line below it compiles.
 */
import { workflow } from "./workflow.ts";

export const checked = workflow("step-names", {
  start: (input: { n: number }) => ({ n: input.n }),
  steps: {
    first: (s, _input, ctx) => {
      if (s.n > 1) return ctx.transitionTo("second");
      // @ts-expect-error "tpyo" is not a step of this workflow
      return ctx.transitionTo("tpyo");
    },
    second: (s, _input, ctx) => {
      if (s.n > 2) return ctx.update({ n: s.n - 1 }).transitionTo("first");
      // @ts-expect-error after update too
      if (s.n > 3) return ctx.update({ n: 0 }).transitionTo("frist");
      // @ts-expect-error a pause's `then` is a step name
      if (s.n > 4) return ctx.pause({ timeoutMs: 1_000, then: "thrid" });
      return ctx.pause({ timeoutMs: 1_000, then: "first" });
    },
  },
  commands: {
    skip: (_w, _c: {}, fx) => fx.transitionTo("second").reply({ ok: true }),
    // @ts-expect-error a command's transition is checked as well
    jump: (_w, _c: {}, fx) => fx.transitionTo("nowhere").reply({ ok: true }),
    // @ts-expect-error and after a command's update
    redo: (w, _c: {}, fx) => fx.update({ n: w.state.n + 1 }).transitionTo("frist").reply({ ok: true }),
  },
  // @ts-expect-error failover names a step
  defaults: { failoverTo: "compensate" },
  stepOptions: {
    first: { failoverTo: "second" },
  },
  // @ts-expect-error the timeout's step too
  timeout: { afterMs: 60_000, step: "late" },
});

// The step names are part of the definition's type.
export const names: Array<keyof typeof checked.steps> = ["first", "second"];
// @ts-expect-error not a step name
export const wrong: Array<keyof typeof checked.steps> = ["third"];
