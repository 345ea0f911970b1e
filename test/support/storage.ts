// Helpers shared by the suites that run against the real databases (test/storage.test.ts,
// test/revocation-storage.test.ts): scratch homes, counting rows, and intents written straight to
// the journal without the pipeline.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CertificateIntent } from "../../ca/ports.js";
import type { Database } from "../../src/db/database.js";

const homes: string[] = [];

/** A fresh directory, removed by removeTempHomes(). */
export function tempHome(prefix = "signet-storage-"): string {
  const h = mkdtempSync(join(tmpdir(), prefix));
  homes.push(h);
  return h;
}

export function removeTempHomes(): void {
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
}

/** The `n` column of the first row of `sql`. */
export async function count(db: Database, sql: string, params: unknown[] = []): Promise<number> {
  const rows = await db.raw.query<{ n: number | string }>(sql, params);
  return Number(rows[0]!.n);
}

/** An intent for a client certificate valid for an hour, as the pipeline would record it. */
export function directIntent(serialHex: string, issuerId: string, over: Partial<CertificateIntent> = {}): CertificateIntent {
  const now = Date.now();
  return {
    serialHex,
    issuerId,
    subject: "CN=direct",
    commonName: "direct",
    names: { dns: [], ip: [], uri: [], email: [] },
    spiffeId: null,
    roles: [],
    profile: "client",
    provisionerId: "id-direct",
    provisionerName: "direct",
    identity: "direct",
    nodeId: null,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    keyAlgorithm: "P-256",
    subjectKeyId: "00",
    requestedBy: "test",
    accountId: null,
    ...over,
  };
}
