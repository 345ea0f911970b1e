// `npm run bench`: prints the figures the README quotes. Set BENCH_DATABASE_URL (or TEST_DATABASE_URL)
// to a PostgreSQL server to include it; BENCH_TOTAL / BENCH_CONCURRENCY change the load.
import { cpus } from "node:os";
import { benchCrl, type CrlResult } from "./crl.js";
import { benchIssuance, scratchPostgres, type IssuanceResult } from "./issuance.js";
import { benchOcsp, haveWrk } from "./ocsp.js";
import { benchAcme } from "./acme-compare.js";
import { havePebble } from "./pebble.js";
import { benchScep, describeScepBench, printScepBench, scepBenchFromEnv } from "./scep.js";
import { benchProxy, printProxyBench, proxyBenchFromEnv } from "./proxy.js";
import { benchProxyPath } from "./proxy-path.js";

const total = Number(process.env.BENCH_TOTAL ?? 10_000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 256);
const pgBase = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

console.log(`signet bench: node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"})`);
console.log(`issuance through the whole pipeline: ${total} certificates (P-256 CA, P-256 CSRs), ${concurrency} in flight\n`);

const results: IssuanceResult[] = [];
results.push(await benchIssuance({ label: "PGlite (embedded)", total, concurrency }));
print(results.at(-1)!);
const scratch = await scratchPostgres(pgBase);
if (scratch) {
  try {
    results.push(await benchIssuance({ label: "PostgreSQL", databaseUrl: scratch.url, total, concurrency }));
    print(results.at(-1)!);
  } finally {
    await scratch.drop();
  }
} else {
  console.log(`PostgreSQL: skipped (no server at ${pgBase.replace(/\/\/[^@]*@/, "//")}; set BENCH_DATABASE_URL)`);
}

// CRL generation: revoked, unexpired certificates read from the database, encoded, signed.
console.log(`\nCRL generation (full CRL, P-256 issuer; rows read with raw SQL, DER built, signed, PEM once), each in its own process:`);
const crlRuns: Array<[number, string | undefined, string]> = [[100_000, undefined, "PGlite (embedded)"]];
const crlScratch = await scratchPostgres(pgBase);
try {
  if (crlScratch) crlRuns.push([100_000, crlScratch.url, "PostgreSQL"], [1_000_000, crlScratch.url, "PostgreSQL"]);
  else console.log("PostgreSQL: skipped (set BENCH_DATABASE_URL) — the 1,000,000 figure needs it");
  for (const [n, url] of crlRuns) printCrl(benchCrl(n, url));
} finally {
  await crlScratch?.drop();
}

// OCSP: a real server under load, beside openssl's responder for the same certificates.
if (!haveWrk()) {
  console.log("\nOCSP: skipped (needs wrk: apt-get install wrk)");
} else {
  const seconds = Number(process.env.BENCH_OCSP_SECONDS ?? 10);
  const connections = Number(process.env.BENCH_OCSP_CONNECTIONS ?? 32);
  console.log(`\nOCSP responder: wrk, 1 thread, ${connections} keep-alive connections, ${seconds}s per run after a 2s warm-up, 1,000 distinct certificates (10% revoked):`);
  const o = await benchOcsp({ certificates: 1000, seconds, connections, rounds: 20 });
  for (const l of o.load) {
    console.log(`${l.server.padEnd(14)} ${l.method.padEnd(5)} ${String(l.perSecond).padStart(7)} responses/s   p50 ${l.p50ms} ms   p99 ${l.p99ms} ms${l.errors ? `   errors ${l.errors}` : ""}`);
  }
  console.log(`revoke → OCSP answers revoked: p50 ${o.revokeToOcspMs.p50} ms, max ${o.revokeToOcspMs.max} ms (${o.rounds} revocations)`);
  console.log(`revoke → SSE feed delivers it:  p50 ${o.revokeToFeedMs.p50} ms, max ${o.revokeToFeedMs.max} ms`);
}

// ACME: complete issuances per second, Signet beside pebble, the same driver and concurrency.
{
  const seconds = Number(process.env.BENCH_ACME_SECONDS ?? 15);
  const levels = (process.env.BENCH_ACME_CONCURRENCY ?? "8,32").split(",").map(Number);
  console.log(`\nACME issuances (new account, new order, http-01 validated, finalize, download), ${seconds}s per run, each server in its own process${havePebble() ? "" : " (pebble not installed: apt-get install pebble)"}:`);
  for (const r of await benchAcme({ concurrency: levels, seconds, pgBase })) {
    const x = r.result;
    console.log(
      `${r.server.padEnd(20)} c=${String(r.concurrency).padEnd(3)} ${String(x.perSecond).padStart(6)} issuances/s   p50 ${x.p50Ms} ms   p99 ${x.p99Ms} ms   server CPU ${r.serverCpuMs} ms/issuance   driver CPU ${x.issued ? Math.round((x.driverCpuSeconds * 1000) / x.issued) : 0} ms/issuance${x.errors ? `   errors ${x.errors} (${x.firstError})` : ""}${x.stalled ? "   STALLED" : ""}`,
    );
  }
}

// SCEP: complete enrolments per second (PKCSReq → CertRep SUCCESS) through the test suite's client.
{
  const o = { ...scepBenchFromEnv(), pgBase };
  console.log(`\n${describeScepBench(o)}`);
  printScepBench(await benchScep(o));
}

// The inference proxy beside nginx (mTLS reverse proxy), the same driver and upstream.
{
  const o = proxyBenchFromEnv();
  console.log(`\ninference proxy vs nginx (both mTLS, two workers each; the Node mTLS driver in its own process; the OpenAI-compatible stub upstream in its own process):`);
  printProxyBench(await benchProxy(o));
  const path = await benchProxyPath(Number(process.env.BENCH_PATH_REQUESTS ?? 100_000));
  console.log(`proxy request path without sockets (bench/proxy-path.ts): ${path.cpuUsPerRequest} µs CPU per request`);
}

function printCrl(r: CrlResult): void {
  console.log(`${r.database.padEnd(20)} ${String(r.entries).padStart(9)} entries  ${r.seconds} s (reading rows ${r.querySeconds} s)  ${r.megabytes} MB DER   peak RSS ${r.peakRssMiB} MiB`);
}

function print(r: IssuanceResult): void {
  console.log(`${r.database.padEnd(20)} ${String(r.perSecond).padStart(6)} certificates/s stored   p50 ${r.p50ms} ms   p99 ${r.p99ms} ms   peak RSS ${r.peakRssMiB} MiB`);
}
