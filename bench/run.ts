// `npm run bench`: prints the figures the README quotes. Set BENCH_DATABASE_URL (or TEST_DATABASE_URL)
// to a PostgreSQL server to include it; BENCH_TOTAL / BENCH_CONCURRENCY change the load.
import { cpus } from "node:os";
import { benchIssuance, scratchPostgres, type IssuanceResult } from "./issuance.js";

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

function print(r: IssuanceResult): void {
  console.log(`${r.database.padEnd(20)} ${String(r.perSecond).padStart(6)} certificates/s stored   p50 ${r.p50ms} ms   p99 ${r.p99ms} ms   peak RSS ${r.peakRssMiB} MiB`);
}
