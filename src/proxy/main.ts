// Starting the inference proxy: `signet proxy` (and `signet serve`, with a demo route). One process,
// or a cluster of workers sharing one port (use every core): the primary obtains the server
// certificate and the TLS session-ticket keys once and hands them to every worker, so a session
// resumed on any worker is accepted; metrics are aggregated by the primary. Limits are shared through
// Redis when configured (several processes or replicas), else kept in memory.
import cluster from "node:cluster";
import { randomBytes, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname } from "node:path";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { AggregatorRegistry } from "prom-client";
import { parseCertificate } from "../../ca/x509/index.js";
import { WatchedPolicyFile } from "../policy-file.js";
import { InferenceAudit } from "./audit.js";
import { DEFAULT_PROXY_POLICY, ProxyPolicy } from "./authz.js";
import type { ProxyConfig } from "./config.js";
import { MemoryLimiter, RedisLimiter, type Limiter } from "./limits.js";
import { ProxyMetrics } from "./metrics.js";
import { InferenceProxy } from "./server.js";
import { crlSerials, SignetClient } from "./signet-client.js";

export interface TlsMaterial {
  key: string;
  cert: string;
  ca: string;
  ticketKeys: Buffer;
  /** When the certificate should be replaced (ms since epoch), for certificates Signet issued. */
  renewAt: number | null;
}

export interface RunningProxy {
  port: number;
  proxy: InferenceProxy;
  metricsPort: number | null;
  close(): Promise<void>;
}

/** The proxy's certificate and the CAs client certificates must chain to. */
export async function tlsMaterial(config: ProxyConfig, client: SignetClient | null, names: { dns: string[]; ip: string[] }): Promise<TlsMaterial> {
  const ca = config.trustBundleFile ? readFileSync(config.trustBundleFile, "utf8") : client ? await client.trustBundle(config.signet.httpUrl) : null;
  if (ca === null) throw new Error("the proxy needs a trust bundle (trustBundleFile) or Signet to fetch it from");
  const ticketKeys = randomBytes(48);
  if (config.tls) return { key: readFileSync(config.tls.keyFile, "utf8"), cert: readFileSync(config.tls.certFile, "utf8"), ca, ticketKeys, renewAt: null };
  // A signet:proxy certificate (profile client-server) serves as the server certificate too.
  if (config.signet.clientCertFile && config.signet.clientKeyFile) return { key: readFileSync(config.signet.clientKeyFile, "utf8"), cert: readFileSync(config.signet.clientCertFile, "utf8"), ca, ticketKeys, renewAt: null };
  if (!client?.canIssue) throw new Error("the proxy needs a certificate (tls.certFile, tls.keyFile) or Signet to issue one");
  const issued = await client.issueServerCertificate(names);
  const notBefore = Date.now();
  return {
    key: issued.key.export({ format: "pem", type: "pkcs8" }).toString(),
    cert: issued.certPem,
    ca,
    ticketKeys,
    renewAt: notBefore + ((issued.notAfter.getTime() - notBefore) * 2) / 3,
  };
}

/** How the proxy reaches Signet: its signet:proxy client certificate, else an admin token file. */
function signetClient(config: ProxyConfig, log: Logger): SignetClient | null {
  const { url, caFile, clientCertFile, clientKeyFile, adminTokenFile } = config.signet;
  if (clientCertFile && clientKeyFile) return new SignetClient(url, caFile, { certFile: clientCertFile, keyFile: clientKeyFile }, log);
  return existsSync(adminTokenFile) ? new SignetClient(url, caFile, { tokenFile: adminTokenFile }, log) : null;
}

