import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AdminFacade } from "../runtime/facades.ts";
import type { RebuildFrom } from "../runtime/views/view-runner.ts";
import { isCode } from "../runtime/test-support.ts";
import { viewsRoute } from "./admin-feed.ts";

/** `POST /views/{name}/rebuild` passes where to rebuild from; anything else than feed or current is refused before the admin is asked. */
describe("admin route: view rebuild", () => {
  function admin() {
    const asked: Array<[string, RebuildFrom | undefined]> = [];
    const facade = {
      rebuildView: async (name: string, from?: RebuildFrom) => {
        asked.push([name, from]);
        return { generation: 2, version: 1, offset: 0 };
      },
    } as Partial<AdminFacade> as AdminFacade;
    return { facade, asked };
  }

  it("rebuild-is-from-the-feed-unless-from-current-is-asked", async () => {
    const { facade, asked } = admin();
    const route = (query: string) => viewsRoute(facade, "POST", ["views", "carts", "rebuild"], new URLSearchParams(query));
    assert.deepEqual(await route(""), { rebuilding: { generation: 2, version: 1, offset: 0 }, from: "feed" });
    assert.deepEqual(await route("from=current"), { rebuilding: { generation: 2, version: 1, offset: 0 }, from: "current" });
    assert.deepEqual(await route("from=feed"), { rebuilding: { generation: 2, version: 1, offset: 0 }, from: "feed" });
    assert.deepEqual(asked, [["carts", "feed"], ["carts", "current"], ["carts", "feed"]]);
    await assert.rejects(route("from=snapshot"), isCode("invalid_from", 400));
    await assert.rejects(route("from="), isCode("invalid_from", 400));
    assert.equal(asked.length, 3, "a bad value rebuilds nothing");
  });
});
