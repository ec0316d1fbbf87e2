import type { ServerResponse } from "node:http";
import { errors, SagaflowError } from "../define/errors.ts";
import type { WaitCancel } from "../runtime/workflow/end-waiters.ts";

/**
 * The HTTP side of a stop. Each answer that waits on something of its own (a long poll, an
 * endpoint handler) has a signal, aborted when its caller goes away or when the server serving it
 * stops: a stop cannot wait for a 60 s poll, nor a handler that never ends, so it tells them to
 * finish now and gives the rest a bounded time (`SAGAFLOW_SHUTDOWN_DRAIN_MS`).
 */

const controllers = new WeakMap<ServerResponse, AbortController>();
/** The cancel of the wait an answer holds (a long poll), called by a stop. */
const waits = new WeakMap<ServerResponse, (reason: Error) => void>();
/** Answers told to finish by a stop (rather than by their caller leaving). */
const stopped = new WeakSet<ServerResponse>();
/** Responses that are open event streams: they never end by themselves, so a stop ends them. */
const eventStreams = new WeakSet<ServerResponse>();

/**
 * Whether the caller has half-closed its connection (FIN: it sends nothing more). It may still
 * read its answer (RFC 9112, 9.6), or be gone altogether: TCP does not tell which. An answer that
 * waits only for its caller (a long poll, an event stream) finishes now rather than hold on.
 */
export function callerHalfClosed(res: ServerResponse): boolean {
  return res.req.socket.readableEnded;
}

/** Calls `then` once the caller half-closes (at once if it has); returns what stops listening. */
function onHalfClose(res: ServerResponse, then: () => void): () => void {
  const socket = res.req.socket;
  if (socket.readableEnded) {
    then();
    return () => {};
  }
  socket.once("end", then);
  return () => socket.off("end", then);
}

/**
 * Marks `res` (its headers sent) as an event stream: ended by a stop (one that came while its
 * first result was read too), or when its caller half-closes.
 */
export function openEventStream(res: ServerResponse): void {
  eventStreams.add(res);
  if (stopped.has(res)) return void res.end();
  res.once("close", onHalfClose(res, () => res.end()));
}

function controllerOf(res: ServerResponse): AbortController {
  let controller = controllers.get(res);
  if (!controller) {
    const made = (controller = new AbortController());
    controllers.set(res, made);
    if (res.destroyed) made.abort();
    else {
      // What waits on the signal stops when the caller half-closes too; an answer is still sent.
      const stopOnHalfClose = onHalfClose(res, () => made.abort(callerDone()));
      res.once("close", () => {
        stopOnHalfClose();
        made.abort();
      });
    }
  }
  return controller;
}

/**
 * Aborted when the caller goes away or half-closes, or (reason: `shutting_down`) when the server
 * serving `res` stops.
 */
export function answerSignal(res: ServerResponse): AbortSignal {
  return controllerOf(res).signal;
}

/**
 * The wait of a long poll answering `res`: cancelled when its caller goes away or half-closes, or
 * (reason: `shutting_down`) when the server stops. Listens on `res` as an EventEmitter, not
 * through an AbortSignal, whose listeners cost microseconds on every poll (see WaitCancel).
 */
export function answerWait(res: ServerResponse): WaitCancel {
  const wait: { reason: Error | undefined; onCancel(cancelled: () => void): () => void } = {
    reason: res.destroyed ? callerLeft() : stopped.has(res) ? errors.stopped() : callerHalfClosed(res) ? callerDone() : undefined,
    onCancel(cancelled: () => void): () => void {
      const cancel = (reason: Error) => {
        stopListening();
        wait.reason ??= reason;
        cancelled();
      };
      const onClose = () => cancel(callerLeft());
      let stopOnHalfClose = () => {};
      const stopListening = () => {
        res.off("close", onClose);
        stopOnHalfClose();
        waits.delete(res);
      };
      res.once("close", onClose);
      waits.set(res, cancel);
      stopOnHalfClose = onHalfClose(res, () => cancel(callerDone()));
      return stopListening;
    },
  };
  return wait;
}

function callerLeft(): Error {
  return new SagaflowError("client_closed", "the caller closed the connection before its wait ended");
}

function callerDone(): Error {
  return new SagaflowError("client_closed", "the caller half-closed the connection: its wait is answered now");
}

/**
 * What an endpoint handler's failure means once its signal was aborted (not by a stop): when it
 * is the abort itself (an `AbortError`, or the signal's reason thrown back), the caller went away
 * or half-closed and the handler gave up on it — `client_closed`, not an internal error.
 */
export function abandonedByCaller(res: ServerResponse, signal: AbortSignal, error: unknown): SagaflowError | undefined {
  if (!signal.aborted || stopped.has(res)) return undefined;
  const isAbort = error === signal.reason || (error instanceof Error && error.name === "AbortError");
  if (!isAbort) return undefined;
  const how = res.destroyed ? "closed the connection" : "half-closed the connection";
  return new SagaflowError("client_closed", `the caller ${how}, and the endpoint's handler stopped on its signal`);
}

/** Whether a stop told this answer to finish now (its caller may still be there to get it). */
export function toldToStop(res: ServerResponse): boolean {
  return stopped.has(res);
}

/**
 * Tells answers in flight that the server stops: no keep-alive after them, their signals aborted
 * (long polls are answered at once, endpoint handlers see it), event streams ended.
 */
export function stopAnswers(responses: Iterable<ServerResponse>): void {
  for (const res of responses) {
    if (!res.headersSent) res.setHeader("connection", "close");
    stopped.add(res);
    waits.get(res)?.(errors.stopped());
    controllerOf(res).abort(errors.stopped());
    if (eventStreams.has(res)) res.end();
  }
}

/** Default drain bound: inside Kubernetes' 30 s grace period, with room left for the runtime's own stop. */
const defaultDrainMs = 10_000;

/** How long a stop waits for answers in flight before closing their connections: SAGAFLOW_SHUTDOWN_DRAIN_MS, default 10 s. */
export function shutdownDrainMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env["SAGAFLOW_SHUTDOWN_DRAIN_MS"];
  if (raw === undefined || raw === "") return defaultDrainMs;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`SAGAFLOW_SHUTDOWN_DRAIN_MS must be a whole number ≥ 0, not "${raw}"`);
  return value;
}

/** Resolves once every answer open now has closed; past `boundMs`, destroys those left (and resolves). */
export async function drainAnswers(open: ReadonlySet<ServerResponse>, boundMs: number): Promise<void> {
  const pending = [...open].filter((res) => !res.destroyed);
  if (pending.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((done) => (timer = setTimeout(() => done(true), boundMs)));
  const closed = Promise.all(pending.map((res) => new Promise<void>((done) => res.once("close", () => done())))).then(() => false);
  const cut = await Promise.race([closed, late]);
  clearTimeout(timer);
  if (cut) for (const res of pending) res.destroy();
}
