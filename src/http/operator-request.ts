import type { IncomingMessage } from "node:http";
import { errors } from "../define/errors.ts";
import { readJsonBody } from "./body.ts";

/**
 * What an operator's action on a workflow says besides its name: `retry?undoneByHand=STEP` or
 * `retry?forward=true`, and nothing else. A body (but `{}`, which many clients send with every
 * POST), another parameter or a parameter twice is refused (400) before anything changes:
 * ignored, a retry meant as "undone by hand" would run the compensation again.
 */
export async function operatorOptions(url: URL, req: IncomingMessage, action: string): Promise<{ undoneByHand?: string; forward?: boolean }> {
  const route = `POST /workflows/{name}/{id}/${action}`;
  const unknown = [...url.searchParams.keys()].find((name) => name !== "undoneByHand" && name !== "forward");
  if (unknown !== undefined) throw errors.invalidInput(`${route} takes no parameter "${unknown}"; its only ones are undoneByHand and forward (with retry)`);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > 0 || req.headers["transfer-encoding"] !== undefined) {
    const body = await readJsonBody(req, 1_024).catch(() => undefined);
    if (!isEmptyObject(body)) throw errors.invalidInput(`${route} takes no body: undoneByHand and forward go in the query (?undoneByHand=STEP, ?forward=true)`);
  }
  const given = url.searchParams.getAll("undoneByHand");
  if (given.length > 1) throw errors.invalidInput(`undoneByHand is given ${given.length} times: name the one step the compensations stopped at`);
  const forward = url.searchParams.getAll("forward");
  if (forward.length > 1 || (forward.length === 1 && forward[0] !== "true")) {
    throw errors.invalidInput(`forward takes the one value true (retry?forward=true), not ${forward.map((v) => JSON.stringify(v)).join(", ")}`);
  }
  return { ...(given.length === 1 ? { undoneByHand: given[0]! } : {}), ...(forward.length === 1 ? { forward: true } : {}) };
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}
