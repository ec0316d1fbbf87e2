/** CORS rules of a service or an endpoint: types and the start-up check (no I/O). */

/** Which browser origins may call a service (or one endpoint) and how. */
export interface CorsConfig {
  /** Allowed origins exactly as browsers send them (`https://app.example.com`), or "*" for any origin. */
  readonly origins: readonly string[] | "*";
  /** Methods a cross-origin request may use (default GET, POST). */
  readonly methods?: readonly string[];
  /** Request headers it may send (default authorization, content-type, idempotency-key). */
  readonly headers?: readonly string[];
  /** Answer headers its script may read (default sagaflow-position, retry-after). */
  readonly exposeHeaders?: readonly string[];
  /** How long a browser may keep a preflight's answer, in seconds (default 600). */
  readonly maxAgeSeconds?: number;
  /** Whether cookies and HTTP auth go along (default false; not allowed with origins "*"). */
  readonly credentials?: boolean;
}

/** Checks a CORS configuration when the service is defined, so a mistake fails at start-up. */
export function checkCorsConfig(config: CorsConfig, where: string): void {
  if (config.origins !== "*") {
    if (!Array.isArray(config.origins)) throw new TypeError(`${where}: cors.origins must be "*" or a list of origins`);
    for (const origin of config.origins) {
      let url: URL | undefined;
      try {
        url = new URL(origin);
      } catch {
        url = undefined;
      }
      if (!url || url.origin !== origin) throw new TypeError(`${where}: cors origin "${origin}" is not an origin like https://app.example.com (scheme, host, port; no path)`);
    }
  }
  if (config.origins === "*" && config.credentials) throw new TypeError(`${where}: cors credentials cannot be allowed for every origin ("*"); list the origins`);
  if (config.maxAgeSeconds !== undefined && !(Number.isInteger(config.maxAgeSeconds) && config.maxAgeSeconds >= 0)) {
    throw new TypeError(`${where}: cors.maxAgeSeconds must be a whole number >= 0`);
  }
}
