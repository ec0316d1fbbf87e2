#!/usr/bin/env node
// Registers tsx so services written in TypeScript run without a build step, then runs the CLI.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
