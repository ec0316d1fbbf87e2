// The worker thread of bench/http-offload.ts (plain JavaScript: a worker does not inherit the
// parent's TypeScript loader): an HTTP server that hands each request to the parent thread by
// postMessage and answers with the reply the parent sends back.
import http from "node:http";
import { parentPort } from "node:worker_threads";

const waiting = new Map();
let next = 0;
parentPort.on("message", (m) => {
  const res = waiting.get(m.id);
  waiting.delete(m.id);
  res.writeHead(200, { "content-type": "application/json" }).end(m.reply);
});
const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const id = next++;
    waiting.set(id, res);
    parentPort.postMessage({ id, url: req.url ?? "/", body });
  });
});
server.listen(0, "127.0.0.1", () => parentPort.postMessage({ port: server.address().port }));
