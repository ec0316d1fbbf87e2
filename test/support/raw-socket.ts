import { connect } from "node:net";

/**
 * Raw HTTP/1.1 over one `node:net` connection, for what an HTTP client library would not send or
 * would hide: bytes as given, a half-close after the request, a chosen local address.
 */

export interface RawAnswer {
  /** 0 when no status line came. */
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
  /** Everything read, as latin1 text (several answers, interim `100 Continue` lines…). */
  text: string;
}

/** The first whole answer in `text` after any interim (1xx) ones; the status is 0 if none came. */
export function firstAnswer(text: string): RawAnswer {
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd < 0) return { status: 0, headers: {}, body: "", text };
    const [statusLine = "", ...lines] = text.slice(at, headEnd).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    if (status >= 100 && status < 200) {
      at = headEnd + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = headers["content-length"] === undefined ? undefined : Number(headers["content-length"]);
    const body = text.slice(headEnd + 4, length === undefined ? undefined : headEnd + 4 + length);
    return { status, headers, body, text };
  }
}

export interface ExchangeOptions {
  /** Half-close (FIN) once the bytes are written, as `socket.end(bytes)`. */
  halfClose?: boolean;
  localAddress?: string;
  /** The connection is destroyed after this long if the server has not closed it (default 5 s). */
  timeoutMs?: number;
}

/**
 * Writes `bytes` on a new connection and reads until the server closes it (or the timeout): what
 * came back, and the connection's error code if it failed (ECONNRESET, EPIPE…).
 */
export function exchange(port: number, bytes: string | Buffer, options: ExchangeOptions = {}): Promise<RawAnswer & { error: string | undefined; timedOut: boolean }> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let timedOut = false;
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ ...firstAnswer(Buffer.concat(chunks).toString("latin1")), error, timedOut });
    });
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, options.timeoutMs ?? 5_000);
    if (options.halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}
