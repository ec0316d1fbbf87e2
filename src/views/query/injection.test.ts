import { injectionSuite } from "./injection-suite.ts";
import { sqliteEngine } from "./test-engines.ts";

injectionSuite(async () => sqliteEngine());
