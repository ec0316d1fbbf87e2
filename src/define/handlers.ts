import type { Effect, ReplyOf } from "./effect.ts";

/** Options of one call. */
export interface CallOptions {
  /** Repeats with the same key return the first reply and change nothing. */
  idempotencyKey?: string;
}

/** Handler names declared in a record (an inferred index signature counts as none). */
type Declared<T> = string extends keyof T ? never : keyof T & string;

/** The commands and queries of a component definition, by name (a workflow's `start` too). */
export type HandlersOf<D> = D extends { kind: "workflow"; start: (input: infer SI) => any; commands: infer CM; queries: infer QM }
  ? { start: (state: unknown, input: SI, fx: unknown) => Effect<{ status: "started" }> } & Pick<CM, Declared<CM>> & Pick<QM, Declared<QM>>
  : D extends { commands: infer CM; queries: infer QM }
    ? Pick<CM, Declared<CM>> & Pick<QM, Declared<QM>>
    : never;

/**
 * A typed caller for one handler: input and reply types come from the definition. `O` is the
 * options a call takes (the HTTP client adds its own to `CallOptions`).
 */
export type Caller<H, O = CallOptions> = H extends (state: any, input: infer I, fx: any) => infer E
  ? {} extends I
    ? (input?: I, options?: O) => Promise<ReplyOf<E>>
    : (input: I, options?: O) => Promise<ReplyOf<E>>
  : never;

/** The commands and queries of one instance, as methods (in process and over HTTP alike). */
export type InstanceClient<D, O = CallOptions> = { [K in keyof HandlersOf<D>]: Caller<HandlersOf<D>[K], O> };

/** A call written down to be made later (by a timer). */
export interface DeferredCall {
  readonly component: string;
  readonly id: string;
  readonly handler: string;
  readonly input: unknown;
}

type Deferrer<H> = H extends (state: any, input: infer I, fx: any) => any
  ? {} extends I
    ? (input?: I) => DeferredCall
    : (input: I) => DeferredCall
  : never;

export type DeferredClient<D> = { [K in keyof HandlersOf<D>]: Deferrer<HandlersOf<D>[K]> };

/** Durable timers, as steps, consumers and services see them. */
export interface Timers {
  /**
   * After `delayMs`, makes `call` (at least once; the target changes once, thanks to the key
   * `timer:{name}:{generation}`). Starting a name that exists replaces that timer.
   */
  start(name: string, delayMs: number, call: DeferredCall): Promise<void>;
  /** Removes the timer; nothing happens if there is none. */
  cancel(name: string): Promise<void>;
}
