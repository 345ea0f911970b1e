// Profiling aid: one Signet process under the ACME load driver, with --cpu-prof into $PROF_DIR.
import { runAcmeLoad } from "./acme.js";
import { startSignetProcess } from "./signet-process.js";
import { startTestDns } from "../test/support/dns-server.js";
import { freePort } from "../test/support/acme.js";
import { scratchPostgres } from "./issuance.js";
const dns = await startTestDns();
const challengePort = await freePort();
const scratch = await scratchPostgres(process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres");
const s = await startSignetProcess({ databaseUrl: scratch?.url, challengePort, dnsAddress: dns.address, nodeArgs: process.env.PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROF_DIR}`] : [] });
const cpu0 = s.cpuSeconds();
const r = await runAcmeLoad({ directoryUrl: s.directoryUrl, caPem: s.caPem, concurrency: Number(process.env.CONC ?? 32), durationMs: 10_000, challengePort, names: (i) => `b${i}.bench.test`, separateNewOrderFromAuthz: true });
console.log(JSON.stringify(r), "server cpu ms/issuance", ((s.cpuSeconds() - cpu0) * 1000 / r.issued).toFixed(1));
await s.close(); await dns.close(); await scratch?.drop();
