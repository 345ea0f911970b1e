// OCSP responder load and revocation latency, against a real `signet serve` (embedded database) in a
// child process, side by side with `openssl ocsp -index` answering for the same certificates with a
// responder certificate from the same CA. Load comes from wrk (Debian package wrk) over keep-alive
// connections, cycling through distinct requests, GET (base64 in the path) and POST.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildCsr, parseCertificate, subjectPublicKeyBytes, toPem } from "../ca/x509/index.js";
import { buildCertId, buildOcspRequest, parseOcspResponse } from "../ca/x509/ocsp.js";

export interface OcspLoadResult {
  server: string;
  method: "GET" | "POST";
  perSecond: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

export interface OcspBenchResult {
  certificates: number;
  load: OcspLoadResult[];
  revokeToOcspMs: { p50: number; max: number };
  revokeToFeedMs: { p50: number; max: number };
  rounds: number;
}

const ROOT = resolve(import.meta.dirname, "..");

export function haveWrk(): boolean {
  return spawnSync("wrk", ["--version"]).error === undefined;
}

export async function benchOcsp(opts: { certificates: number; seconds: number; connections: number; rounds: number }): Promise<OcspBenchResult> {
  const home = mkdtempSync(join(tmpdir(), "signet-bench-ocsp-"));
  // Below Linux's ephemeral range (32768+): the load runs leave thousands of client sockets in
  // TIME_WAIT on ephemeral ports, and openssl's responder cannot bind one of those.
  const httpsPort = 21000 + Math.floor(Math.random() * 2000);
  const httpPort = httpsPort + 3000;
  const opensslPort = httpsPort + 6000;
  const env = { ...process.env, SIGNET_HOME: home, SIGNET_HTTPS_PORT: String(httpsPort), SIGNET_HTTP_PORT: String(httpPort), SIGNET_LISTEN_HOST: "127.0.0.1", SIGNET_LOG_LEVEL: "warn" };
  const children: ChildProcess[] = [];
  try {
    const signet = spawn(process.execPath, [join(ROOT, "bin/signet.js"), "serve"], { env, stdio: ["ignore", "ignore", "pipe"] });
    children.push(signet);
    let signetErr = "";
    signet.stderr!.on("data", (c: Buffer) => (signetErr = (signetErr + c.toString()).slice(-4000)));
    await waitFor(() => get(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status === 200), 60_000).catch((e: unknown) => {
      throw new Error(`signet did not start: ${signetErr}`, { cause: e });
    });
    const token = readFileSync(join(home, "admin.token"), "utf8").trim();
    const rootPem = readFileSync(join(home, "ca/root.pem"), "utf8");
    const intPem = readFileSync(join(home, "ca/intermediate.pem"), "utf8");
    const api = (method: string, path: string, body?: unknown) => adminCall(httpsPort, rootPem, token, method, path, body);

    // The certificates both responders answer for; every tenth is revoked.
    const serials: string[] = [];
    for (let i = 0; i < opts.certificates; i++) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: `bench-${i}` }] }));
      const r = (await api("POST", "/admin/v1/certificates", { csr, lifetimeSeconds: 86400 })) as { certificate: { serial: string } };
      serials.push(r.certificate.serial);
      if (i % 10 === 9) await api("POST", `/admin/v1/certificates/${r.certificate.serial}/revoke`, { reason: "keyCompromise" });
    }

    // openssl's responder: a delegated responder certificate for a key it holds, and an index.
    const dir = mkdtempSync(join(tmpdir(), "signet-bench-openssl-"));
    const rk = generateKeyPairSync("ec", { namedCurve: "P-256" });
    writeFileSync(join(dir, "rkey.pem"), rk.privateKey.export({ type: "pkcs8", format: "pem" }));
    const rcsr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey: rk.privateKey, publicKey: rk.publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "openssl responder" }] }));
    const rc = (await api("POST", "/admin/v1/certificates", { csr: rcsr, provisioner: "signet-system", profile: "ocsp-responder", lifetimeSeconds: 86400 })) as { pem: string };
    writeFileSync(join(dir, "rcert.pem"), rc.pem);
    writeFileSync(join(dir, "int.pem"), intPem);
    const expiry = new Date(Date.now() + 86_400_000).toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z";
    const now = new Date().toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z";
    writeFileSync(
      join(dir, "index.txt"),
      serials.map((s, i) => (i % 10 === 9 ? `R\t${expiry}\t${now},keyCompromise\t${s.toUpperCase()}\tunknown\t/CN=bench-${i}\n` : `V\t${expiry}\t\t${s.toUpperCase()}\tunknown\t/CN=bench-${i}\n`)).join(""),
    );
    const startOpenssl = async (port: number): Promise<{ child: ChildProcess; url: string }> => {
      const child = spawn(
        "openssl",
        ["ocsp", "-index", join(dir, "index.txt"), "-port", String(port), "-rsigner", join(dir, "rcert.pem"), "-rkey", join(dir, "rkey.pem"), "-CA", join(dir, "int.pem"), "-multi", "2", "-nmin", "60", "-timeout", "2"],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let err = "";
      for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
      child.on("exit", (code, signal) => (err += ` [openssl exited: ${code ?? signal}]`));
      children.push(child);
      await waitFor(() => postOcsp(`http://127.0.0.1:${port}/`, requests[0]!, true).then((b) => parseOcspResponse(b).responses?.[0]?.status.kind === "good"), 10_000).catch((e: unknown) => {
        const ss = spawnSync("ss", ["-ltnp"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.includes(String(port))).join("; ");
        throw new Error(`openssl ocsp did not answer on ${port}: ${err} [${child.spawnargs.join(" ")}] listening: ${ss}`, { cause: e });
      });
      return { child, url: `http://127.0.0.1:${port}` };
    };

    // Requests: one per certificate, SHA-1 CertIDs as RFC 5019 clients send, no nonce.
    const int = parseCertificate(intPem);
    const keyBytes = subjectPublicKeyBytes(int.spki);
    const requests = serials.map((s) => buildOcspRequest([buildCertId("sha1", int.subjectDer, keyBytes, s)]));
    const sample = await postOcsp(`http://127.0.0.1:${httpPort}/ocsp`, requests[9]!);
    if (parseOcspResponse(sample).responses?.[0]?.status.kind !== "revoked") throw new Error("Signet did not answer revoked for a revoked certificate");

    const script = wrkScript(dir, requests);
    const load: OcspLoadResult[] = [];
    // A fresh responder per method: after one wrk run its workers take no further runs. And only one
    // at a time: a `-multi` responder exits at once (status 1) while another one's workers live, so
    // the previous one is stopped and waited for first (OpenSSL 3.0.x).
    let opensslRuns = 0;
    for (const server of ["signet", "openssl ocsp"] as const) {
      for (const method of ["GET", "POST"] as const) {
        const prefix = server === "signet" ? "/ocsp" : "";
        // openssl's responder serves one request per connection (a keep-alive POST is answered only
        // when the client closes, and workers stay stuck on idle keep-alive sockets): it gets
        // Connection: close, so its figures include a TCP handshake per request.
        const close = server !== "signet";
        if (server === "signet") {
          const url = `http://127.0.0.1:${httpPort}`;
          wrk(url, script, method, prefix, { seconds: 2, connections: opts.connections }, close); // warm-up (JIT, cache)
          load.push({ server, method, ...wrk(url, script, method, prefix, opts, close) });
        } else {
          const responder = await startOpenssl(opensslPort + opensslRuns++);
          load.push({ server, method, ...wrk(responder.url, script, method, prefix, opts, close) });
          await stopAndWait(responder.child, dir);
        }
      }
    }

    // Revocation latency: from sending the revoke to OCSP answering revoked, and to the SSE feed delivering it.
    const toOcsp: number[] = [];
    const toFeed: number[] = [];
    for (let i = 0; i < opts.rounds; i++) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: `latency-${i}` }] }));
      const serial = ((await api("POST", "/admin/v1/certificates", { csr, lifetimeSeconds: 3600 })) as { certificate: { serial: string } }).certificate.serial;
      const req = buildOcspRequest([buildCertId("sha1", int.subjectDer, keyBytes, serial)]);
      await postOcsp(`http://127.0.0.1:${httpPort}/ocsp`, req); // cached as good first, as a relying party would have it
      const feed = feedWaiter(httpsPort, rootPem, token, serial);
      await feed.ready;
      const t0 = performance.now();
      const revoked = api("POST", `/admin/v1/certificates/${serial}/revoke`, { reason: "keyCompromise" });
      const feedAt = feed.arrived.then(() => performance.now() - t0);
      for (let n = 0; n < 10_000; n++) {
        const kind = parseOcspResponse(await postOcsp(`http://127.0.0.1:${httpPort}/ocsp`, req)).responses?.[0]?.status.kind;
        if (kind === "revoked") break;
      }
      toOcsp.push(performance.now() - t0);
      await revoked;
      toFeed.push(await feedAt);
      feed.close();
    }
    rmSync(dir, { recursive: true, force: true });
    return { certificates: opts.certificates, load, revokeToOcspMs: summary(toOcsp), revokeToFeedMs: summary(toFeed), rounds: opts.rounds };
  } finally {
    for (const c of children) stop(c);
    await new Promise((r) => setTimeout(r, 500));
    rmSync(home, { recursive: true, force: true });
  }
}

