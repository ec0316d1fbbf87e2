import { connect } from "node:net";

/**
 * Raw HTTP/1.1 over one `node:net` connection, for what an HTTP client library would not send or
 * would hide: bytes as given, a half-close after the request, a chosen local address.
 */

export interface RawAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/** The whole answers in `text`, one after another, without interim (1xx) ones. */
export function answersIn(text: string): RawAnswer[] {
  const answers: RawAnswer[] = [];
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf("\r\n\r\n", at);
    if (headEnd < 0) return answers;
    const [statusLine = "", ...lines] = text.slice(at, headEnd).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    if (text.length < headEnd + 4 + length) return answers;
    if (status >= 200) answers.push({ status, headers, body: text.slice(headEnd + 4, headEnd + 4 + length) });
    at = headEnd + 4 + length;
  }
}

/** What came back on a connection: its first answer (status 0 when none came) and all of them. */
export interface Exchanged extends RawAnswer {
  answers: RawAnswer[];
  /** Everything read, as latin1 text (interim `100 Continue` lines included). */
  text: string;
  /** The connection's error code if it failed (ECONNRESET, EPIPE…). */
  error: string | undefined;
  /** The server had not closed the connection when the exchange gave up waiting. */
  timedOut: boolean;
}

export function exchanged(text: string, error: string | undefined, timedOut: boolean): Exchanged {
  const answers = answersIn(text);
  return { ...(answers[0] ?? { status: 0, headers: {}, body: "" }), answers, text, error, timedOut };
}

export interface ExchangeOptions {
  /** Half-close (FIN) once the bytes are written, as `socket.end(bytes)`. */
  halfClose?: boolean;
  localAddress?: string;
  /** The connection is destroyed after this long if the server has not closed it (default 5 s). */
  timeoutMs?: number;
}

/** Writes `bytes` on a new connection and reads until the server closes it (or the timeout). */
export function exchange(port: number, bytes: string | Buffer, options: ExchangeOptions = {}): Promise<Exchanged> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let timedOut = false;
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(exchanged(Buffer.concat(chunks).toString("latin1"), error, timedOut));
    });
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, options.timeoutMs ?? 5_000);
    if (options.halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}
