// Let's Encrypt's pebble (Debian package `pebble`) as the reference ACME server the benchmark
// compares Signet with: a temp config, its own listener certificate from openssl, names resolved
// to 127.0.0.1 by the test DNS server, the validator's sleep turned off (PEBBLE_VA_NOSLEEP=1).
//
// Debian's pebble 2.4.0 wedges under concurrent load, usually within seconds at 16 clients and up:
// a POST-as-GET of an authorization holds that authz's lock while it waits for the store's read
// lock, new-order holds the store's read lock while it read-locks every authorization (reuse
// lookup, even with PEBBLE_AUTHZREUSE=0), and any store write queued between them blocks both
// (goroutine dumps from SIGQUIT). Drive it with runAcmeLoad's separateNewOrderFromAuthz, which keeps
// those two requests from overlapping; a run that wedges anyway is reported as stalled. A fresh
// pebble per run also keeps that all-authorizations scan short.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/support/acme.js";
import { startTestDns } from "../test/support/dns-server.js";

export { freePort };

export interface PebbleOptions {
  /** Port pebble's validator dials for http-01 (the load driver answers there). */
  challengePort: number;
  /** host:port of a DNS server resolving every name to 127.0.0.1; a test DNS server is started when absent. */
  dnsServer?: string;
  /** Extra environment, e.g. { PEBBLE_WFE_NONCEREJECT: "5" } to exercise badNonce retries. */
  env?: Record<string, string>;
}

export interface Pebble {
  directoryUrl: string;
  /** Trust for pebble's HTTPS listener (its self-signed certificate). */
  caPem: string;
  pid: number;
  /** CPU pebble has used so far (user + system), from /proc. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

export function havePebble(): boolean {
  return spawnSync("pebble", ["-h"]).error === undefined;
}

/** CPU a process has used so far (user + system), from /proc. */
export function cpuSecondsOf(pid: number): number {
  try {
    // Fields after "(comm)": state is field 3, utime 14 and stime 15, in clock ticks (100 Hz on Linux).
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function directoryReady(url: string, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    get(url, { ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on("error", () => resolve(false));
  });
}

export async function startPebble(opts: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), "signet-bench-pebble-"));
  const dns = opts.dnsServer ? undefined : await startTestDns();
  const dnsServer = opts.dnsServer ?? `127.0.0.1:${dns!.port}`;
  try {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    const gen = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "7", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { encoding: "utf8" });
    if (gen.status !== 0) throw new Error(`openssl could not make pebble's listener certificate: ${gen.stderr}`);
    const caPem = readFileSync(cert, "utf8");

    let lastError = "";
    for (let attempt = 0; attempt < 3; attempt++) {
      const [port, mgmtPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
      const config = join(dir, "pebble-config.json");
      writeFileSync(
        config,
        JSON.stringify({
          pebble: {
            listenAddress: `127.0.0.1:${port}`,
            managementListenAddress: `127.0.0.1:${mgmtPort}`,
            certificate: cert,
            privateKey: key,
            httpPort: opts.challengePort,
            tlsPort,
            ocspResponderURL: "",
            externalAccountBindingRequired: false,
          },
        }),
      );
      // Pebble logs every request: to a file, so no pipe has to be drained by the driver's CPU.
      const logPath = join(dir, `pebble-${attempt}.log`);
      const logFd = openSync(logPath, "w");
      const child = spawn("pebble", ["-config", config, "-dnsserver", dnsServer], {
        cwd: dir,
        stdio: ["ignore", logFd, logFd],
        env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", PEBBLE_AUTHZREUSE: "0", ...opts.env },
      });
      closeSync(logFd);
      let exited = false;
      let spawnError = "";
      const exit = new Promise<void>((resolve) => {
        const done = (): void => {
          exited = true;
          resolve();
        };
        child.once("exit", done);
        // A missing binary emits "error" and never "exit".
        child.once("error", (e) => ((spawnError = e.message), done()));
      });
      const directoryUrl = `https://127.0.0.1:${port}/dir`;
      const until = Date.now() + 20_000;
      let ready = false;
      while (!exited && !ready && Date.now() < until) {
        ready = await directoryReady(directoryUrl, caPem);
        if (!ready) await new Promise((r) => setTimeout(r, 50));
      }
      if (ready && !exited && child.pid !== undefined) {
        const pid = child.pid;
        return {
          directoryUrl,
          caPem,
          pid,
          cpuSeconds: () => cpuSecondsOf(pid),
          close: async () => {
            if (!exited) {
              child.kill("SIGTERM");
              const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
              await exit;
              clearTimeout(timer);
            }
            await dns?.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      if (!exited) {
        child.kill("SIGKILL");
        await exit;
      }
      lastError = spawnError || readFileSync(logPath, "utf8").slice(-2000);
      if (spawnError) break;
    }
    throw new Error(`pebble did not start: ${lastError}`);
  } catch (e) {
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
