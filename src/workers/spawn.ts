// Starts one of Signet's worker threads. Compiled (dist/), a worker is the .js file beside its module.
// Run from source (tests, `npm run bench` under tsx) it is TypeScript, and Node 20 applies no loader
// hooks inside worker threads, so it is bundled once to plain JavaScript with esbuild (installed with
// tsx and vitest), packages left as imports, into node_modules/.cache so that those imports resolve.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

const bundled = new Map<string, URL>();

/** `moduleUrl` is the worker module's URL without extension, e.g. new URL("./x", import.meta.url). */
export function spawnWorker(moduleUrl: URL, fromSource: boolean): Worker {
  if (!fromSource) return new Worker(new URL(`${moduleUrl.href}.js`));
  let url = bundled.get(moduleUrl.href);
  if (!url) {
    const entry = fileURLToPath(`${moduleUrl.href}.ts`);
    const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
    const esbuild = createRequire(import.meta.url)("esbuild") as {
      buildSync(o: Record<string, unknown>): { outputFiles: Array<{ text: string }> };
    };
    const code = esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      packages: "external",
      format: "esm",
      platform: "node",
      target: "node20",
      write: false,
      logLevel: "silent",
    }).outputFiles[0]!.text;
    // Named by content, so runs share one file per version of the worker; written atomically.
    const name = `${entry.split("/").pop()!.replace(/\.ts$/, "")}-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`;
    const out = join(root, "node_modules", ".cache", "signet-workers", name);
    if (!existsSync(out)) {
      mkdirSync(dirname(out), { recursive: true });
      const tmp = `${out}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, out);
    }
    url = pathToFileURL(out);
    bundled.set(moduleUrl.href, url);
  }
  return new Worker(url);
}
