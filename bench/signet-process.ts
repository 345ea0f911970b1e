// A real Signet in its own process (`signet serve`, the compiled CLI), for benchmarks that must not
// share the driver's event loop: its ACME validator dials the driver's http-01 port and resolves
// names through the driver's DNS server.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/support/acme.js";
import { cpuSecondsOf } from "./pebble.js";

export interface SignetProcess {
  directoryUrl: string;
  /** The server's SIGNET_HOME (its admin token is admin.token there) and its plain-HTTP base URL. */
  home: string;
  httpUrl: string;
  caPem: string;
  pid: number;
  /** CPU the server has used so far (user + system), from /proc. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

export async function startSignetProcess(opts: { databaseUrl?: string; challengePort: number; dnsAddress: string; env?: Record<string, string>; nodeArgs?: string[] }): Promise<SignetProcess> {
  const bin = new URL("../bin/signet.js", import.meta.url).pathname;
  if (!existsSync(new URL("../dist/src/cli/run.js", import.meta.url))) throw new Error("Signet is not built: run `npm run build` first");
  const home = mkdtempSync(join(tmpdir(), "signet-bench-home-"));
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), bin, "serve"], {
    env: {
      ...process.env,
      SIGNET_HOME: home,
      SIGNET_HTTPS_PORT: String(httpsPort),
      SIGNET_HTTP_PORT: String(httpPort),
      SIGNET_LISTEN_HOST: "127.0.0.1",
      SIGNET_CA_PASSPHRASE: "bench passphrase, not a secret",
      SIGNET_LOG_LEVEL: "warn",
      SIGNET_ACME_HTTP01_PORT: String(opts.challengePort),
      SIGNET_ACME_RESOLVER: opts.dnsAddress,
      SIGNET_ACME_VALIDATION_ATTEMPTS: "1",
      ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
      ...opts.env,
    },
    stdio: ["ignore", "ignore", process.env.SIGNET_BENCH_STDERR ? "inherit" : "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const rootFile = join(home, "ca", "root.pem");
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`signet serve exited: ${stderr}`);
    if (i > 300) throw new Error(`signet serve did not come up in 60 s: ${stderr}`);
    if (existsSync(rootFile)) {
      const ok = await new Promise<boolean>((resolve) => {
        const req = get({ host: "127.0.0.1", port: httpsPort, path: "/readyz", ca: readFileSync(rootFile), servername: "localhost" }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        });
        req.on("error", () => resolve(false));
      });
      if (ok) break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    directoryUrl: `https://127.0.0.1:${httpsPort}/acme/acme/directory`,
    home,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    caPem: readFileSync(rootFile, "utf8"),
    pid: child.pid!,
    cpuSeconds: () => cpuSecondsOf(child.pid!),
    async close() {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(home, { recursive: true, force: true });
    },
  };
}
