// Certificate queries: by serial, and filtered lists with keyset pagination (newest first).
import { SignetError } from "../../ca/errors.js";
import type { CertificateFilter, CertificateReader, CertificateRecord, Page } from "../../ca/ports.js";
import type { PrismaClient } from "./database.js";
import type { Prisma } from "./generated/client.js";
import { certificateFromRow } from "./rows.js";

export const MAX_PAGE = 500;

export class CertificateRepository implements CertificateReader {
  constructor(private readonly prisma: PrismaClient) {}

  async get(serialHex: string): Promise<CertificateRecord | null> {
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
