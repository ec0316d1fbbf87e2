/**
 * How this version's nodes share work, as a number said in every heartbeat. It goes up with a
 * change that makes two versions unsafe to run work side by side: leases split otherwise (one
 * `timers` lease became 16 buckets), or a step's calls keyed or recorded otherwise (a held write
 * committed with its move keeps no idempotency record, so an older node re-running that step
 * would call again). Nodes on an older protocol run the work alone until they are gone (see
 * Membership): a rolling upgrade hands the work over instead of mixing versions.
 *
 * 1: the first version saying it (nodes from before say nothing: 0).
 */
export const ENGINE_PROTOCOL = 1;

/** The protocol a node's heartbeat info says; 0 for a node from before protocols were said. */
export function protocolOf(info: Record<string, unknown>): number {
  const said = info["protocol"];
  return typeof said === "number" && Number.isSafeInteger(said) ? said : 0;
}
