import type { ServerResponse } from "node:http";

/** `GET /metrics`: the Prometheus text exposition, as the registry rendered it. */
export function sendMetrics(res: ServerResponse, metrics: { contentType: string; text: string }): void {
  res.writeHead(200, { "content-type": metrics.contentType, "content-length": Buffer.byteLength(metrics.text) });
  res.end(metrics.text);
}
