import { isClientKey } from "../ids.ts";
import { journalComponent } from "../workflow/journal.ts";

/**
 * Who may send an idempotency key again. The runtime's own keys say where they come from
 * (see KeyedCaller): `wf:{workflow}:{id}:{execution}:{n}`, `consumer:{consumer}:{position}:{n}`,
 * `topic:{topic consumer}:{idempotency key}:{n}`, `timer:{name}:{createdAt}:{generation}:{n}`.
 * Component names hold no ":"; instance ids, idempotency keys and timer names may, so those are
 * read from both ends. A refusal decided again after an operator's retry is recorded under the
 * key with `~1`, `~2`… after it (see refusalSuccessor): the same owner. Anything else is a client's key.
 */
export type KeyOwner =
  | { kind: "workflow"; name: string; id: string }
  | { kind: "consumer"; name: string; position: number }
  | { kind: "timer"; name: string; generation: number }
  | { kind: "topic"; name: string; idempotencyKey: string }
  | { kind: "client" };

const whole = (text: string | undefined) => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined);

export function ownerOfKey(sent: string): KeyOwner {
  // Every runtime key ends in a call number: a "~n" after it is a successor's.
  const key = isClientKey(sent) ? sent : sent.replace(/(:\d+)~\d+$/, "$1");
  if (key.startsWith("wf:")) {
    const parts = key.slice(3).split(":");
    if (parts.length >= 4 && whole(parts.at(-1)) !== undefined && whole(parts.at(-2)) !== undefined) {
      return { kind: "workflow", name: parts[0]!, id: parts.slice(1, -2).join(":") };
    }
  } else if (key.startsWith("consumer:")) {
    const parts = key.slice(9).split(":");
    const position = whole(parts[1]);
    if (parts.length === 3 && position !== undefined && whole(parts[2]) !== undefined) return { kind: "consumer", name: parts[0]!, position };
  } else if (key.startsWith("topic:")) {
    const parts = key.slice(6).split(":");
    if (parts.length >= 3 && whole(parts.at(-1)) !== undefined) return { kind: "topic", name: parts[0]!, idempotencyKey: parts.slice(1, -1).join(":") };
  } else if (key.startsWith("timer:")) {
    const parts = key.slice(6).split(":");
    const generation = whole(parts.at(-2));
    if (parts.length >= 4 && generation !== undefined && whole(parts.at(-1)) !== undefined && whole(parts.at(-3)) !== undefined) {
      return { kind: "timer", name: parts.slice(0, -3).join(":"), generation };
    }
  }
  return { kind: "client" };
}

/**
 * Who may need an idempotency record again. `ctx.run` results are records of the pseudo-component
 * `$journal` under the instance `{workflow}/{id}` (workflow names hold no "/"): the workflow owns
 * them, whatever their key, so a step it may still re-run finds its journaled result.
 */
export function ownerOfRecord(record: { component: string; id: string; key: string }): KeyOwner {
  if (record.component === journalComponent) {
    const slash = record.id.indexOf("/");
    if (slash > 0) return { kind: "workflow", name: record.id.slice(0, slash), id: record.id.slice(slash + 1) };
    return { kind: "client" };
  }
  return ownerOfKey(record.key);
}
