import type { Server } from "node:http";
import { answerClientErrors } from "./client-errors.ts";
import { continueWhenBodyRead } from "./expect-continue.ts";
import { answerHeadRefusals } from "./request-head.ts";

/**
 * What every HTTP server of Sagaflow's (the service's and the admin API's) does where Node would
 * otherwise decide by itself, around the request listener. Call before the server listens.
 */
export function applyServerEdges(server: Server): void {
  // A client may half-close (FIN) once its request is sent and still wait for the answer (RFC
  // 9112, 9.6). Node's default ends the connection at the FIN, losing any answer not written by
  // then; with this it sends the answer in flight and closes after it (an idle connection is
  // closed at once, as before). http.Server's own switch, not in its typings.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  answerHeadRefusals(server);
  answerClientErrors(server);
  continueWhenBodyRead(server);
}