/** Stops an openssl responder and waits until none of its processes (found by `dir`) is left. */
async function stopAndWait(c: ChildProcess, dir: string): Promise<void> {
  stop(c);
  for (let i = 0; i < 100; i++) {
    if (spawnSync("pgrep", ["-f", `ocsp -index ${dir}`]).status !== 0) return;
    spawnSync("pkill", ["-KILL", "-f", `ocsp -index ${dir}`]);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stop(c: ChildProcess): void {
  // openssl's `-multi` workers outlive a signal to their parent: end them first.
  if (c.spawnargs[0] === "openssl" && c.pid && c.exitCode === null) spawnSync("pkill", ["-TERM", "-P", String(c.pid)]);
  c.kill("SIGTERM");
}

function summary(xs: number[]): { p50: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: Math.round(s[Math.floor(s.length / 2)]! * 10) / 10, max: Math.round(s[s.length - 1]! * 10) / 10 };
}

/** A wrk Lua script cycling through the requests, as GET paths or POST bodies (chosen by env). */
function wrkScript(dir: string, requests: Buffer[]): string {
  const lua = `
local paths = { ${requests.map((r) => `"/${encodeURIComponent(r.toString("base64"))}"`).join(", ")} }
local bodies = { ${requests.map((r) => `"${[...r].map((b) => `\\${b}`).join("")}"`).join(", ")} }
local method = os.getenv("OCSP_METHOD")
local prefix = os.getenv("OCSP_PREFIX") or ""
local headers = { ["Content-Type"] = "application/ocsp-request" }
local getHeaders = {}
if os.getenv("OCSP_CLOSE") == "1" then headers["Connection"] = "close"; getHeaders["Connection"] = "close" end
local i = 0
request = function()
  i = i % #paths + 1
  if method == "POST" then
    return wrk.format("POST", prefix == "" and "/" or prefix, headers, bodies[i])
  end
  return wrk.format("GET", prefix .. paths[i], getHeaders)
end
`;
  const file = join(dir, "ocsp.lua");
  writeFileSync(file, lua);
  return file;
}

function wrk(url: string, script: string, method: "GET" | "POST", prefix: string, opts: { seconds: number; connections: number }, close = false): Omit<OcspLoadResult, "server" | "method"> {
  const r = spawnSync("wrk", ["-t", "1", "-c", String(opts.connections), "-d", `${opts.seconds}s`, "--latency", "-s", script, url], {
    env: { ...process.env, OCSP_METHOD: method, OCSP_PREFIX: prefix, OCSP_CLOSE: close ? "1" : "0" },
    encoding: "utf8",
  });
  const out = r.stdout;
  if (process.env.BENCH_DEBUG) process.stderr.write(`wrk ${url} ${method} close=${close}:\n${out}${r.stderr}\n`);
  const ms = (label: string) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return Math.round((m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v) * 100) / 100;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (sockErr ? Number(sockErr[1]) + Number(sockErr[3]) + Number(sockErr[4]) : 0);
  return { perSecond: Math.round(rps), p50ms: ms("50%"), p99ms: ms("99%"), errors };
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let last: unknown = "the check kept failing";
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err; // not up yet
    }
    if (Date.now() > until) throw new Error("timed out waiting for the server", { cause: last });
    await new Promise((r) => setTimeout(r, 100));
  }
}

