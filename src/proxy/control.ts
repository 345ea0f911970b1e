// The inference proxy's control plane, on Signet's side: partner access tokens, routes defined
// through the admin API, the state every proxy follows (a long poll that answers as soon as a token
// is revoked or a route changes), and the usage proxies report. Proxies hold no database
// credentials: they read this over the admin API.
import { randomBytes, randomUUID } from "node:crypto";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import { sha256hex } from "../../ca/digest.js";
import { isSignetError, SignetError } from "../../ca/errors.js";
import type { AuditLog } from "../../ca/ports.js";
import type { ProxyRouteRecord, ProxyTokenRecord, SqlProxyStore, UsageBucket } from "../db/proxy-store.js";
import { parseRoute, ROUTE_NAME } from "./config.js";

export interface ProxyState {
  version: string;
  routes: Array<Record<string, unknown>>;
  /** Tokens that are live (not revoked, not expired): SHA-256 of the secret, never the secret. */
  tokens: Array<{ id: string; hash: string; routes: string[]; tenant: string | null; expiresAt: string }>;
}

export interface CreatedProxyToken {
  id: string;
  /** Shown once. */
  token: string;
  routes: string[];
  tenant: string | null;
  expiresAt: Date;
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export class ProxyControl {
  readonly #waiters = new Set<() => void>();

  constructor(
    private readonly store: SqlProxyStore,
    private readonly audit: AuditLog,
    private readonly maxTtlSeconds: number,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async createToken(input: { routes: string[]; ttlSeconds: number; tenant?: string | undefined; note?: string | undefined }, actor: string): Promise<CreatedProxyToken> {
    if (!Array.isArray(input.routes) || input.routes.length === 0 || input.routes.length > 64 || !input.routes.every((r) => typeof r === "string" && ROUTE_NAME.test(r))) {
      throw new SignetError("bad_request", "routes must be 1-64 route names");
    }
    if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds < 60) throw new SignetError("bad_request", "ttlSeconds is required: every access token expires (at least 60 s)");
    if (input.ttlSeconds > this.maxTtlSeconds) {
      throw new SignetError("bad_lifetime", `an access token may live at most ${this.maxTtlSeconds} s (SIGNET_PROXY_TOKEN_MAX_TTL); asked for ${input.ttlSeconds} s`, { detail: { max: this.maxTtlSeconds } });
    }
    if (input.tenant !== undefined && !TENANT.test(input.tenant)) throw new SignetError("bad_request", "tenant must be 1-128 of A-Z a-z 0-9 . _ -");
    const now = this.clock();
    const id = randomUUID();
    const token = `spt_${randomBytes(32).toString("base64url")}`;
    const rec = { id, secretHash: sha256hex(token), routes: [...new Set(input.routes)], tenant: input.tenant ?? null, note: input.note ?? null, createdBy: actor, createdAt: now, expiresAt: new Date(now.getTime() + input.ttlSeconds * 1000) };
    await this.store.createToken(rec);
    await this.audit.append({ event: AUDIT_EVENTS.proxyTokenCreated, actor, target: id, data: { routes: rec.routes, tenant: rec.tenant, expiresAt: rec.expiresAt.toISOString(), note: rec.note } });
    this.#changed();
    return { id, token, routes: rec.routes, tenant: rec.tenant, expiresAt: rec.expiresAt };
  }

  listTokens(includeInactive: boolean): Promise<ProxyTokenRecord[]> {
    return this.store.listTokens({ includeInactive, now: this.clock(), limit: 1000 });
  }

  async revokeToken(id: string, actor: string): Promise<ProxyTokenRecord> {
    const rec = await this.store.revokeToken(id, this.clock());
    if (!rec) {
      const existing = await this.store.getToken(id);
      throw existing ? new SignetError("conflict", `access token ${id} was already revoked`) : new SignetError("not_found", `no access token ${id}`);
    }
    await this.audit.append({ event: AUDIT_EVENTS.proxyTokenRevoked, actor, target: id, data: { routes: rec.routes, tenant: rec.tenant } });
    this.#changed();
    return rec;
  }

  async putRoute(name: string, body: unknown, actor: string): Promise<ProxyRouteRecord> {
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new SignetError("bad_request", "a route is a JSON object");
    const definition: Record<string, unknown> = { ...(body as Record<string, unknown>), name };
    const now = this.clock();
    // The proxy checks the upstream against its own pools; here the shape.
    let route;
    try {
      route = parseRoute(definition, "route", null, now);
    } catch (err) {
      // The same checks as the config file's; here it is the caller's request that is wrong.
      if (isSignetError(err, "config_invalid")) throw new SignetError("bad_request", err.message, { detail: err.detail });
      throw err;
    }
    const { ttlSeconds: _ttl, ...stored } = definition;
    const rec: ProxyRouteRecord = { name, definition: { ...stored, ...(route.expiresAt ? { expiresAt: route.expiresAt.toISOString() } : {}) }, createdBy: actor, createdAt: now, expiresAt: route.expiresAt };
    await this.store.putRoute(rec);
    await this.audit.append({ event: AUDIT_EVENTS.proxyRoutePut, actor, target: name, data: { definition: rec.definition } });
    this.#changed();
    return rec;
  }

  async deleteRoute(name: string, actor: string): Promise<void> {
    if (!(await this.store.deleteRoute(name))) throw new SignetError("not_found", `no route ${name} defined through the admin API`);
    await this.audit.append({ event: AUDIT_EVENTS.proxyRouteDeleted, actor, target: name, data: {} });
    this.#changed();
  }

  listRoutes(): Promise<ProxyRouteRecord[]> {
    return this.store.listRoutes(this.clock());
  }

  async state(): Promise<ProxyState> {
    const now = this.clock();
    const [version, routes, tokens] = await Promise.all([this.store.stateVersion(now), this.store.listRoutes(now), this.store.listTokens({ includeInactive: false, now, limit: 100_000 })]);
    return {
      version,
      routes: routes.map((r) => r.definition),
      tokens: tokens.map((t) => ({ id: t.id, hash: t.secretHash, routes: t.routes, tenant: t.tenant, expiresAt: t.expiresAt.toISOString() })),
    };
  }

  /** The state once its version differs from `known` (at most `waitMs` later; then the same state).
   * Changes made through this process wake it at once; other replicas' within 250 ms. */
  async stateAfter(known: string | null, waitMs: number, signal?: AbortSignal): Promise<ProxyState> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const version = await this.store.stateVersion(this.clock());
      if (known === null || version !== known || Date.now() >= deadline || signal?.aborted) return this.state();
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.#waiters.delete(done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        const t = setTimeout(done, Math.min(250, Math.max(0, deadline - Date.now())));
        this.#waiters.add(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  async report(input: { tokens?: Array<{ id: string; at: string }>; buckets?: UsageBucket[] }): Promise<void> {
    const uses = (input.tokens ?? []).slice(0, 10_000).map((u) => ({ id: u.id, at: new Date(u.at) })).filter((u) => !Number.isNaN(u.at.getTime()));
    await this.store.touchTokens(uses);
    await this.store.addUsage((input.buckets ?? []).slice(0, 10_000).map((b) => ({ ...b, minute: new Date(b.minute) })));
  }

  /** Requests, tokens and errors per route and per caller between two times, and the minute series. */
  async summary(since: Date, until: Date) {
    const rows = await this.store.usage(since, until, 100_000);
    const add = (m: Map<string, { requests: number; tokens: number; errors: number }>, k: string, r: UsageBucket) => {
      const x = m.get(k) ?? { requests: 0, tokens: 0, errors: 0 };
      x.requests += r.requests;
      x.tokens += r.tokens;
      x.errors += r.errors;
      m.set(k, x);
    };
    const routes = new Map<string, { requests: number; tokens: number; errors: number }>();
    const callers = new Map<string, { requests: number; tokens: number; errors: number }>();
    for (const r of rows) {
      add(routes, r.route, r);
      add(callers, r.caller, r);
    }
    return {
      since: since.toISOString(),
      until: until.toISOString(),
      routes: Object.fromEntries(routes),
      callers: Object.fromEntries(callers),
      series: rows.map((r) => ({ ...r, minute: r.minute.toISOString() })),
    };
  }

  purge(): Promise<void> {
    return this.store.purge(this.clock());
  }

  #changed(): void {
    for (const w of [...this.#waiters]) w();
  }
}
