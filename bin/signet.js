#!/usr/bin/env node
// The `signet` command: runs the compiled CLI (npm install builds it into dist/).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const compiled = new URL("../dist/src/cli/run.js", import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write("signet: not built yet; run `npm install` (or `npm run build`) first\n");
  process.exit(1);
}
await import(compiled.href);
