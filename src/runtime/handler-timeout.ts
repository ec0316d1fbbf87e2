import { isNotTheWorksFault, SagaflowError } from "../define/errors.ts";
import type { MessagePublisher } from "./topics/message-publisher.ts";

/** How long a consumer's or topic consumer's handler may run, when its definition does not say: above PostgreSQL's statement timeout (30 s), so a slow store fails a call first. */
export const defaultHandlerTimeoutMs = 60_000;

/**
 * Runs one attempt of a handler. Not settled after `timeoutMs`, it is given up on: `abandon` stops
 * what it would still do (its later calls are refused), and the attempt fails with
 * `handler_timeout`, as a step's does with `step_timeout`: a hung handler then neither holds its
 * key nor a shutdown for ever, and ends parked like any handler that keeps failing.
 */
export async function runWithHandlerTimeout(timeoutMs: number, what: string, abandon: () => void, run: () => Promise<void> | void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  // Real time, not the engine's clock: it guards against real hangs, and a test that moves virtual
  // time by days must not time out a handler waiting for real work. Not unref'd: a stop may be
  // waiting for nothing else.
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      abandon();
      reject(new SagaflowError("handler_timeout", `${what} did not finish within ${timeoutMs} ms`, { status: 504, retryable: true }));
    }, timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(run), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Not the handler's failure, so no attempt is used and nothing is parked for it: the store out of
 * reach, data newer than this node's code, or a handler that timed out while `ctx.publish` waited
 * for a broker away.
 */
export function isOutage(error: unknown, publisher: MessagePublisher | undefined): boolean {
  if (isNotTheWorksFault(error)) return true;
  return error instanceof SagaflowError && error.code === "handler_timeout" && publisher?.brokerAway === true;
}
