// A Signet with an inference proxy in front of OpenAI-compatible stub upstreams, for the proxy's
// end-to-end tests and benchmarks: client certificates are issued by that Signet through its admin
// API, and the proxy follows it (revocations, access tokens, routes) exactly as in production.
import { mkdirSync, writeFileSync } from "node:fs";
import { Agent, type AgentOptions } from "node:https";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log.js";
import { parseProxyConfig, type ProxyConfig } from "../../src/proxy/config.js";
import { startDemoUpstream, type DemoUpstream } from "../../src/proxy/demo-upstream.js";
import { startProxy, type RunningProxy } from "../../src/proxy/main.js";
import { admin, freePort } from "./acme.js";
import { makeCsr } from "./csr.js";
import { fetchRaw, startTestServer, type HttpResult, type StartOptions, type TestServer } from "./server.js";

export interface ClientCert {
  cert: string;
  key: string;
  serial: string;
}

export interface ProxyBed {
  signet: TestServer;
  upstreams: DemoUpstream[];
  proxy: RunningProxy;
  config: ProxyConfig;
  url: string;
  auditFile: string;
  logs: string[];
  /** A client certificate from this Signet. */
  client(opts: { cn: string; roles?: string[]; spiffeId?: string }): Promise<ClientCert>;
  /** One request to the proxy (no connection reuse unless `agent` is given). */
  call(path: string, opts?: { cert?: ClientCert; token?: string; body?: unknown; raw?: string | Buffer; method?: string; headers?: Record<string, string>; agent?: Agent }): Promise<HttpResult>;
  agent(cert?: ClientCert, extra?: AgentOptions): Agent;
  close(): Promise<void>;
}

export async function startProxyBed(opts: { config: (upstreams: DemoUpstream[]) => Record<string, unknown>; upstreams?: number; policy?: string; server?: StartOptions; reportIntervalMs?: number }): Promise<ProxyBed> {
  const signet = await startTestServer(opts.server ?? {});
  const upstreams: DemoUpstream[] = [];
  for (let i = 0; i < (opts.upstreams ?? 1); i++) upstreams.push(await startDemoUpstream({ name: `up${i}` }));
  const auditFile = join(signet.home, "logs", "inference.log");
  if (opts.policy) {
    mkdirSync(join(signet.home, "policies"), { recursive: true });
    writeFileSync(join(signet.home, "policies", "proxy.cedar"), opts.policy);
  }
  const httpsPort = Number(new URL(signet.httpsUrl).port);
  const httpPort = Number(new URL(signet.httpUrl).port);
  const config = parseProxyConfig(
    { port: 0, host: "127.0.0.1", metrics: { port: await freePort() }, auditFile, signet: { url: signet.httpsUrl, httpUrl: signet.httpUrl }, ...opts.config(upstreams) },
    { home: signet.home, httpsPort, httpPort, proxyPort: 0, env: {} },
  );
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const proxy = await startProxy(config, createLogger("info", sink), { reportIntervalMs: opts.reportIntervalMs ?? 300 });
  const url = `https://127.0.0.1:${proxy.port}`;
  const bed: ProxyBed = {
    signet,
    upstreams,
    proxy,
    config,
    url,
    auditFile,
    logs,
    async client({ cn, roles = [], spiffeId }) {
      const csr = makeCsr({ cn });
      const r = await admin<{ pem: string; certificate: { serial: string } }>(signet, "POST", "/admin/v1/certificates", { csr: csr.pem, roles, ...(spiffeId ? { spiffeId } : {}), profile: "client" });
      if (r.status !== 201) throw new Error(`issuing ${cn}: ${r.status} ${JSON.stringify(r.body)}`);
      return { cert: r.body.pem, key: csr.keyPem, serial: r.body.certificate.serial };
    },
    call(path, o = {}) {
      const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
      return fetchRaw(`${url}${path}`, {
        method: o.method ?? (body === undefined ? "GET" : "POST"),
        ca: signet.rootPem,
        ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}),
        ...(o.agent ? { agent: o.agent } : {}),
        headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers },
        ...(body !== undefined ? { body } : {}),
      });
    },
    agent(cert, extra = {}) {
      return new Agent({ keepAlive: true, maxSockets: 1, ca: signet.rootPem, ...(cert ? { cert: cert.cert, key: cert.key } : {}), ...extra });
    },
    async close() {
      await proxy.close();
      for (const u of upstreams) await u.close();
      await signet.close();
    },
  };
  return bed;
}

/** Polls `check` every 50 ms until it holds, at most `ms`. */
export async function eventually<T>(check: () => Promise<T | null | false>, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: "echo-1", messages: [{ role: "user", content }], ...extra });
