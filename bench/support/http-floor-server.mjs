// The stand-in of bench/transfers.ts' floor mode (plain JavaScript, started without a TypeScript
// loader, as lean as a server can be): it answers the transfers bench's requests at once, with
// no Sagaflow and no store behind them. A start (`POST /{workflow}/{id}/start`) reads and parses
// its JSON body and answers `{"status":"started"}`; a wait (`GET /{workflow}/{id}?wait=…`) answers
// the record of a completed transfer, the size of the real one; a balance answers 0. Prints its
// port on stdout.
import http from "node:http";

const started = new Map();

function answer(res, status, value) {
  const text = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    const [path] = (req.url ?? "/").split("?");
    const [, workflow, id, action] = path.split("/");
    if (req.method === "POST" && action === "start") {
      started.set(id, JSON.parse(body));
      return answer(res, 200, { status: "started" });
    }
    if (req.method === "GET" && action === "balance") return answer(res, 200, { balance: 0 });
    const input = started.get(id);
    if (req.method !== "GET" || action !== undefined || input === undefined) return answer(res, 404, { error: { code: "not_found", message: `no ${workflow} ${id}` } });
    started.delete(id);
    answer(res, 200, { id, status: "ended", step: "deposit", state: { ...input, status: "completed", completed: ["withdraw", "deposit"], compensated: [] } });
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
