// Certificate queries: by serial, and filtered lists with keyset pagination (newest first).
import { SignetError } from "../../ca/errors.js";
import type { CertificateFilter, CertificateReader, CertificateRecord, Page } from "../../ca/ports.js";
import type { PrismaClient } from "./database.js";
import type { Prisma } from "./generated/client.js";
import type { RawSql } from "./migrate.js";
import { certificateFromRow } from "./rows.js";

export const MAX_PAGE = 500;

/** Every column under its Prisma field name, so raw rows map like Prisma's. */
const CERTIFICATE_COLUMNS = [
  "serial", "issuer_id", "status", "subject", "common_name", "dns_names", "ip_addresses", "uris", "emails", "spiffe_id", "roles", "profile",
  "provisioner_id", "provisioner_name", "identity", "node_id", "not_before", "not_after", "key_algorithm", "subject_key_id", "fingerprint", "der",
  "requested_by", "failure", "revoked_at", "revocation_reason", "revoked_by", "invalidity_date", "account_id", "created_at",
]
  .map((c) => {
    const field = c.replace(/_([a-z])/g, (_m, l: string) => l.toUpperCase());
    if (c === "status") return `status::text AS "status"`;
    // Prisma reads a NULL list as [].
    if (["dns_names", "ip_addresses", "uris", "emails", "roles"].includes(c)) return `COALESCE(${c}, '{}') AS "${field}"`;
    return `${c} AS "${field}"`;
  })
  .join(", ");

export class CertificateRepository implements CertificateReader {
  constructor(
    private readonly prisma: PrismaClient,
    /** Lookups by serial are on protocol hot paths (ACME download, revocation, ARI): one raw statement. */
    private readonly raw?: RawSql,
  ) {}

  async get(serialHex: string): Promise<CertificateRecord | null> {
    if (this.raw) {
      const rows = await this.raw.query<Parameters<typeof certificateFromRow>[0]>(`SELECT ${CERTIFICATE_COLUMNS} FROM certificates WHERE serial = $1`, [serialHex]);
      return rows[0] ? certificateFromRow(rows[0]) : null;
    }
    const row = await this.prisma.certificate.findUnique({ where: { serial: serialHex } });
    return row ? certificateFromRow(row) : null;
  }

  async list(filter: CertificateFilter, page: { limit: number; cursor?: string | undefined }): Promise<Page<CertificateRecord>> {
    const limit = Math.min(Math.max(1, page.limit), MAX_PAGE);
    const where: Prisma.CertificateWhereInput = {};
    if (filter.status) where.status = filter.status;
    if (filter.identity) where.identity = filter.identity;
    if (filter.nodeId) where.nodeId = filter.nodeId;
    if (filter.spiffeId) where.spiffeId = filter.spiffeId;
    if (filter.provisioner) where.provisionerName = filter.provisioner;
    if (filter.commonName) where.commonName = filter.commonName;
    if (filter.dnsName) where.dnsNames = { has: filter.dnsName.toLowerCase() };
    if (filter.expiresAfter || filter.expiresBefore) {
      where.notAfter = { ...(filter.expiresAfter ? { gte: filter.expiresAfter } : {}), ...(filter.expiresBefore ? { lt: filter.expiresBefore } : {}) };
    }
    let cursorSerial: string | undefined;
    if (page.cursor) {
      cursorSerial = Buffer.from(page.cursor, "base64url").toString("utf8");
      if (!/^[0-9a-f]{2,40}$/.test(cursorSerial)) throw new SignetError("bad_request", "the page cursor is not valid");
    }
    const rows = await this.prisma.certificate.findMany({
      where,
      orderBy: [{ createdAt: "desc" }, { serial: "desc" }],
      take: limit + 1,
      ...(cursorSerial ? { cursor: { serial: cursorSerial }, skip: 1 } : {}),
    });
    const items = rows.slice(0, limit).map(certificateFromRow);
    const next = rows.length > limit ? Buffer.from(items[items.length - 1]!.serialHex).toString("base64url") : null;
    return { items, next };
  }
}
