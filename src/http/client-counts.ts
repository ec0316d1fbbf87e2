/**
 * How many of something (connections, streamed queries) each client — a remote address — holds
 * open, so that one client cannot take what all share. Entries go when their count is back to 0.
 */
export class ClientCounts {
  private readonly counts = new Map<string, number>();

  of(client: string): number {
    return this.counts.get(client) ?? 0;
  }

  /** Counts one more for `client` until `closer` emits `close`. */
  holdUntilClosed(client: string, closer: { once(event: "close", listener: () => void): unknown }): void {
    this.counts.set(client, this.of(client) + 1);
    closer.once("close", () => {
      const left = this.of(client) - 1;
      if (left <= 0) this.counts.delete(client);
      else this.counts.set(client, left);
    });
  }
}
