// Running real third-party clients (certbot, lego...) from conformance tests: find the binary, skip
// cleanly when it is absent unless CI demands it (SIGNET_REQUIRE_PEERS=1), and run it with a hard
// timeout, keeping everything it printed for the assertion message.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export interface Peer {
  name: string;
  /** Absolute path, or null when it is not on PATH. */
  path: string | null;
  /** True when the suite should be skipped: absent, and SIGNET_REQUIRE_PEERS is not set. */
  skip: boolean;
  /** Throws when absent (only reached when SIGNET_REQUIRE_PEERS=1, since otherwise the suite is skipped). */
  require(): string;
}

export interface PeerRun {
  command: string;
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  ms: number;
}

const required = process.env.SIGNET_REQUIRE_PEERS === "1";

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Looks a client up on PATH; says once, on stderr, why its suite is skipped. */
export function findPeer(name: string, debianPackage = name): Peer {
  const path = onPath(name);
  const missing = `${name} is not installed (Debian package ${debianPackage})`;
  if (!path && !required) console.warn(`[signet tests] ${missing}: its conformance suite is skipped; SIGNET_REQUIRE_PEERS=1 makes this a failure (CI sets it)`);
  return {
    name,
    path,
    skip: !path && !required,
    require() {
      if (!path) throw new Error(`${missing}, and SIGNET_REQUIRE_PEERS=1 requires it`);
      return path;
    },
  };
}

/** Runs a client to completion (never longer than `timeoutMs`, then SIGKILL); never rejects. */
export function runPeer(file: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs: number }): Promise<PeerRun> {
  const started = Date.now();
  const command = [file, ...args].join(" ");
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: { ...process.env, ...opts.env }, cwd: opts.cwd, timeout: opts.timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string }) | null;
        resolve({
          command,
          code: e ? (typeof e.code === "number" ? e.code : null) : 0,
          signal: e?.signal ?? null,
          timedOut: Boolean(e?.killed && e.signal === "SIGKILL"),
          stdout,
          stderr: e && typeof e.code === "string" ? `${stderr}\n(${e.code}: ${e.message})` : stderr,
          ms: Date.now() - started,
        });
      },
    );
  });
}

/** Everything a failed run said, for an assertion message. */
export function describeRun(r: PeerRun): string {
  const status = r.timedOut ? `killed after ${r.ms} ms (timeout)` : r.signal ? `killed by ${r.signal}` : `exit ${r.code} after ${r.ms} ms`;
  return `$ ${r.command}\n${status}\n--- stdout ---\n${r.stdout.trimEnd()}\n--- stderr ---\n${r.stderr.trimEnd()}`;
}

/** `openssl ocsp` against Signet's responder; the status line for `certFile` ("good", "revoked"...), and the whole output. */
export async function opensslOcsp(opts: { url: string; issuerFile: string; certFile: string; rootFile: string }): Promise<{ status: string | null; out: string; run: PeerRun }> {
  const run = await runPeer("openssl", ["ocsp", "-issuer", opts.issuerFile, "-cert", opts.certFile, "-url", opts.url, "-CAfile", opts.rootFile], { timeoutMs: 20_000 });
  const out = `${run.stdout}${run.stderr}`;
  const line = out.split("\n").find((l) => l.startsWith(`${opts.certFile}: `));
  return { status: line ? line.slice(opts.certFile.length + 2).trim() : null, out, run };
}
