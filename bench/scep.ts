// SCEP enrolments per second against a real `signet serve` in its own process (PostgreSQL when one
// is reachable, else the embedded database): PKCSReq with a static challenge → CertRep SUCCESS with
// the certificate, through the RFC 8894 client the protocol tests use (test/support/scep-client.ts).
// Device material is made before the clock starts: RSA-2048 keys, their self-signed signer
// certificates and CSRs. The timed part is what a device does per enrolment: build and encrypt the
// pkiMessage, send it, verify and decrypt the CertRep.
// Alone: `node --import tsx bench/scep.ts` (BENCH_SCEP_CONCURRENCY, BENCH_SCEP_SECONDS, BENCH_DATABASE_URL).
import { readFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { cpus } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildCsr } from "../ca/x509/index.js";
import { freePort } from "../test/support/acme.js";
import { ScepClient, generateRsaKey, selfSignedCertificate, type KeyPair, type ScepSigner } from "../test/support/scep-client.js";
import { scratchPostgres } from "./issuance.js";
import { startSignetProcess, type SignetProcess } from "./signet-process.js";

const CHALLENGE = "bench-static-challenge-0123456789";
const PROVISIONER = "bench-devices";

export interface ScepBenchOptions {
  concurrency: number[];
  /** Per concurrency level; a level also ends when its device material runs out. */
  seconds: number;
  pgBase: string;
  /** Enrolments prepared, the most one level can complete (default 5000). */
  maxPerLevel?: number;
  /** Distinct RSA-2048 keys among them (default 64): the server's work does not depend on whether
   * two devices share a key, and keys are the slow part to prepare (~0.1 s each). */
  keys?: number;
}

export interface ScepBenchRow {
  concurrency: number;
  enrolled: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU the server process used per enrolment, ms (0 when /proc is not readable). */
  serverCpuMs: number;
  /** CPU this driver used per enrolment, ms: on a small machine it competes with the server. */
  driverCpuMs: number;
  errors: number;
  firstError?: string;
  /** The level ended because the prepared enrolments ran out before `seconds`. */
  exhausted: boolean;
}

export interface ScepBenchResult {
  database: string;
  prepared: number;
  keys: number;
  prepareSeconds: number;
  rows: ScepBenchRow[];
}

interface Device {
  key: KeyPair;
  signer: ScepSigner;
  csrDer: Buffer;
  commonName: string;
}

export async function benchScep(opts: ScepBenchOptions): Promise<ScepBenchResult> {
  const t0 = performance.now();
  const devices = prepareDevices(opts.maxPerLevel ?? 5000, opts.keys ?? 64);
  const prepareSeconds = round((performance.now() - t0) / 1000);
  const scratch = await scratchPostgres(opts.pgBase);
  let signet: SignetProcess | undefined;
  try {
    // No ACME validation happens here; startSignetProcess needs somewhere to point the validator.
    signet = await startSignetProcess({ databaseUrl: scratch?.url, challengePort: await freePort(), dnsAddress: "127.0.0.1" });
    await putScepProvisioner(signet);
    const client = new ScepClient(`${signet.httpUrl}/scep/${PROVISIONER}`);
    await client.getCaCert();
    // Warm-up (not measured): connections, JIT, the database's first inserts.
    await runLevel(client, devices.slice(0, 32), 4, 60_000, "warm", signet);
    const rows: ScepBenchRow[] = [];
    for (const c of opts.concurrency) rows.push(await runLevel(client, devices, c, opts.seconds * 1000, `c${c}`, signet));
    return { database: scratch ? "PostgreSQL" : "PGlite (embedded)", prepared: devices.length, keys: Math.min(opts.keys ?? 64, devices.length), prepareSeconds, rows };
  } finally {
    await signet?.close();
    await scratch?.drop();
  }
}

/** `count` devices over `keyCount` RSA-2048 keys, each with its own name, signer certificate and CSR. */
function prepareDevices(count: number, keyCount: number): Device[] {
  const keys = Array.from({ length: Math.min(keyCount, count) }, () => generateRsaKey());
  return Array.from({ length: count }, (_, i) => {
    const key = keys[i % keys.length]!;
    const commonName = `scep-bench-${i}`;
    const csrDer = buildCsr({ privateKey: key.privateKey, publicKey: key.publicKey, keyAlgorithm: "RSA-2048", subject: [{ type: "CN", value: commonName }], challengePassword: CHALLENGE });
    return { key, csrDer, commonName, signer: { certDer: selfSignedCertificate(key, commonName), key: key.privateKey } };
  });
}

