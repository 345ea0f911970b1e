// In-memory twins of the storage ports, for unit tests of ca/ (STYLE.md practice 9). They keep the
// same contracts as src/db: serial uniqueness, pending → valid/failed, valid → revoked, one audit chain.
import { chainEvents, GENESIS_HASH } from "../../ca/audit.js";
import type { NamePolicy } from "../../ca/policy/index.js";
import {
  SerialConflict,
  type AuditEventInput,
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

export class MemoryLedger implements IssuanceLedger, CertificateReader {
  readonly certs = new Map<string, CertificateRecord>();
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

  async revoke(serial: string, reason: number, at: Date, audit: AuditEventInput): Promise<CertificateRecord | null> {
    const c = this.certs.get(serial);
    if (!c || c.status !== "valid") return null;
    Object.assign(c, { status: "revoked", revokedAt: at, revocationReason: reason, revokedBy: audit.actor });
    this.#append(audit);
    return c;
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
