/**
 * `sagaflow/client`: call a running Sagaflow service from another program, over HTTP, with types
 * taken from the service's definitions. Nothing here opens a database or starts a runtime; the
 * only I/O is `fetch`.
 *
 * @example
 * import { httpClient, SagaflowError } from "sagaflow/client";
 * import { wallet } from "../bank/wallet.ts";
 *
 * const api = httpClient("http://127.0.0.1:3000");
 * try {
 *   await api.call(wallet, "alice").withdraw({ amount: 500 });
 * } catch (error) {
 *   if (error instanceof SagaflowError && error.code === "insufficient_funds") console.log("refused");
 * }
 *
 * @module sagaflow/client
 */
export { httpClient } from "./http-client.ts";
export type {
  HttpClient,
  HttpClientOptions,
  HttpCallOptions,
  HttpInstanceClient,
  HttpWorkflowClient,
  HttpViewClient,
  ViewQueryName,
  ViewQueryOptions,
  ViewQueryResult,
} from "./http-client.ts";
export type { HeadersSource } from "./http-transport.ts";
export type { RetryTiming } from "./retry-delay.ts";
export { SagaflowError, isRefusal } from "../define/errors.ts";
export type { CallOptions } from "../define/handlers.ts";
export type { WorkflowView, WorkflowStatus } from "../define/workflow.ts";
