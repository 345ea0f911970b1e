// The inference proxy's control-plane state over raw SQL: partner access tokens (SHA-256 only),
// routes defined through the admin API, and the per-minute usage proxies report. Tables:
// prisma/schema.prisma (ProxyToken, ProxyRoute, ProxyUsage).
import type { RawSql } from "./migrate.js";

export interface ProxyTokenRecord {
  id: string;
  secretHash: string;
  routes: string[];
  tenant: string | null;
  note: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface ProxyRouteRecord {
  name: string;
  definition: Record<string, unknown>;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
}

export interface UsageBucket {
  /** The minute (start) the counts belong to. */
  minute: Date;
  route: string;
  caller: string;
  requests: number;
  tokens: number;
  errors: number;
}

interface TokenRow {
  id: string;
  secret_hash: string;
  routes: string[];
  tenant: string | null;
  note: string | null;
  created_by: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

const TOKEN_COLUMNS = "id, secret_hash, routes, tenant, note, created_by, created_at, expires_at, revoked_at, last_used_at";
const token = (r: TokenRow): ProxyTokenRecord => ({
  id: r.id,
  secretHash: r.secret_hash,
  routes: r.routes,
  tenant: r.tenant,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

export class SqlProxyStore {
  constructor(private readonly sql: RawSql) {}

  async createToken(t: Omit<ProxyTokenRecord, "revokedAt" | "lastUsedAt">): Promise<void> {
    await this.sql.query(`INSERT INTO proxy_tokens (id, secret_hash, routes, tenant, note, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
      t.id,
      t.secretHash,
      JSON.stringify(t.routes),
      t.tenant,
      t.note,
      t.createdBy,
      t.createdAt,
      t.expiresAt,
    ]);
  }

  async listTokens(opts: { includeInactive: boolean; now: Date; limit: number }): Promise<ProxyTokenRecord[]> {
    const rows = await this.sql.query<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM proxy_tokens WHERE $1 OR (revoked_at IS NULL AND expires_at > $2) ORDER BY created_at DESC LIMIT $3`,
      [opts.includeInactive, opts.now, opts.limit],
    );
    return rows.map(token);
  }

  async getToken(id: string): Promise<ProxyTokenRecord | null> {
    const [r] = await this.sql.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM proxy_tokens WHERE id = $1`, [id]);
    return r ? token(r) : null;
  }

  /** Revokes a token that is not revoked yet; null when unknown or already revoked. */
  async revokeToken(id: string, at: Date): Promise<ProxyTokenRecord | null> {
    const [r] = await this.sql.query<TokenRow>(`UPDATE proxy_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`, [id, at]);
    return r ? token(r) : null;
  }

  /** Records last use, never moving it backwards. */
  async touchTokens(uses: Array<{ id: string; at: Date }>): Promise<void> {
    if (uses.length === 0) return;
    await this.sql.query(
      `UPDATE proxy_tokens t SET last_used_at = x.at FROM jsonb_to_recordset($1::jsonb) AS x(id text, at timestamptz)
        WHERE t.id = x.id AND (t.last_used_at IS NULL OR t.last_used_at < x.at)`,
      [JSON.stringify(uses.map((u) => ({ id: u.id, at: u.at.toISOString() })))],
    );
  }

  async putRoute(r: ProxyRouteRecord): Promise<void> {
    await this.sql.query(
      `INSERT INTO proxy_routes (name, definition, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition, created_by = EXCLUDED.created_by, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
      [r.name, JSON.stringify(r.definition), r.createdBy, r.createdAt, r.expiresAt],
    );
  }

  async deleteRoute(name: string): Promise<boolean> {
    const rows = await this.sql.query("DELETE FROM proxy_routes WHERE name = $1 RETURNING name", [name]);
    return rows.length > 0;
  }

  async listRoutes(now: Date): Promise<ProxyRouteRecord[]> {
    const rows = await this.sql.query<{ name: string; definition: Record<string, unknown>; created_by: string; created_at: Date; expires_at: Date | null }>(
      "SELECT name, definition, created_by, created_at, expires_at FROM proxy_routes WHERE expires_at IS NULL OR expires_at > $1 ORDER BY name",
      [now],
    );
    return rows.map((r) => ({ name: r.name, definition: r.definition, createdBy: r.created_by, createdAt: r.created_at, expiresAt: r.expires_at }));
  }

  /** Adds a proxy's counts to the minute buckets (several proxies report the same minute). */
  async addUsage(buckets: UsageBucket[]): Promise<void> {
    if (buckets.length === 0) return;
    await this.sql.query(
      `INSERT INTO proxy_usage (minute, route, caller, requests, tokens, errors)
       SELECT x.minute, x.route, x.caller, x.requests, x.tokens, x.errors FROM jsonb_to_recordset($1::jsonb) AS x(minute timestamptz, route text, caller text, requests int, tokens int, errors int)
       ON CONFLICT (minute, route, caller) DO UPDATE SET requests = proxy_usage.requests + EXCLUDED.requests, tokens = proxy_usage.tokens + EXCLUDED.tokens, errors = proxy_usage.errors + EXCLUDED.errors`,
      [JSON.stringify(buckets.map((b) => ({ ...b, minute: b.minute.toISOString() })))],
    );
  }

  async usage(since: Date, until: Date, limit: number): Promise<UsageBucket[]> {
    const rows = await this.sql.query<{ minute: Date; route: string; caller: string; requests: number; tokens: number; errors: number }>(
      "SELECT minute, route, caller, requests, tokens, errors FROM proxy_usage WHERE minute >= $1 AND minute < $2 ORDER BY minute, route, caller LIMIT $3",
      [since, until, limit],
    );
    return rows;
  }

  /** A digest of everything a proxy reads (routes and token states): it changes when they do. */
  async stateVersion(now: Date): Promise<string> {
    const [r] = await this.sql.query<{ v: string | null }>(
      `SELECT md5(coalesce((SELECT string_agg(id || ':' || coalesce(revoked_at::text, '') || ':' || expires_at::text, ',' ORDER BY id) FROM proxy_tokens WHERE expires_at > $1), '')
              || '|' || coalesce((SELECT string_agg(name || ':' || created_at::text || ':' || coalesce(expires_at::text, ''), ',' ORDER BY name) FROM proxy_routes WHERE expires_at IS NULL OR expires_at > $1), '')) AS v`,
      [now],
    );
    return r?.v ?? "";
  }

  async purge(before: Date): Promise<void> {
    await this.sql.query("DELETE FROM proxy_routes WHERE expires_at IS NOT NULL AND expires_at < $1", [before]);
    await this.sql.query("DELETE FROM proxy_usage WHERE minute < $1", [new Date(before.getTime() - 30 * 86_400_000)]);
  }
}
