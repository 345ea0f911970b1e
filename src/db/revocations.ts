// The read side of revocation: what CRLs, the OCSP responder and the live feed load from storage.
// Raw SQL on the driver: CRL generation reads up to millions of rows, where Prisma's per-row object
// mapping would cost more than building the CRL itself.
import { AUDIT_EVENTS } from "../../ca/audit.js";
import type { RevokedSource } from "../../ca/crl-publisher.js";
import type { CertificateStatus, CertificateStatusSource } from "../../ca/ocsp-responder.js";
import { reasonName } from "../../ca/revocation.js";
import type { RevokedEntry } from "../../ca/x509/crl.js";
import type { RawSql } from "./migrate.js";

/** One entry of the live feed: a revocation, at its audit seq (the cursor). */
export interface FeedItem {
  cursor: string;
  serial: string;
  issuerId: string | null;
  revokedAt: string;
  reason: string;
  reasonCode: number;
  invalidityDate: string | null;
  notAfter: string | null;
  nodeId: string | null;
  identity: string | null;
  spiffeId: string | null;
  actor: string;
}

interface RevokedRow {
  serial: string;
  r: number | string;
  reason: number | null;
  inv: number | string | null;
}

const toEntry = (row: RevokedRow): RevokedEntry => ({
  serialHex: row.serial,
  revokedAt: Number(row.r),
  reason: row.reason,
  invalidityDate: row.inv === null ? null : Number(row.inv),
});

// Times as epoch milliseconds in float8: parsing a number per row is far cheaper than a Date.
const REVOKED_COLUMNS = `c.serial, (extract(epoch FROM c.revoked_at) * 1000)::float8 AS r, c.revocation_reason AS reason,
  (extract(epoch FROM c.invalidity_date) * 1000)::float8 AS inv`;

const FETCH_ROWS = 50_000;

export class RevocationStore implements RevokedSource, CertificateStatusSource {
  constructor(private readonly raw: RawSql) {}

  async highWater(): Promise<bigint> {
    const [row] = await this.raw.query<{ seq: string | number }>(`SELECT seq FROM audit_head WHERE id = 1`);
    return BigInt(row?.seq ?? 0);
  }

  /** Read through a cursor, FETCH_ROWS at a time, so a million-entry CRL never holds the whole
   * result set twice (driver rows and entries) at once. */
  async revokedUnexpired(issuerId: string, at: Date): Promise<RevokedEntry[]> {
    return this.raw.transaction(async (sql) => {
      await sql.query(
        `DECLARE revoked_rows NO SCROLL CURSOR FOR SELECT ${REVOKED_COLUMNS} FROM certificates c
         WHERE c.issuer_id = $1 AND c.revoked_at IS NOT NULL AND c.not_after > $2::timestamptz`,
        [issuerId, at.toISOString()],
      );
      const out: RevokedEntry[] = [];
      for (;;) {
        const rows = await sql.query<RevokedRow>(`FETCH ${FETCH_ROWS} FROM revoked_rows`);
        for (const r of rows) out.push(toEntry(r));
        if (rows.length < FETCH_ROWS) break;
      }
      await sql.query(`CLOSE revoked_rows`);
      return out;
    });
  }

  async revokedSince(issuerId: string, afterSeq: bigint, at: Date): Promise<RevokedEntry[]> {
    const rows = await this.raw.query<RevokedRow>(
      `SELECT DISTINCT ON (c.serial) ${REVOKED_COLUMNS} FROM audit_events e JOIN certificates c ON c.serial = e.target
       WHERE e.event = $1 AND e.seq > $2::bigint AND c.issuer_id = $3 AND c.revoked_at IS NOT NULL AND c.not_after > $4::timestamptz`,
      [AUDIT_EVENTS.certificateRevoked, afterSeq.toString(), issuerId, at.toISOString()],
    );
    return rows.map(toEntry);
  }

  async statusOf(serialHex: string): Promise<CertificateStatus | null> {
    const [row] = await this.raw.query<{ issuer_id: string; status: string; revoked_at: Date | string | null; revocation_reason: number | null; not_after: Date | string }>(
      `SELECT issuer_id, status, revoked_at, revocation_reason, not_after FROM certificates WHERE serial = $1`,
      [serialHex],
    );
    if (!row) return null;
    return {
      serialHex,
      issuerId: row.issuer_id,
      status: row.status === "valid" ? "good" : row.status === "revoked" ? "revoked" : "unknown",
      revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
      reason: row.revocation_reason,
      notAfter: new Date(row.not_after),
    };
  }

  /** Revocations after `since` (an audit seq), oldest first; `includeExpired` false drops those whose
   * certificate has expired (the cursor still moves past them). */
  async feed(since: bigint, limit: number, includeExpired = false): Promise<{ items: FeedItem[]; cursor: string; more: boolean }> {
    const rows = await this.raw.query<{ seq: string | number; time: Date | string; actor: string; target: string | null; data: unknown }>(
      `SELECT seq, time, actor, target, data FROM audit_events WHERE event = $1 AND seq > $2::bigint ORDER BY seq LIMIT $3`,
      [AUDIT_EVENTS.certificateRevoked, since.toString(), limit],
    );
    const now = Date.now();
    const items: FeedItem[] = [];
    for (const r of rows) {
      const item = feedItem(BigInt(r.seq), new Date(r.time), r.actor, r.target, (typeof r.data === "string" ? JSON.parse(r.data) : r.data) as Record<string, unknown>);
      if (includeExpired || item.notAfter === null || Date.parse(item.notAfter) > now) items.push(item);
    }
    const last = rows[rows.length - 1];
    // `more`: the page was full, whatever was filtered out of it; ask again from `cursor`.
    return { items, cursor: last ? String(last.seq) : since.toString(), more: rows.length === limit };
  }

  /** The cursor of the latest revocation (a consumer that wants only what happens from now on). */
  async latestCursor(): Promise<string> {
    const [row] = await this.raw.query<{ seq: string | number | null }>(`SELECT max(seq) AS seq FROM audit_events WHERE event = $1`, [AUDIT_EVENTS.certificateRevoked]);
    return String(row?.seq ?? 0);
  }
}

/** A feed item from a certificate.revoked audit event (stored by the authority with everything a
 * relying party needs, so the feed never joins the certificates table). */
export function feedItem(seq: bigint, time: Date, actor: string, target: string | null, d: Record<string, unknown>): FeedItem {
  const str = (v: unknown) => (typeof v === "string" ? v : null);
  const code = typeof d.reasonCode === "number" ? d.reasonCode : 0;
  return {
    cursor: seq.toString(),
    serial: str(d.serial) ?? target ?? "",
    issuerId: str(d.issuerId),
    revokedAt: str(d.revokedAt) ?? time.toISOString(),
    reason: str(d.reason) ?? reasonName(code),
    reasonCode: code,
    invalidityDate: str(d.invalidityDate),
    notAfter: str(d.notAfter),
    nodeId: str(d.nodeId),
    identity: str(d.identity),
    spiffeId: str(d.spiffeId),
    actor,
  };
}
