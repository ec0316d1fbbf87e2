/**
 * Calls from steps, consumers and timers name their target by definition, so a component the
 * service does not list is only found when it is called. Each such call fails (unknown_component);
 * this says why, loudly and once per component, instead of leaving a quiet 404 in a saga's
 * compensation or a parked message.
 */
export class UnlistedComponents {
  private readonly reported = new Set<string>();

  constructor(
    private readonly isListed: (name: string) => boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** Logs (the first time) when `name` is not among the service's components. */
  check(name: string, caller: string): void {
    if (this.isListed(name) || this.reported.has(name)) return;
    this.reported.add(name);
    this.log(
      `sagaflow: ERROR: ${caller} calls component "${name}", which the service does not list: ` +
        `every such call fails with unknown_component. Add ${name} to service("…", [...]).`,
    );
  }
}