/** `concurrency` loops enrolling devices in turn until the deadline or the devices run out. */
async function runLevel(client: ScepClient, devices: Device[], concurrency: number, durationMs: number, run: string, signet: SignetProcess): Promise<ScepBenchRow> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const cpu0 = process.cpuUsage();
  const serverCpu0 = signet.cpuSeconds();
  const start = performance.now();
  const deadline = start + durationMs;
  const loop = async (): Promise<void> => {
    let consecutive = 0;
    while (performance.now() < deadline && next < devices.length) {
      const i = next++;
      const d = devices[i]!;
      const s = performance.now();
      try {
        // A transactionID per enrolment: devices that share a key must not look like retries.
        const r = await client.enrol({ key: d.key, signer: d.signer, csrDer: d.csrDer, commonName: d.commonName, transactionId: `${run}-${i}` });
        if (r.status !== "SUCCESS" || !r.certificates?.length) throw new Error(`HTTP ${r.httpStatus} ${r.status ?? r.raw.toString("utf8").slice(0, 200).trim()}${r.failInfo ? ` (${r.failInfo})` : ""}`);
        latencies.push(performance.now() - s);
        consecutive = 0;
      } catch (e) {
        errors++;
        firstError ??= e instanceof Error ? e.message : String(e);
        // A server that refuses everything ends the loop instead of spinning through the devices.
        if (++consecutive >= 20) return;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = Math.max((performance.now() - start) / 1000, 1e-3);
  const cpu = process.cpuUsage(cpu0);
  const serverCpuSeconds = signet.cpuSeconds() - serverCpu0;
  latencies.sort((a, b) => a - b);
  const enrolled = latencies.length;
  const per = (secs: number) => (enrolled ? round((secs * 1000) / enrolled) : 0);
  return {
    concurrency,
    enrolled,
    seconds: round(seconds),
    perSecond: round(enrolled / seconds),
    p50Ms: round(percentile(latencies, 0.5)),
    p99Ms: round(percentile(latencies, 0.99)),
    serverCpuMs: per(serverCpuSeconds),
    driverCpuMs: per((cpu.user + cpu.system) / 1e6),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    exhausted: next >= devices.length && performance.now() < deadline,
  };
}

/** Creates the static-challenge SCEP provisioner through the admin API, as an operator would. */
async function putScepProvisioner(signet: SignetProcess): Promise<void> {
  const token = readFileSync(join(signet.home, "admin.token"), "utf8").trim();
  const url = new URL(`/admin/v1/provisioners/${PROVISIONER}`, signet.directoryUrl);
  const payload = JSON.stringify({ type: "scep", options: { challenge: CHALLENGE } });
  await new Promise<void>((resolve, reject) => {
    const req = httpsRequest(
      { host: url.hostname, port: url.port, path: url.pathname, method: "PUT", ca: signet.caPem, servername: "localhost", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => ((res.statusCode ?? 500) < 300 ? resolve() : reject(new Error(`PUT ${url.pathname}: HTTP ${res.statusCode} ${text}`))));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const round = (x: number) => Math.round(x * 10) / 10;

export function formatScepRow(database: string, r: ScepBenchRow): string {
  return (
    `Signet (${database})`.padEnd(28) +
    ` c=${String(r.concurrency).padEnd(3)} ${String(r.perSecond).padStart(6)} enrolments/s   p50 ${r.p50Ms} ms   p99 ${r.p99Ms} ms   server CPU ${r.serverCpuMs} ms/enrolment   driver CPU ${r.driverCpuMs} ms/enrolment   (${r.enrolled} in ${r.seconds} s)` +
    (r.errors ? `   errors ${r.errors} (${r.firstError})` : "") +
    (r.exhausted ? "   ran out of prepared devices" : "")
  );
}

export function scepBenchFromEnv(): ScepBenchOptions {
  return {
    concurrency: (process.env.BENCH_SCEP_CONCURRENCY ?? "1,8,32").split(",").map(Number),
    seconds: Number(process.env.BENCH_SCEP_SECONDS ?? 10),
    pgBase: process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres",
    ...(process.env.BENCH_SCEP_MAX ? { maxPerLevel: Number(process.env.BENCH_SCEP_MAX) } : {}),
  };
}

export function describeScepBench(o: ScepBenchOptions): string {
  return `SCEP enrolments (PKCSReq, static challenge, RSA-2048 devices, AES-256 envelopes, CertRep verified and decrypted), ${o.seconds} s per level, one Signet in its own process:`;
}

export function printScepBench(r: ScepBenchResult): void {
  console.log(`(${r.prepared} devices over ${r.keys} keys prepared in ${r.prepareSeconds} s, not timed)`);
  for (const row of r.rows) console.log(formatScepRow(r.database, row));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = scepBenchFromEnv();
  console.log(`signet SCEP bench: node ${process.version}, ${cpus().length} cores\n${describeScepBench(o)}`);
  printScepBench(await benchScep(o));
}
