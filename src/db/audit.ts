// Reading the audit chain back: pages of events and a full verification walk.
import { verifyChain, type ChainVerdict } from "../../ca/audit.js";
import type { StoredAuditEvent } from "../../ca/ports.js";
import type { PrismaClient } from "./database.js";
import type { AuditEvent } from "./generated/client.js";

const WALK_PAGE = 2_000;

export function eventFromRow(r: AuditEvent): StoredAuditEvent {
  return {
    seq: r.seq,
    time: r.time,
    event: r.event,
    actor: r.actor,
    target: r.target,
    data: r.data as Record<string, unknown>,
    prevHash: r.prevHash,
    hash: r.hash,
  };
}

export class AuditRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async list(opts: { afterSeq?: bigint; limit: number; event?: string | undefined; target?: string | undefined }): Promise<StoredAuditEvent[]> {
    const rows = await this.prisma.auditEvent.findMany({
      where: {
        ...(opts.afterSeq !== undefined ? { seq: { gt: opts.afterSeq } } : {}),
        ...(opts.event ? { event: opts.event } : {}),
        ...(opts.target ? { target: opts.target } : {}),
      },
      orderBy: { seq: "asc" },
      take: Math.min(Math.max(opts.limit, 1), 1000),
    });
    return rows.map(eventFromRow);
  }

  async *walk(): AsyncGenerator<StoredAuditEvent> {
    let after = 0n;
    for (;;) {
      const rows = await this.prisma.auditEvent.findMany({ where: { seq: { gt: after } }, orderBy: { seq: "asc" }, take: WALK_PAGE });
      for (const r of rows) yield eventFromRow(r);
      if (rows.length < WALK_PAGE) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  async verify(): Promise<ChainVerdict> {
    const head = await this.prisma.auditHead.findUnique({ where: { id: 1 } });
    return verifyChain(this.walk(), { seq: head?.seq ?? 0n, hash: head?.hash ?? "" });
  }
}