/** The proxy policy file, written with the default policy when it does not exist yet. */
function policyFile(config: ProxyConfig, log: Logger): WatchedPolicyFile<ProxyPolicy> {
  if (!existsSync(config.policyFile)) {
    mkdirSync(dirname(config.policyFile), { recursive: true });
    try {
      writeFileSync(config.policyFile, DEFAULT_PROXY_POLICY, { mode: 0o644, flag: "wx" });
    } catch (err) {
      // A cluster's other worker wrote it first.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  const f = new WatchedPolicyFile(config.policyFile, { what: "proxy policy", compile: (t) => ProxyPolicy.compile(t, config.decisionCacheSize), log });
  f.load();
  f.watch();
  return f;
}

/** Runs one proxy in this process. `material` comes from the primary in a cluster. */
export async function startProxy(
  config: ProxyConfig,
  log: Logger,
  opts: { material?: TlsMaterial; names?: { dns: string[]; ip: string[] }; metrics?: boolean; reportIntervalMs?: number } = {},
): Promise<RunningProxy> {
  const client = signetClient(config, log);
  if (!client) log.warn({ tokenFile: config.signet.adminTokenFile }, "no Signet admin credential: revocations come from the CRLs only; access tokens and API routes are not followed");
  const names = opts.names ?? { dns: ["localhost"], ip: ["127.0.0.1"] };
  const material = opts.material ?? (await tlsMaterial(config, client, names));
  const policy = policyFile(config, log);
  let limiter: Limiter;
  let redis: Redis | null = null;
  if (config.redisUrl) {
    redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
    redis.on("error", (err: Error) => log.warn({ err: err.message }, "redis error"));
    limiter = new RedisLimiter(redis);
  } else {
    limiter = new MemoryLimiter();
  }
  const metrics = new ProxyMetrics();
  // In a cluster, the primary asks every worker for this registry and serves the sum.
  if (cluster.isWorker) AggregatorRegistry.setRegistries([metrics.registry]);
  const audit = new InferenceAudit(config.auditFile);
  const proxy = new InferenceProxy({ config, log, limiter, audit, metrics, policy: () => policy.current(), tls: { key: material.key, cert: material.cert, ca: material.ca, ticketKeys: material.ticketKeys } });
  const timers: NodeJS.Timeout[] = [];
  const cas = (material.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
  /** Every issuer's CRL from Signet's HTTP port (signatures checked): the fallback. */
  const readCrls = async () => {
    let read = 0;
    let last: unknown = null;
    for (const ca of cas) {
      const ski = parseCertificate(ca.raw).subjectKeyId?.toString("hex");
      if (!ski) continue;
      try {
        // The full CRL, and the delta that carries what was revoked since it was published.
        for (const serial of await crlSerials(config.signet.httpUrl, ski, ca, "full")) proxy.revoke(serial);
        read++;
        const delta = await crlSerials(config.signet.httpUrl, ski, ca, "delta").catch(() => [] as string[]);
        for (const serial of delta) proxy.revoke(serial);
      } catch (err) {
        // An offline root publishes no CRL here; the issuing CA's is what matters.
        last = err;
      }
    }
    if (read === 0) throw last instanceof Error ? last : new Error("no CRL could be read");
  };
  let cursor = "0";
  let caughtUp = false;

  // Nothing is served before the proxy knows what is revoked: the feed caught up, or the CRLs read.
  try {
    if (!client) throw new Error("no admin credential for the feed");
    for (let page = 0; page < 1000 && !caughtUp; page++) {
      const p = await client.revocations(cursor, 0);
      for (const item of p.items) proxy.revoke(item.serial);
      cursor = p.cursor;
      caughtUp = !p.more;
    }
  } catch (err) {
    if (client) log.warn({ err: (err as Error).message }, "the revocation feed is unreachable at start; reading the CRLs");
    try {
      await readCrls();
    } catch (crlErr) {
      await Promise.all([client?.close(), limiter.close(), audit.close()]);
      policy.close();
      throw new Error(`the proxy cannot learn which certificates are revoked (feed and CRLs unreachable: ${(crlErr as Error).message}); not starting`);
    }
  }
  if (client) {
    try {
      proxy.applyState(await client.state(null, 0));
    } catch (err) {
      log.warn({ err: (err as Error).message }, "routes and access tokens from Signet are not available yet");
    }
  }
  const port = await proxy.listen(config.port, config.host);

  if (!client) {
    const poll = setInterval(() => void readCrls().catch((err: unknown) => log.warn({ err: (err as Error).message }, "reading the CRLs failed")), config.crlFallbackSeconds * 1000);
    poll.unref();
    timers.push(poll);
  }

  if (client) {
    proxy.reportsUsage = true;
    // Revocations: a long poll answered as each one commits.
    let lastCrl = 0;
    client.follow(
      "revocations",
      async () => {
        // Pages at once until caught up (a full page says `more`), then a long poll.
        const page = await client.revocations(cursor, caughtUp ? 25 : 0);
        for (const item of page.items) proxy.revoke(item.serial);
        cursor = page.cursor;
        caughtUp = !page.more;
      },
      (failingMs) => {
        // The feed is down: the CRLs (signed, from the HTTP port) stand in until it is back.
        if (failingMs < config.crlFallbackSeconds * 1000 || Date.now() - lastCrl < config.crlFallbackSeconds * 1000) return;
        lastCrl = Date.now();
        readCrls().catch((err: unknown) => log.warn({ err: (err as Error).message }, "CRL fallback failed"));
      },
    );
    client.follow("state", async () => {
      const state = await client.state(proxy.stateVersion, 25);
      proxy.applyState(state);
    });
    const report = setInterval(() => {
      const u = proxy.drainUsage();
      // What one report may carry (the admin API takes at most 10,000 of each).
      u.buckets = u.buckets.slice(0, 10_000);
      u.tokens = u.tokens.slice(0, 10_000);
      if (u.tokens.length > 0 || u.buckets.length > 0) client.report(u).catch((err: unknown) => log.warn({ err: (err as Error).message }, "usage report failed"));
    }, opts.reportIntervalMs ?? 5000);
    report.unref();
    timers.push(report);
    if (material.renewAt !== null && !opts.material) {
      const renew = setInterval(() => {
        if (Date.now() < material.renewAt!) return;
        tlsMaterial(config, client, names)
          .then((m) => {
            proxy.setCertificate(m.key, m.cert, m.ca);
            material.renewAt = m.renewAt;
            log.info("proxy certificate renewed");
          })
          .catch((err: unknown) => log.warn({ err: (err as Error).message }, "proxy certificate renewal failed; retrying"));
      }, 60_000);
      renew.unref();
      timers.push(renew);
    }
  }

  let metricsServer: Server | null = null;
  let metricsPort: number | null = null;
  if (opts.metrics !== false && config.metrics.port !== 0) {
    metricsServer = createServer((req, res) => {
      if (req.url !== "/metrics") return void res.writeHead(404).end();
      metrics.registry
        .metrics()
        .then((text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
    });
    metricsPort = await new Promise<number>((resolve, reject) => {
      metricsServer!.once("error", reject);
      metricsServer!.listen(config.metrics.port, config.metrics.host, () => resolve((metricsServer!.address() as { port: number }).port));
    });
  }

  return {
    port,
    proxy,
    metricsPort,
    async close() {
      for (const t of timers) clearInterval(t);
      policy.close();
      await client?.close();
      await proxy.close();
      await limiter.close();
      await audit.close();
      if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
    },
  };
}

/**
 * `signet proxy`: with workers > 1, this process becomes a cluster primary that forks the workers and
 * serves the aggregated metrics; each worker runs startProxy with the primary's TLS material.
 */
export async function runProxy(config: ProxyConfig, log: Logger, names: { dns: string[]; ip: string[] }): Promise<{ close(): Promise<void>; port: number }> {
  if (config.workers <= 1) return startProxy(config, log, { names });
  if (!config.redisUrl) log.warn({ workers: config.workers }, "several workers without redisUrl: each worker keeps its own rate limits (set SIGNET_PROXY_REDIS_URL to share them)");
  const client = signetClient(config, log);
  const material = await tlsMaterial(config, client, names);
  cluster.setupPrimary({ args: process.argv.slice(2), env: { ...process.env, SIGNET_PROXY_WORKER: "1" } } as Parameters<typeof cluster.setupPrimary>[0]);
  const workers = Array.from({ length: config.workers }, () => cluster.fork({ SIGNET_PROXY_WORKER: "1" }));
  const ready = workers.map(
    (w) =>
      new Promise<number>((resolve, reject) => {
        w.on("message", (m: { type?: string; port?: number; error?: string }) => {
          // The worker asks once its listener is in place (a message sent earlier would be lost).
          if (m?.type === "signet-proxy-hello") w.send({ type: "signet-proxy-material", material: { ...material, ticketKeys: material.ticketKeys.toString("base64") } });
          if (m?.type === "signet-proxy-ready") resolve(m.port!);
          if (m?.type === "signet-proxy-failed") reject(new Error(m.error));
        });
        w.once("exit", (code) => reject(new Error(`a proxy worker exited with ${code}`)));
      }),
  );
  const ports = await Promise.all(ready);
  const aggregator = new AggregatorRegistry();
  let metricsServer: Server | null = null;
  if (config.metrics.port !== 0) {
    metricsServer = createServer((req, res) => {
      if (req.url !== "/metrics") return void res.writeHead(404).end();
      aggregator
        .clusterMetrics()
        .then((text) => res.writeHead(200, { "content-type": aggregator.contentType }).end(text))
        .catch(() => res.writeHead(500).end());
    });
    await new Promise<void>((r) => metricsServer!.listen(config.metrics.port, config.metrics.host, r));
  }
  // The primary renews the certificate Signet issued and hands it to every worker (the ticket keys
  // stay, so sessions resume across the renewal).
  let renew: NodeJS.Timeout | null = null;
  if (client?.canIssue && material.renewAt !== null) {
    renew = setInterval(() => {
      if (Date.now() < material.renewAt!) return;
      tlsMaterial(config, client, names)
        .then((m) => {
          material.renewAt = m.renewAt;
          for (const w of workers) if (w.isConnected()) w.send({ type: "signet-proxy-certificate", key: m.key, cert: m.cert, ca: m.ca });
          log.info("proxy certificate renewed for every worker");
        })
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, "proxy certificate renewal failed; retrying"));
    }, 60_000);
    renew.unref();
  }
  let closing = false;
  cluster.on("exit", (w, code) => {
    if (!closing) log.error({ pid: w.process.pid, code }, "a proxy worker exited");
  });
  return {
    port: ports[0]!,
    async close() {
      closing = true;
      if (renew) clearInterval(renew);
      await client?.close();
      for (const w of workers) w.kill("SIGTERM");
      if (metricsServer) await new Promise<void>((r) => metricsServer!.close(() => r()));
    },
  };
}

/** In a cluster worker: waits for the primary's material, starts, says which port it serves. */
export function runProxyWorker(config: ProxyConfig, log: Logger): void {
  process.on("message", (m: { type?: string; material?: Omit<TlsMaterial, "ticketKeys"> & { ticketKeys: string } }) => {
    if (m?.type !== "signet-proxy-material" || !m.material) return;
    const material: TlsMaterial = { ...m.material, ticketKeys: Buffer.from(m.material.ticketKeys, "base64") };
    startProxy(config, log, { material, metrics: false })
      .then((p) => {
        process.on("message", (c: { type?: string; key?: string; cert?: string; ca?: string }) => {
          if (c?.type === "signet-proxy-certificate" && c.key && c.cert && c.ca) p.proxy.setCertificate(c.key, c.cert, c.ca);
        });
        process.send?.({ type: "signet-proxy-ready", port: p.port });
        process.once("SIGTERM", () => void p.close().finally(() => process.exit(0)));
      })
      .catch((err: unknown) => {
        process.send?.({ type: "signet-proxy-failed", error: (err as Error).message });
        process.exit(1);
      });
  });
  process.send?.({ type: "signet-proxy-hello" });
}
