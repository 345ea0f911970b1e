// The proxy's own work per request, without sockets: the request path of InferenceProxy (HTTP parsing,
// route, caller, checks, policy, limits, the upstream exchange, the answer, audit, metrics) driven
// in-process, one request after another, with the upstream and the client's socket replaced by
// objects that answer at once. What it prints is the proxy's CPU per request above the cost of TLS
// and the kernel, which the load benchmark (bench/proxy.ts) measures with real sockets; it is steady
// where the load benchmark, with driver, upstream and proxy sharing two cores, is not.
// `node --import tsx bench/proxy-path.ts` (BENCH_PATH_REQUESTS per round, default 100,000; three rounds, the least reported).
import { execFileSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { InferenceAudit } from "../src/proxy/audit.js";
import { ProxyPolicy } from "../src/proxy/authz.js";
import { parseProxyConfig } from "../src/proxy/config.js";
import { Http1Client, UpstreamReply } from "../src/proxy/http1-client.js";
import { MemoryLimiter } from "../src/proxy/limits.js";
import { ProxyMetrics } from "../src/proxy/metrics.js";
import { InferenceProxy } from "../src/proxy/server.js";

export async function benchProxyPath(requests: number): Promise<{ requests: number; cpuUsPerRequest: number; wallUsPerRequest: number }> {
  const dir = mkdtempSync(join(tmpdir(), "signet-proxy-path-"));
  let restore: typeof Http1Client.prototype.request | null = null;
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem"), "-subj", "/CN=bench-client", "-days", "1", "-addext", "subjectAltName=URI:spiffe://signet.internal/bench/client"], { stdio: "ignore" });
    const key = readFileSync(join(dir, "k.pem"), "utf8");
    const cert = readFileSync(join(dir, "c.pem"), "utf8");
    const config = parseProxyConfig(
      {
        upstreams: { bench: { targets: ["http://127.0.0.1:9"], connections: 128 } },
        routes: [{ name: "bench", pathPrefix: "/v1/", upstream: "bench" }],
        auditFile: join(dir, "inference.log"),
      },
      { home: dir, httpsPort: 8443, httpPort: 8080, proxyPort: 0, env: {} },
    );
    const answer = Buffer.from(
      JSON.stringify({ id: "chatcmpl-1", object: "chat.completion", created: 1, model: "echo-1", choices: [{ index: 0, message: { role: "assistant", content: "bench: benchmark prompt of a few words" }, finish_reason: "stop" }], usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 } }),
    );
    // The upstream: an answer as soon as it is asked.
    const conn = { socket: { pause() {}, resume() {} }, cancel() {} };
    restore = Http1Client.prototype.request;
    Http1Client.prototype.request = function () {
      const r = new UpstreamReply(200, { "content-type": "application/json", "content-length": String(answer.length) }, conn as never);
      r.push(answer);
      r.finish(null);
      return Promise.resolve(r);
    };
    const audit = new InferenceAudit(config.auditFile);
    const policy = ProxyPolicy.compile('@id("callers")\npermit (principal, action, resource) when { context.auth == "mtls" };');
    const proxy = new InferenceProxy({ config, log: pino({ level: "silent" }), limiter: new MemoryLimiter(), audit, metrics: new ProxyMetrics(), policy: () => policy, tls: { key, cert, ca: cert } });
    // The client's socket: a verified certificate, writes counted.
    const x509 = new X509Certificate(cert);
    let answered: (() => void) | null = null;
    let status = "";
    const socket = Object.assign(new EventEmitter(), {
      authorized: true,
      remoteAddress: "127.0.0.1",
      getPeerX509Certificate: () => x509,
      setNoDelay() {},
      setTimeout() {},
      write: (chunk: Buffer | string) => {
        // An answer is written in one piece.
        const head = typeof chunk === "string" ? chunk.slice(0, 12) : chunk.toString("latin1", 0, 12);
        if (head.startsWith("HTTP/1.1 ")) {
          status = head.slice(9, 12);
          answered?.();
        }
        return true;
      },
      end() {},
      destroy() {},
      pause() {},
      resume() {},
    });
    proxy.server.emit("secureConnection", socket);
    const body = JSON.stringify({ model: "echo-1", messages: [{ role: "user", content: "benchmark prompt of a few words" }], max_tokens: 16 });
    const request = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:9443\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const one = () =>
      new Promise<void>((resolve) => {
        answered = resolve;
        socket.emit("data", request);
      });
    // Between batches the event loop turns (timers, the audit file's writes), as between a busy
    // proxy's network reads.
    const batch = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await one();
        if (i % 64 === 63) await new Promise((r) => setImmediate(r));
      }
    };
    await batch(20_000);
    if (status !== "200") throw new Error(`the proxy answered ${status}, not 200`);
    // Three rounds; the least is reported (what the code costs, with the least interference).
    let best = { cpu: Infinity, wall: Infinity };
    for (let round = 0; round < 3; round++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await batch(requests);
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (cpu.user + cpu.system < best.cpu) best = { cpu: cpu.user + cpu.system, wall };
    }
    await audit.close();
    return { requests, cpuUsPerRequest: +(best.cpu / requests).toFixed(1), wallUsPerRequest: +((best.wall * 1000) / requests).toFixed(1) };
  } finally {
    if (restore) Http1Client.prototype.request = restore;
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchProxyPath(Number(process.env.BENCH_PATH_REQUESTS ?? 100_000));
  console.log(`proxy request path without sockets: ${r.cpuUsPerRequest} µs CPU per request (${r.wallUsPerRequest} µs wall), ${r.requests} requests`);
  process.exit(0);
}
