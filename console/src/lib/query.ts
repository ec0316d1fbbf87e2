/** Page filters ↔ URL query strings (for stable URLs) and admin API requests. Pure, so it is unit-tested. */

export interface WorkflowFilters {
  name?: string;
  /** Statuses, any of them. */
  status?: string[];
  step?: string;
  idPrefix?: string;
  /** The state's status (a saga's completed, compensated, rejected, …). */
  outcome?: string;
  /** ISO-ish local date-times from <input type="datetime-local">, or epoch ms. */
  createdAfter?: string;
  createdBefore?: string;
  after?: string;
  limit?: number;
}

export const workflowStatuses = ["running", "paused", "suspended", "ended", "failed", "terminated"] as const;

/** The filters as a query string: empty fields left out, statuses comma-separated, keys in a fixed order. */
export function filtersToQuery(filters: WorkflowFilters): string {
  const params = new URLSearchParams();
  const put = (key: string, value: string | undefined) => {
    if (value !== undefined && value.trim() !== "") params.set(key, value.trim());
  };
  put("name", filters.name);
  if (filters.status && filters.status.length > 0) params.set("status", filters.status.join(","));
  put("step", filters.step);
  put("idPrefix", filters.idPrefix);
  put("outcome", filters.outcome);
  put("createdAfter", filters.createdAfter);
  put("createdBefore", filters.createdBefore);
  put("after", filters.after);
  if (filters.limit !== undefined) params.set("limit", String(filters.limit));
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/** The filters a query string holds (the inverse of filtersToQuery); unknown statuses are dropped. */
export function queryToFilters(search: string): WorkflowFilters {
  const params = new URLSearchParams(search);
  const filters: WorkflowFilters = {};
  for (const key of ["name", "step", "idPrefix", "outcome", "createdAfter", "createdBefore", "after"] as const) {
    const value = params.get(key);
    if (value !== null && value !== "") filters[key] = value;
  }
  const status = params.get("status");
  if (status) {
    const known = status.split(",").filter((s) => (workflowStatuses as readonly string[]).includes(s));
    if (known.length > 0) filters.status = known;
  }
  const limit = Number(params.get("limit"));
  if (Number.isInteger(limit) && limit > 0) filters.limit = limit;
  return filters;
}

/** A date-time field's value ("2024-05-01T10:30", local time) as epoch ms for the admin API; undefined when empty or not a date. */
export function localTimeToEpoch(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const at = new Date(value).getTime();
  return Number.isNaN(at) ? undefined : at;
}

/** The admin API's `GET /workflows` query for these filters (times as epoch ms). */
export function filtersToApiQuery(filters: WorkflowFilters, limit: number): string {
  const createdAfter = localTimeToEpoch(filters.createdAfter);
  const createdBefore = localTimeToEpoch(filters.createdBefore);
  return filtersToQuery({
    ...filters,
    ...(createdAfter === undefined ? { createdAfter: "" } : { createdAfter: String(createdAfter) }),
    ...(createdBefore === undefined ? { createdBefore: "" } : { createdBefore: String(createdBefore) }),
    limit,
  });
}

/** Windows the process map offers, in ms. */
export const mapWindows: Record<string, number> = { "15m": 15 * 60_000, "1h": 3_600_000, "6h": 6 * 3_600_000, "24h": 86_400_000, "7d": 7 * 86_400_000 };
