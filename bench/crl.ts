// CRL generation for N revoked, unexpired certificates: time and peak RSS. Each size runs in its own
// child process (this file, run directly), so the peak RSS is that generation's alone: the rows are
// read from the database (raw SQL, as the server does), encoded, signed and PEM-encoded once.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { IssuerContext } from "../ca/authority.js";
import { CrlPublisher } from "../ca/crl-publisher.js";
import { SoftwareSigner } from "../ca/signer.js";
import { encodeName, keyIdentifier } from "../ca/x509/index.js";
import { openDatabase } from "../src/db/database.js";
import { RevocationStore } from "../src/db/revocations.js";

export interface CrlResult {
  database: string;
  entries: number;
  seconds: number;
  /** Of which reading the rows. */
  querySeconds: number;
  megabytes: number;
  peakRssMiB: number;
  /** RSS once the rows were written, before generating: the database's own share on PGlite. */
  rssBeforeMiB: number;
}

/** Runs one generation in a child process. */
export function benchCrl(entries: number, databaseUrl?: string): CrlResult {
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), String(entries), databaseUrl ?? ""], { encoding: "utf8", maxBuffer: 1 << 20 });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !line.startsWith("{")) throw new Error(`CRL bench child failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as CrlResult;
}

async function child(entries: number, databaseUrl: string | undefined): Promise<CrlResult> {
  const dir = databaseUrl ? null : mkdtempSync(join(tmpdir(), "signet-bench-crl-"));
  const db = await openDatabase({ url: databaseUrl, dataDir: dir ? join(dir, "db") : undefined });
  try {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const spki = publicKey.export({ type: "spki", format: "der" });
    const ski = keyIdentifier(spki);
    const issuer: IssuerContext = {
      id: ski.toString("hex"),
      certDer: Buffer.alloc(0),
      subjectDer: encodeName([{ type: "CN", value: "Bench Intermediate" }]),
      subjectKeyId: ski,
      notAfter: new Date(Date.now() + 365 * 86_400_000),
      signer: new SoftwareSigner(privateKey, publicKey, "P-256"),
      urls: { ocsp: "", caIssuers: "", crl: "", deltaCrl: "http://bench/crl/delta.crl" },
    };
    // Revoked, unexpired rows with 128-bit serials as the pipeline makes them; a quarter with an
    // invalidity date, reasons spread over the codes. Written in slices to bound the statement.
    await db.raw.exec("TRUNCATE certificates"); // a scratch database
    for (let from = 0; from < entries; from += 200_000) {
      const to = Math.min(entries, from + 200_000) - 1;
      await db.raw.exec(`
        INSERT INTO certificates (serial, issuer_id, status, subject, profile, provisioner_id, provisioner_name, not_before, not_after,
          key_algorithm, subject_key_id, requested_by, revoked_at, revocation_reason, invalidity_date)
        SELECT '7' || substr(md5(i::text), 2) , '${issuer.id}', 'revoked', 'CN=bench', 'client', 'p', 'bench', now() - interval '1 hour',
          now() + interval '1 day', 'P-256', '00', 'bench', now() - (i % 3600) * interval '1 second', (i % 6),
          CASE WHEN i % 4 = 0 THEN now() - interval '2 hours' END
        FROM generate_series(${from}, ${to}) AS i`);
    }
    const store = new RevocationStore(db.raw);
    const rssBeforeMiB = Math.round(process.memoryUsage().rss / 1048576);
    const t0 = performance.now();
    await store.revokedUnexpired(issuer.id, new Date());
    const querySeconds = (performance.now() - t0) / 1000;
    const publisher = new CrlPublisher({ issuers: [issuer], source: store, validitySeconds: 86_400, deltaValiditySeconds: 3600, deltaUrl: () => issuer.urls.deltaCrl });
    const t1 = performance.now();
    const [full] = await publisher.publish({ anchor: true });
    full!.pem();
    const seconds = (performance.now() - t1) / 1000;
    if (full!.entries !== entries) throw new Error(`CRL has ${full!.entries} entries, expected ${entries}`);
    return {
      database: db.kind === "pglite" ? "PGlite (embedded)" : "PostgreSQL",
      entries,
      seconds: Math.round(seconds * 100) / 100,
      querySeconds: Math.round(querySeconds * 100) / 100,
      megabytes: Math.round((full!.der.length / 1e6) * 10) / 10,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      rssBeforeMiB,
    };
  } finally {
    await db.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await child(Number(process.argv[2]), process.argv[3] || undefined);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
