/** The console's only way to the service: the admin API on this origin (so it inherits its access control). */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

const tokenKey = "sagaflow-admin-token";

/** An admin API refusal or a network failure, with the API's code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function adminToken(): string | null {
  return localStorage.getItem(tokenKey);
}

export function setAdminToken(token: string | null): void {
  if (token) localStorage.setItem(tokenKey, token);
  else localStorage.removeItem(tokenKey);
}

/** Whether the admin API refused the saved token (401) at its last answer; told to the header's token button. */
let tokenRefused = false;
const tokenListeners = new Set<() => void>();

function noteTokenAnswer(status: number): void {
  const refused = status === 401 && adminToken() !== null;
  if (refused === tokenRefused) return;
  tokenRefused = refused;
  for (const listener of tokenListeners) listener();
}

/** Whether the admin API refuses the saved token now: re-rendered when that changes. */
export function useTokenRefused(): boolean {
  const [, changed] = useState(0);
  useEffect(() => {
    const listener = () => changed((n) => n + 1);
    tokenListeners.add(listener);
    return () => void tokenListeners.delete(listener);
  }, []);
  return tokenRefused;
}

/** Calls the admin API; rejects with an ApiError carrying its `{"error":{"code","message"}}`. */
export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = adminToken();
  if (token) headers["authorization"] = `Bearer ${token}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { method: init.method ?? "GET", headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
  } catch (error) {
    throw new ApiError(0, "unreachable", `the admin API did not answer (${error instanceof Error ? error.message : String(error)})`);
  }
  noteTokenAnswer(response.status);
  const text = await response.text();
  let body: unknown;
  try {
    body = text === "" ? {} : JSON.parse(text);
  } catch {
    throw new ApiError(response.status, "not_json", `the admin API answered ${response.status} with something other than JSON`);
  }
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? `HTTP ${response.status}`);
  }
  return body as T;
}

export interface Polled<T> {
  data: T | undefined;
  error: ApiError | undefined;
  reload: () => void;
}

/** Reads `path` now and every `everyMs` (live pages); null path reads nothing. Keeps the last data while a read fails. */
export function usePoll<T>(path: string | null, everyMs = 1_500): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const current = useRef(path);
  current.current = path;
  useEffect(() => {
    setData(undefined);
    setError(undefined);
  }, [path]);
  useEffect(() => {
    if (path === null) return undefined;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      try {
        const value = await api<T>(path);
        if (!stopped && current.current === path) {
          setData(value);
          setError(undefined);
        }
      } catch (e) {
        if (!stopped) setError(e instanceof ApiError ? e : new ApiError(0, "error", String(e)));
      }
      // Hidden tabs poll slowly: an open console must not load the service for nothing.
      if (!stopped) timer = setTimeout(() => void read(), document.hidden ? everyMs * 10 : everyMs);
    };
    void read();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, [path, everyMs, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, reload };
}
