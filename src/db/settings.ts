// The authority-wide name policy, kept as data so that it is changed (and audited) through the API.
import { AUDIT_EVENTS } from "../../ca/audit.js";
import type { NamePolicy } from "../../ca/policy/index.js";
import type { AuthorityPolicySource } from "../../ca/ports.js";
import type { PrismaClient } from "./database.js";
import type { Journal } from "./journal.js";

const KEY = "name_policy.authority";

export class AuthorityPolicyRepository implements AuthorityPolicySource {
  #cached: { at: number; policy: NamePolicy; version: number } | null = null;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly journal: Journal,
    private readonly ttlMs = 5_000,
  ) {}

  /** Returns the same object until it changes, so compiled forms can be cached by identity. */
  async get(): Promise<NamePolicy> {
    return (await this.current()).policy;
  }

  async current(): Promise<{ policy: NamePolicy; version: number }> {
    const c = this.#cached;
    if (c && Date.now() - c.at < this.ttlMs) return c;
    const row = await this.prisma.setting.findUnique({ where: { key: KEY } });
    const version = row?.version ?? 0;
    if (c && c.version === version) {
      c.at = Date.now();
      return c;
    }
    this.#cached = { at: Date.now(), policy: (row?.value as NamePolicy | undefined) ?? {}, version };
    return this.#cached;
  }

  async put(policy: NamePolicy, actor: string): Promise<{ policy: NamePolicy; version: number }> {
    const row = await this.journal.transact(async (tx, append) => {
      const before = await tx.setting.findUnique({ where: { key: KEY } });
      const saved = await tx.setting.upsert({
        where: { key: KEY },
        create: { key: KEY, value: policy as object, version: 1 },
        update: { value: policy as object, version: { increment: 1 } },
      });
      append({ event: AUDIT_EVENTS.policyUpdated, actor, target: "policy:authority", data: { before: before?.value ?? {}, after: policy, version: saved.version } });
      return saved;
    });
    this.#cached = null;
    return { policy: row.value as NamePolicy, version: row.version };
  }
}
