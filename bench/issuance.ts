// Issuance throughput through the whole pipeline (CSR verified → policy → intent recorded → signed →
// stored → audited), with many requests in flight as a busy ACME/SCEP front end would have them.
// Prints certificates signed and stored per second, latency percentiles and peak RSS.
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { buildCsr } from "../ca/x509/index.js";
import { bootstrapDatabase } from "../src/bootstrap.js";
import { loadConfig } from "../src/config.js";
import { initCa } from "../src/home/ca-files.js";
import { createLogger } from "../src/log.js";
import { openServices } from "../src/services.js";

export interface IssuanceResult {
  database: string;
  certificates: number;
  concurrency: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  peakRssMiB: number;
}

function csrs(n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    out.push(buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: `bench-${i}` }], sans: { dns: [`bench-${i}.svc.internal`], uri: [`spiffe://bench.internal/ns/bench/sa/w${i}`] } }));
  }
  return out;
}

export async function benchIssuance(opts: { databaseUrl?: string; label: string; total: number; concurrency: number }): Promise<IssuanceResult> {
  const home = mkdtempSync(join(tmpdir(), "signet-bench-"));
  let peakRss = 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 50);
  try {
    const cfg = loadConfig({ ...process.env, SIGNET_HOME: home, DATABASE_URL: opts.databaseUrl ?? "" });
    const ca = await initCa(home, { passphrase: "benchmark passphrase" });
    const s = await openServices(cfg, createLogger("silent"), ca);
    try {
      await bootstrapDatabase(s, true);
      const requests = csrs(1000);
      const issue = (i: number) => s.authority.sign({ csr: requests[i % requests.length]!, provisioner: "admin", via: "admin", actor: "bench", nodeId: `node-${i % 50}` });
      // Warm up: JIT, caches, the database's first pages.
      await run(issue, 1000, opts.concurrency);
      const latencies: number[] = [];
      const started = performance.now();
      await run(issue, opts.total, opts.concurrency, latencies);
      const seconds = (performance.now() - started) / 1000;
      const stored = await s.db.prisma.certificate.count({ where: { status: "valid" } });
      if (stored < opts.total + 1000) throw new Error(`only ${stored} certificates stored`);
      const verdict = await s.audit.verify();
      if (!verdict.ok) throw new Error(`audit chain broken after the benchmark: ${JSON.stringify(verdict.problem)}`);
      latencies.sort((a, b) => a - b);
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      return {
        database: opts.label,
        certificates: opts.total,
        concurrency: opts.concurrency,
        perSecond: Math.round(opts.total / seconds),
        p50ms: round(latencies[Math.floor(latencies.length * 0.5)]!),
        p99ms: round(latencies[Math.floor(latencies.length * 0.99)]!),
        peakRssMiB: Math.round(peakRss / 2 ** 20),
      };
    } finally {
      await s.close();
    }
  } finally {
    clearInterval(sampler);
    rmSync(home, { recursive: true, force: true });
  }
}

async function run(issue: (i: number) => Promise<unknown>, total: number, concurrency: number, latencies?: number[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const t = performance.now();
      await issue(i);
      latencies?.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const round = (x: number) => Math.round(x * 10) / 10;

/** A scratch PostgreSQL database for the benchmark, or null when none is reachable. */
export async function scratchPostgres(baseUrl: string): Promise<{ url: string; drop(): Promise<void> } | null> {
  const name = `signet_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
