// Admin API bearer tokens. The token is 256 random bits shown once; only its SHA-256 is stored (a
// slow hash buys nothing against a 256-bit secret). Verified tokens are cached briefly so the API
// does not query the database on every call; revocation clears the local cache at once.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import type { PrismaClient } from "./database.js";
import type { Journal } from "./journal.js";

export const ADMIN_TOKEN_PREFIX = "sgt_admin_";

export interface AdminTokenInfo {
  id: string;
  name: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class AdminTokenRepository {
  readonly #cache = new Map<string, { at: number; info: AdminTokenInfo | null }>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly journal: Journal,
    private readonly cacheMs = 10_000,
  ) {}

  async create(name: string, ttlSeconds: number, actor: string): Promise<{ token: string; info: AdminTokenInfo }> {
    const token = ADMIN_TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const id = randomUUID();
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    const row = await this.journal.transact(async (tx, append) => {
      const created = await tx.adminToken.create({ data: { id, name, tokenHash: hashToken(token), expiresAt } });
      append({ event: AUDIT_EVENTS.adminTokenCreated, actor, target: `admin-token:${id}`, data: { id, name, expiresAt } });
      return created;
    });
    return { token, info: toInfo(row) };
  }

  /** The token's record if it is known, unexpired and unrevoked; null otherwise. */
  async verify(token: string): Promise<AdminTokenInfo | null> {
    if (!token.startsWith(ADMIN_TOKEN_PREFIX) || token.length > 200) return null;
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.#cache.get(hash);
    let info: AdminTokenInfo | null;
    if (hit && now - hit.at < this.cacheMs) {
      info = hit.info;
    } else {
      const row = await this.prisma.adminToken.findUnique({ where: { tokenHash: hash } });
      info = row ? toInfo(row) : null;
      if (this.#cache.size > 10_000) this.#cache.clear();
      this.#cache.set(hash, { at: now, info });
      if (info) {
        // Recorded at most once per cache period per token.
        await this.prisma.adminToken.update({ where: { id: info.id }, data: { lastUsedAt: new Date(now) } }).catch(() => undefined);
      }
    }
    if (!info || info.revokedAt || info.expiresAt.getTime() <= now) return null;
    return info;
  }

  async list(): Promise<AdminTokenInfo[]> {
    return (await this.prisma.adminToken.findMany({ orderBy: { createdAt: "asc" } })).map(toInfo);
  }

  async revoke(id: string, actor: string): Promise<boolean> {
    const done = await this.journal.transact(async (tx, append) => {
      const r = await tx.adminToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
      if (r.count === 0) return false;
      append({ event: AUDIT_EVENTS.adminTokenRevoked, actor, target: `admin-token:${id}`, data: { id } });
      return true;
    });
    this.#cache.clear();
    return done;
  }
}

function toInfo(r: { id: string; name: string; createdAt: Date; expiresAt: Date; revokedAt: Date | null; lastUsedAt: Date | null }): AdminTokenInfo {
  return { id: r.id, name: r.name, createdAt: r.createdAt, expiresAt: r.expiresAt, revokedAt: r.revokedAt, lastUsedAt: r.lastUsedAt };
}
