import { StoreUnavailableError } from "../define/errors.ts";
import type { InstanceWrite, Store, WriteOutcome } from "../store/port.ts";
import type { GroupCommitter } from "./group-commit.ts";
import { UnstorableValueError } from "../store/unstorable-value.ts";

/** How long a write answered `locked` is tried again when the store does not say (see Store.lockTimeoutMs). */
const DEFAULT_LOCK_WAIT_MS = 2_000;

/**
 * Submits `write`, sending it again while the store answers `locked` (a session outside Sagaflow
 * holds a row lock it needs: the store does not wait for it, so the node's other commits go on),
 * after growing pauses, for at most the store's `lockTimeoutMs`; then fails with
 * StoreUnavailableError `lock_timeout` (503, try again), keeping nothing. `what` names the
 * instance in that error, and in an UnstorableValueError (a value of the write JSON cannot hold).
 */
export async function submitUnlocked(deps: { committer: GroupCommitter; store: Store }, write: InstanceWrite, what: string): Promise<WriteOutcome> {
  const deadline = Date.now() + (deps.store.lockTimeoutMs ?? DEFAULT_LOCK_WAIT_MS);
  for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
    const result = await deps.committer.submit(write).catch((error: unknown) => {
      if (!(error instanceof UnstorableValueError)) throw error;
      const whose = write.together ? `${what} or an instance whose write commits with it` : what;
      throw new UnstorableValueError(`nothing was kept: ${whose} made ${error.message.replace(/^a value to store/, "a value that")}`, { cause: error.cause });
    });
    if (result.ok || result.reason !== "locked") return result;
    const left = deadline - Date.now();
    if (left <= 0) throw new StoreUnavailableError("lock_timeout", `${what} is locked by another database session; try again`, { retryAfterSeconds: 1 });
    await new Promise<void>((done) => setTimeout(done, Math.min(pause, left)));
  }
}
