// `node --import tsx bench/acme-only.ts`: just the ACME comparison of `npm run bench`.
import { benchAcme } from "./acme-compare.js";
const rows = await benchAcme({ concurrency: (process.env.BENCH_ACME_CONCURRENCY ?? "8,32").split(",").map(Number), seconds: Number(process.env.BENCH_ACME_SECONDS ?? 15), pgBase: process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres" });
for (const r of rows) console.log(r.server, r.concurrency, r.result.perSecond, "/s p50", r.result.p50Ms, "p99", r.result.p99Ms, "server cpu ms", r.serverCpuMs, "driver cpu ms", Math.round((r.result.driverCpuSeconds * 1000) / Math.max(1, r.result.issued)), r.result.errors, r.result.stalled ? "STALLED" : "");
