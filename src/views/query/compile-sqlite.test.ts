import { querySemantics } from "./query-semantics.ts";
import { sqliteEngine } from "./test-engines.ts";

querySemantics(async () => sqliteEngine());
