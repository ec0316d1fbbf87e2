import type { IncomingMessage } from "node:http";
import { errors } from "../define/errors.ts";
import { readJsonBody } from "./body.ts";

/**
 * What an operator's action on a workflow says besides its name: `retry?undoneByHand=STEP`, and
 * nothing else. A body (but `{}`, which many clients send with every POST), another parameter or
 * the parameter twice is refused (400) before anything changes: ignored, a retry meant as "undone
 * by hand" would run the compensation again.
 */
export async function operatorOptions(url: URL, req: IncomingMessage, action: string): Promise<{ undoneByHand?: string }> {
  const route = `POST /workflows/{name}/{id}/${action}`;
  const unknown = [...url.searchParams.keys()].find((name) => name !== "undoneByHand");
  if (unknown !== undefined) throw errors.invalidInput(`${route} takes no parameter "${unknown}"; its only one is undoneByHand (with retry)`);
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > 0 || req.headers["transfer-encoding"] !== undefined) {
    const body = await readJsonBody(req, 1_024).catch(() => undefined);
    if (!isEmptyObject(body)) throw errors.invalidInput(`${route} takes no body: undoneByHand goes in the query (?undoneByHand=STEP)`);
  }
  const given = url.searchParams.getAll("undoneByHand");
  if (given.length > 1) throw errors.invalidInput(`undoneByHand is given ${given.length} times: name the one step the compensations stopped at`);
  return given.length === 1 ? { undoneByHand: given[0]! } : {};
}

function isEmptyObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
}
