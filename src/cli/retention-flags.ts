import type { RetentionSettings } from "../runtime/retention/retention-service.ts";

/**
 * `sagaflow serve`'s retention flags and their environment variables (a flag wins over its
 * variable). Periods are durations with a unit, `0` keeping forever where the setting allows it.
 */
export const retentionFlags = [
  { flag: "retain-feed", env: "SAGAFLOW_RETAIN_FEED", setting: "feedMs", zero: true },
  { flag: "retain-workflows", env: "SAGAFLOW_RETAIN_WORKFLOWS", setting: "workflowsMs", zero: true },
  { flag: "retain-idempotency", env: "SAGAFLOW_RETAIN_IDEMPOTENCY", setting: "idempotencyMs", zero: false },
  { flag: "retain-tombstones", env: "SAGAFLOW_RETAIN_TOMBSTONES", setting: "tombstonesMs", zero: true },
  { flag: "retention-interval", env: "SAGAFLOW_RETENTION_INTERVAL", setting: "intervalMs", zero: false },
] as const satisfies ReadonlyArray<{ flag: string; env: string; setting: keyof RetentionSettings; zero: boolean }>;

const units: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The retention settings the flags (else the environment) give; what neither gives keeps its default. */
export function retentionFromFlags(flags: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): Partial<RetentionSettings> {
  const settings: Partial<RetentionSettings> = {};
  for (const { flag, env: variable, setting, zero } of retentionFlags) {
    const fromEnv = env[variable] === "" ? undefined : env[variable];
    const value = flags.get(flag) ?? fromEnv;
    if (value === undefined) continue;
    const source = flags.has(flag) ? `--${flag}` : variable;
    settings[setting] = retentionDuration(source, value, zero);
  }
  return settings;
}

/** "7d", "12h", "30m", "90s", "500ms"; a bare number is days; "0" where `zero` (keep forever). */
export function retentionDuration(source: string, value: string, zero: boolean): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * units[match[2] ?? "d"]! : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0 || (ms === 0 && !zero)) {
    const range = zero ? "a duration (0 keeps forever)" : "a duration > 0";
    throw new Error(`${source} must be ${range} like 7d, 12h, 30m, 90s or 500ms (a bare number is days), not "${value}"`);
  }
  return ms;
}
