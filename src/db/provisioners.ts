// Provisioner records: idempotent upsert by name (for Terraform's REST providers and Ansible's uri
// module), delete, list; and a short-lived read cache for the issuance hot path.
import { randomUUID } from "node:crypto";
import { AUDIT_EVENTS, canonicalJson } from "../../ca/audit.js";
import { SignetError } from "../../ca/errors.js";
import type { NamePolicy } from "../../ca/policy/index.js";
import type { ProvisionerRecord, ProvisionerSource } from "../../ca/ports.js";
import type { ProvisionerInput } from "../../ca/provisioners/index.js";
import type { PrismaClient } from "./database.js";
import type { Journal } from "./journal.js";
import { provisionerFromRow } from "./rows.js";

export interface UpsertResult {
  provisioner: ProvisionerRecord;
  created: boolean;
  changed: boolean;
}

const FIELDS = ["type", "profile", "defaultLifetimeSeconds", "maxLifetimeSeconds", "policy", "options", "enabled"] as const;

export class ProvisionerRepository implements ProvisionerSource {
  readonly #cache = new Map<string, { at: number; record: ProvisionerRecord | null }>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly journal: Journal,
    /** How long a cached record is trusted; other replicas' changes show within this time. */
    private readonly ttlMs = 5_000,
  ) {}

  async get(name: string): Promise<ProvisionerRecord | null> {
    const hit = this.#cache.get(name);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.record;
    const row = await this.prisma.provisioner.findUnique({ where: { name } });
    const record = row ? provisionerFromRow(row) : null;
    // Unknown names are cached too (they cost a query each), so the cache is bounded.
    if (this.#cache.size >= 1_000) this.#cache.clear();
    this.#cache.set(name, { at: Date.now(), record });
    return record;
  }

  async list(): Promise<ProvisionerRecord[]> {
    return (await this.prisma.provisioner.findMany({ orderBy: { name: "asc" } })).map(provisionerFromRow);
  }

  async upsert(input: ProvisionerInput, actor: string): Promise<UpsertResult> {
    const result = await this.journal.transact(async (tx, append) => {
      const existing = await tx.provisioner.findUnique({ where: { name: input.name } });
      if (!existing) {
        const row = await tx.provisioner.create({
          data: { id: randomUUID(), ...input, policy: input.policy as object, options: input.options as object },
        });
        append({ event: AUDIT_EVENTS.provisionerCreated, actor, target: input.name, data: { provisioner: describe(input) } });
        return { provisioner: provisionerFromRow(row), created: true, changed: true };
      }
      const before = provisionerFromRow(existing);
      const changedFields = FIELDS.filter((f) => canonicalJson(before[f]) !== canonicalJson(input[f]));
      if (changedFields.length === 0) return { provisioner: before, created: false, changed: false };
      if (existing.type !== input.type) {
        throw new SignetError("conflict", `provisioner ${input.name} is of type ${existing.type}; a provisioner's type cannot change (delete it and create a new one)`);
      }
      const row = await tx.provisioner.update({
        where: { name: input.name },
        data: { ...input, policy: input.policy as object, options: input.options as object, version: { increment: 1 } },
      });
      append({
        event: AUDIT_EVENTS.provisionerUpdated,
        actor,
        target: input.name,
        data: { changed: changedFields, before: describe(before), after: describe(input), version: row.version },
      });
      return { provisioner: provisionerFromRow(row), created: false, changed: true };
    });
    this.#cache.delete(input.name);
    return result;
  }

  /** Replaces only the policy, reading the current record inside the transaction (no lost update). */
  async updatePolicy(name: string, policy: NamePolicy, actor: string): Promise<{ policy: NamePolicy; version: number }> {
    const result = await this.journal.transact(async (tx, append) => {
      const rows = await tx.$queryRawUnsafe<{ policy: unknown }[]>(`SELECT policy FROM provisioners WHERE name = $1 FOR UPDATE`, name);
      if (rows.length === 0) throw new SignetError("unknown_provisioner", `no provisioner named ${name}`);
      const before = rows[0]!.policy;
      if (canonicalJson(before) === canonicalJson(policy)) {
        const row = await tx.provisioner.findUniqueOrThrow({ where: { name } });
        return { policy: row.policy as NamePolicy, version: row.version };
      }
      const row = await tx.provisioner.update({ where: { name }, data: { policy: policy as object, version: { increment: 1 } } });
      append({ event: AUDIT_EVENTS.provisionerUpdated, actor, target: name, data: { changed: ["policy"], before: { policy: before }, after: { policy }, version: row.version } });
      return { policy: row.policy as NamePolicy, version: row.version };
    });
    this.#cache.delete(name);
    return result;
  }

  async delete(name: string, actor: string): Promise<boolean> {
    const deleted = await this.journal.transact(async (tx, append) => {
      const existing = await tx.provisioner.findUnique({ where: { name } });
      if (!existing) return false;
      await tx.provisioner.delete({ where: { name } });
      append({ event: AUDIT_EVENTS.provisionerDeleted, actor, target: name, data: { provisioner: describe(provisionerFromRow(existing)) } });
      return true;
    });
    this.#cache.delete(name);
    return deleted;
  }
}

function describe(p: Pick<ProvisionerRecord, (typeof FIELDS)[number]>): Record<string, unknown> {
  // Options may one day hold secrets (a SCEP challenge): only their keys go into the audit trail.
  return {
    type: p.type,
    profile: p.profile,
    defaultLifetimeSeconds: p.defaultLifetimeSeconds,
    maxLifetimeSeconds: p.maxLifetimeSeconds,
    policy: p.policy,
    optionKeys: Object.keys(p.options).sort(),
    enabled: p.enabled,
  };
}