function get(url: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
    })
      .on("error", reject)
      .end();
  });
}

/** `close`: one request per connection (openssl's responder answers a keep-alive POST only at close). */
function postOcsp(url: string, body: Buffer, close = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const headers = { "content-type": "application/ocsp-request", "content-length": body.length, ...(close ? { connection: "close" } : {}) };
    const req = httpRequest(url, { method: "POST", headers, agent: close ? false : keepAlive, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve(Buffer.concat(chunks)));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });

function adminCall(port: number, ca: string, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpsRequest(
      { host: "127.0.0.1", port, path, method, ca, servername: "localhost", headers: { authorization: `Bearer ${token}`, ...(payload ? { "content-type": "application/json" } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 400) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
          else resolve(text ? JSON.parse(text) : null);
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Opens the SSE feed at its latest cursor; `arrived` resolves when `serial` is delivered. */
function feedWaiter(port: number, ca: string, token: string, serial: string): { ready: Promise<void>; arrived: Promise<void>; close(): void } {
  let close = () => undefined as void;
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const arrived = new Promise<void>((resolve, reject) => {
    const req = httpsRequest({ host: "127.0.0.1", port, path: "/revocations/stream?since=latest", ca, servername: "localhost", headers: { authorization: `Bearer ${token}` } }, (res) => {
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        if (buf.includes(": cursor")) onReady();
        if (buf.includes(serial)) resolve();
      });
    });
    req.on("error", reject);
    req.end();
    close = () => req.destroy();
  });
  arrived.catch(() => undefined);
  return { ready, arrived, close };
}
