// In-memory twins of the storage ports, for unit tests of ca/ (STYLE.md practice 9). They keep the
// same contracts as src/db: serial uniqueness, pending → valid/failed, valid → revoked, one audit chain.
import { chainEvents, GENESIS_HASH } from "../../ca/audit.js";
import type { NamePolicy } from "../../ca/policy/index.js";
import { blockedError } from "../../ca/authority.js";
import {
  SerialConflict,
  matchBlock,
  type AuditEventInput,
  type BlockList,
  type BlockTarget,
  type EnrolmentBlock,
  type EnrolmentSubject,
  type Revocation,
  type AuthorityPolicySource,
  type CertificateFilter,
  type CertificateIntent,
  type CertificateReader,
  type CertificateRecord,
  type IssuanceLedger,
  type Page,
  type ProvisionerRecord,
  type ProvisionerSource,
  type StoredAuditEvent,
} from "../../ca/ports.js";

export class MemoryLedger implements IssuanceLedger, CertificateReader, BlockList {
  readonly certs = new Map<string, CertificateRecord>();
  /** Enrolment blocks keyed "kind\0value", as matchBlock expects. */
  readonly blocks = new Map<string, EnrolmentBlock>();
  readonly events: StoredAuditEvent[] = [];
  head = { seq: 0n, hash: GENESIS_HASH };
  /** Set to make the next call of that kind throw (simulating a database failure). */
  failNext: { intent?: boolean; issued?: boolean } = {};

  #append(e: AuditEventInput): void {
    const [stored] = chainEvents(this.head, [e], new Date());
    this.events.push(stored!);
    this.head = { seq: stored!.seq, hash: stored!.hash };
  }

  async recordIntent(intent: CertificateIntent, audit: AuditEventInput): Promise<void> {
    if (this.failNext.intent) {
      this.failNext.intent = false;
      throw new Error("simulated database failure");
    }
    const block = matchBlock(this.blocks, intent);
    if (block) throw blockedError(block);
    if (this.certs.has(intent.serialHex)) throw new SerialConflict(intent.serialHex);
    this.certs.set(intent.serialHex, {
      ...structuredClone(intent),
      status: "pending",
      fingerprint: null,
      der: null,
      failure: null,
      revokedAt: null,
      revocationReason: null,
      revokedBy: null,
      invalidityDate: null,
      createdAt: new Date(),
    });
    this.#append(audit);
  }

  async recordIssued(serial: string, der: Buffer, fingerprint: string, audit: AuditEventInput): Promise<void> {
    if (this.failNext.issued) {
      this.failNext.issued = false;
      throw new Error("simulated database failure");
    }
    const c = this.certs.get(serial);
    if (!c || c.status !== "pending") throw new Error(`certificate ${serial} is not pending`);
    Object.assign(c, { status: "valid", der, fingerprint });
    this.#append(audit);
  }

  async recordFailure(serial: string, reason: string, audit: AuditEventInput): Promise<void> {
    const c = this.certs.get(serial);
    if (!c || c.status !== "pending") return;
    Object.assign(c, { status: "failed", failure: reason });
    this.#append(audit);
  }

  async revoke(serial: string, r: Revocation, audit: AuditEventInput): Promise<CertificateRecord | null> {
    const c = this.certs.get(serial);
    if (!c || c.status !== "valid") return null;
    Object.assign(c, { status: "revoked", revokedAt: r.at, revocationReason: r.reason, revokedBy: r.actor, invalidityDate: r.invalidityDate });
    this.#append(audit);
    return c;
  }

  async revokeAndBlock(
    target: BlockTarget,
    r: Revocation,
    blockReason: string,
    auditFor: (c: CertificateRecord) => AuditEventInput,
    blockAudit: AuditEventInput,
  ): Promise<{ revoked: CertificateRecord[]; block: EnrolmentBlock }> {
    const key = `${target.kind}\0${target.value}`;
    const block = this.blocks.get(key) ?? { ...target, reason: blockReason, createdBy: r.actor, createdAt: r.at };
    this.blocks.set(key, block);
    const matches = (c: CertificateRecord) =>
      target.kind === "node" ? c.nodeId === target.value : target.kind === "account" ? c.accountId === target.value : c.identity === target.value || c.spiffeId === target.value;
    const revoked: CertificateRecord[] = [];
    for (const c of this.certs.values()) {
      if ((c.status === "valid" || c.status === "pending") && c.notAfter > r.at && matches(c)) {
        Object.assign(c, { status: "revoked", revokedAt: r.at, revocationReason: r.reason, revokedBy: r.actor, invalidityDate: r.invalidityDate });
        revoked.push(c);
        this.#append(auditFor(c));
      }
    }
    this.#append(blockAudit);
    return { revoked, block };
  }

  async unblock(target: BlockTarget, audit: AuditEventInput): Promise<EnrolmentBlock | null> {
    const key = `${target.kind}\0${target.value}`;
    const b = this.blocks.get(key);
    if (!b) return null;
    this.blocks.delete(key);
    this.#append(audit);
    return b;
  }

  find(subject: EnrolmentSubject): EnrolmentBlock | null {
    return matchBlock(this.blocks, subject);
  }

  async get(serial: string): Promise<CertificateRecord | null> {
    return this.certs.get(serial) ?? null;
  }

  async list(filter: CertificateFilter, page: { limit: number }): Promise<Page<CertificateRecord>> {
    const items = [...this.certs.values()].filter((c) => (!filter.status || c.status === filter.status) && (!filter.identity || c.identity === filter.identity));
    return { items: items.slice(0, page.limit), next: null };
  }
}

export class MemoryProvisioners implements ProvisionerSource {
  readonly records = new Map<string, ProvisionerRecord>();

  add(p: Partial<ProvisionerRecord> & { name: string }): ProvisionerRecord {
    const r: ProvisionerRecord = {
      id: `id-${p.name}`,
      type: "admin",
      profile: "client",
      defaultLifetimeSeconds: 24 * 3600,
      maxLifetimeSeconds: 30 * 86400,
      policy: {},
      options: { allowedProfiles: ["client", "server", "client-server"] },
      enabled: true,
      version: 1,
      createdAt: new Date(),
      updatedAt: new Date(),
      ...p,
    };
    this.records.set(r.name, r);
    return r;
  }

  async get(name: string): Promise<ProvisionerRecord | null> {
    return this.records.get(name) ?? null;
  }
}

export class MemoryPolicy implements AuthorityPolicySource {
  policy: NamePolicy = {};
  async get(): Promise<NamePolicy> {
    return this.policy;
  }
}
