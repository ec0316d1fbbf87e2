/**
 * The server side of the views bench's streamed case: the shop example with `serve()` in its own
 * process (so that its RSS is its own), forked by bench/views-streamed.ts with an IPC channel.
 *
 * Arguments: `<data dir> <FULL|NORMAL|OFF>`. IPC: sends {type:"ready", url}; on {type:"close"}
 * closes the service and exits.
 */
import { serve } from "../src/cli/serve.ts";
import shop from "../examples/shop/index.ts";

const [dataDir, sync] = process.argv.slice(2);
if (!dataDir || !process.send) {
  console.error("usage: forked by bench/views-streamed.ts with a data dir");
  process.exit(2);
}
const running = await serve({
  service: shop,
  port: 0,
  adminPort: -1,
  dataDir,
  synchronous: (sync ?? "FULL") as "FULL" | "NORMAL" | "OFF",
  log: (line) => console.error(line),
});
process.send({ type: "ready", url: running.url });
process.on("message", (message: { type?: string }) => {
  if (message.type !== "close") return;
  running.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`bench server: close failed: ${String(error)}`);
      process.exit(1);
    },
  );
});
process.on("disconnect", () => process.exit(0));
