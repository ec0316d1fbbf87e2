import { viewStoreContract } from "../view-store-contract.ts";
import { SqliteStore } from "./sqlite-store.ts";

viewStoreContract("sqlite", async () => new SqliteStore({ path: ":memory:", synchronous: "OFF" }));
