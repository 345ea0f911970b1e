// Complete ACME issuances per second, Signet beside Let's Encrypt's pebble, driven by the same load
// driver (bench/acme.ts) with the same concurrency: new account → new order → http-01 validated for
// real → finalize → download. Each server runs in its own process; a fresh one per run.
import { runAcmeLoad, type AcmeLoadResult } from "./acme.js";
import { havePebble, startPebble } from "./pebble.js";
import { startSignetProcess } from "./signet-process.js";
import { freePort } from "../test/support/acme.js";
import { startTestDns } from "../test/support/dns-server.js";
import { scratchPostgres } from "./issuance.js";

export interface AcmeCompareRow {
  server: string;
  concurrency: number;
  result: AcmeLoadResult;
  /** CPU the server process used per issuance, ms. */
  serverCpuMs: number;
}

export async function benchAcme(opts: { concurrency: number[]; seconds: number; pgBase: string }): Promise<AcmeCompareRow[]> {
  const rows: AcmeCompareRow[] = [];
  const dns = await startTestDns();
  const challengePort = await freePort();
  try {
    for (const concurrency of opts.concurrency) {
      // The same load shape for both: pebble 2.4 deadlocks when new-order and authorization reads
      // overlap (bench/pebble.ts), so neither server gets them overlapped.
      const load = (directoryUrl: string, caPem: string, prefix: string) =>
        runAcmeLoad({ directoryUrl, caPem, concurrency, durationMs: opts.seconds * 1000, challengePort, names: (i) => `${prefix}-${i}.bench.test`, separateNewOrderFromAuthz: true });
      if (havePebble()) {
        const pebble = await startPebble({ challengePort, dnsServer: dns.address });
        try {
          const cpu0 = pebble.cpuSeconds();
          const result = await load(pebble.directoryUrl, pebble.caPem, `p${concurrency}`);
          rows.push({ server: "pebble 2.4", concurrency, result, serverCpuMs: cpuPer(pebble.cpuSeconds() - cpu0, result) });
        } finally {
          await pebble.close();
        }
      }
      const scratch = await scratchPostgres(opts.pgBase);
      const signet = await startSignetProcess({ databaseUrl: scratch?.url, challengePort, dnsAddress: dns.address });
      try {
        const cpu0 = signet.cpuSeconds();
        const result = await load(signet.directoryUrl, signet.caPem, `s${concurrency}`);
        rows.push({ server: scratch ? "Signet (PostgreSQL)" : "Signet (PGlite)", concurrency, result, serverCpuMs: cpuPer(signet.cpuSeconds() - cpu0, result) });
      } finally {
        await signet.close();
        await scratch?.drop();
      }
    }
  } finally {
    await dns.close();
  }
  return rows;
}

function cpuPer(seconds: number, r: AcmeLoadResult): number {
  return r.issued > 0 ? Math.round((seconds * 1000 * 10) / r.issued) / 10 : 0;
}
