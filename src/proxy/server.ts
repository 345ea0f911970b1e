// The inference proxy: one place every inference request passes. Per request:
//   route (host + longest path prefix) → caller (client certificate, or an access token where the
//   route allows one) → operation and body checks (content type, size, the OpenAI schema, the
//   context window) → policy (Cedar: endpoint, tenant, action) → rate limits (requests and LLM tokens
//   per identity, tenant and route) → an upstream target (health, balancing, affinity; a retry only
//   when nothing was sent) → the answer, checked (a malformed one is a 502) or streamed through
//   unbuffered → token usage reconciled → one hash-chained audit record, metrics, usage counts.
// Revocations arrive from Signet's live feed: the certificate is refused from then on, and every open
// connection that presented it is closed.
import { createHash, randomUUID } from "node:crypto";
import { createServer as createTlsServer, type Server, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { sha256hex } from "../../ca/digest.js";
import type { ProxyPolicy } from "./authz.js";
import type { InferenceAudit, InferenceRecord } from "./audit.js";
import { parseRoute, type LimitSpec, type ProxyConfig, type RouteConfig } from "./config.js";
import type { ProxyState } from "./control.js";
import { certificateCaller, tokenCaller, type Caller } from "./identity.js";
import type { Limiter, LimitResult, Rate } from "./limits.js";
import type { ProxyMetrics } from "./metrics.js";
import { headerValue, HttpError } from "./http1.js";
import { UpstreamError, type Cancellation, type UpstreamReply } from "./http1-client.js";
import { BodyTooLarge, ClientGone, Connection, type Http1Request, type Http1Response } from "./http1-server.js";
import { checkRequest, checkResponse, InvalidRequest, operationOf, SseFollower, type CheckedRequest, type Usage } from "./openai.js";
import { connectFailure, UpstreamPool, type Target } from "./upstreams.js";

export interface ProxyDeps {
  config: ProxyConfig;
  log: Logger;
  limiter: Limiter;
  audit: InferenceAudit;
  metrics: ProxyMetrics;
  policy: () => ProxyPolicy;
  tls: { key: string | Buffer; cert: string; ca: string; ticketKeys?: Buffer };
}

interface LiveToken {
  id: string;
  routes: ReadonlySet<string>;
  tenant: string | null;
  expiresAt: number;
}

interface LimitPlan {
  requests: { keys: string[]; rates: Rate[] };
  tokens: { keys: string[]; rates: Rate[] };
  requestBurst: number;
  tokenBurst: number;
}

/** Limit plans kept per route before the oldest are forgotten. */
const MAX_PLANS = 10_000;

interface Bucket {
  minute: number;
  route: string;
  caller: string;
  requests: number;
  tokens: number;
  errors: number;
}

const MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const DEFAULT_COMPLETION_ESTIMATE = 256;
/** The request headers an upstream gets from the client (plus the affinity header, if any): no
 * credentials, no hop-by-hop or Expect headers, nothing a client could spoof (forwarding headers,
 * Signet's own), and no compression (the proxy checks the answers it passes on). */
const FORWARDED = new Set(["content-type", "accept", "user-agent", "x-request-id", "openai-organization", "openai-project"]);
/** How far the upstream's reported usage may exceed the route's context window before it is
 * treated as nonsense (n completions of a full window at most). */
const MAX_USAGE_WINDOWS = 16;

/** Cancels an upstream exchange (the client sets the hook). */
function cancel(c: Cancellation): void {
  if (c.cancelled) return;
  c.cancelled = true;
  c.hook?.();
}

const LIMITS = { maxHeadBytes: 16 * 1024, headersTimeoutMs: 30_000, idleMs: 75_000 };

/** Refusals: an OpenAI-style error body with a reason code. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly cause_: string = code,
  ) {
    super(message);
  }
}

export class InferenceProxy {
  readonly server: Server;
  #fileRoutes: RouteConfig[];
  #routes: RouteConfig[];
  readonly #pools = new Map<string, UpstreamPool>();
  #tokens = new Map<string, LiveToken>();
  readonly #revoked = new Set<string>();
  readonly #sockets = new Map<string, Set<TLSSocket>>();
  readonly #open = new Set<TLSSocket>();
  readonly #usage = new Map<string, Bucket>();
  readonly #tokenUses = new Map<string, number>();
  /** Limit plans by route (a route replaced by new state starts afresh) and caller. */
  readonly #plans = new WeakMap<RouteConfig, Map<string, LimitPlan>>();
  #stateVersion: string | null = null;
  #stateAt = 0;
  /** Per-minute counts are kept only when something reports them (drainUsage). */
  reportsUsage = false;

  constructor(private readonly d: ProxyDeps) {
    for (const u of d.config.upstreams) this.#pools.set(u.name, new UpstreamPool(u, d.log, (target, healthy) => d.metrics.upstreamHealthy.set({ upstream: u.name, target }, healthy ? 1 : 0)));
    this.#fileRoutes = d.config.routes;
    this.#routes = sortRoutes(this.#fileRoutes);
    this.server = createTlsServer(
      {
        key: d.tls.key,
        cert: d.tls.cert,
        ca: d.tls.ca,
        requestCert: true,
        // Token routes take callers without a certificate; mTLS routes check socket.authorized.
        rejectUnauthorized: false,
        minVersion: "TLSv1.2",
        ...(d.tls.ticketKeys ? { ticketKeys: d.tls.ticketKeys } : {}),
        sessionTimeout: 3600,
        ALPNProtocols: ["http/1.1"],
      },
      (socket) => {
        if (!this.#track(socket)) return;
        this.#open.add(socket);
        socket.once("close", () => this.#open.delete(socket));
        new Connection(socket, (req, res) => void this.#handle(req, res), LIMITS);
      },
    );
    this.server.on("tlsClientError", () => undefined);
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve((this.server.address() as { port: number }).port));
    });
  }

  /** A new server certificate (renewal) without dropping connections. */
  setCertificate(key: string | Buffer, cert: string, ca: string): void {
    this.server.setSecureContext({ key, cert, ca, minVersion: "TLSv1.2" } as Parameters<Server["setSecureContext"]>[0]);
    // The session-ticket keys stay (shared by a cluster's workers): sessions resume across renewals.
    if (this.d.tls.ticketKeys) this.server.setTicketKeys(this.d.tls.ticketKeys);
  }

  // -- revocation ---------------------------------------------------------------------------

  /** false: the connection presented a revoked certificate and is closed. */
  #track(socket: TLSSocket): boolean {
    const caller = certificateCaller(socket);
    if (!caller?.serial) return true;
    if (this.#revoked.has(caller.serial)) {
      socket.destroy();
      return false;
    }
    let set = this.#sockets.get(caller.serial);
    if (!set) this.#sockets.set(caller.serial, (set = new Set()));
    set.add(socket);
    socket.once("close", () => {
      set!.delete(socket);
      if (set!.size === 0) this.#sockets.delete(caller.serial!);
    });
    return true;
  }

  /** A certificate is revoked: refused from now on, and its open connections are closed. */
  revoke(serial: string): void {
    const s = serial.toLowerCase();
    if (!this.#revoked.has(s)) {
      this.#revoked.add(s);
      this.d.metrics.revocationsKnown.set(this.#revoked.size);
    }
    const open = this.#sockets.get(s);
    if (open) {
      for (const sock of open) sock.destroy();
      this.d.metrics.connectionsClosed.inc(open.size);
      this.#sockets.delete(s);
    }
  }

  get revokedCount(): number {
    return this.#revoked.size;
  }

  // -- control-plane state --------------------------------------------------------------------

  get stateVersion(): string | null {
    return this.#stateVersion;
  }

  /** Routes and tokens from Signet's admin API (the file's routes stay; an API route cannot replace
   * one of them). */
  applyState(state: ProxyState): void {
    const now = Date.now();
    const tokens = new Map<string, LiveToken>();
    for (const t of state.tokens) tokens.set(t.hash, { id: t.id, routes: new Set(t.routes), tenant: t.tenant, expiresAt: Date.parse(t.expiresAt) });
    this.#tokens = tokens;
    const fileNames = new Set(this.#fileRoutes.map((r) => r.name));
    const api: RouteConfig[] = [];
    for (const def of state.routes) {
      try {
        const r = parseRoute(def, `route ${String(def.name)}`, new Set(this.#pools.keys()), new Date(now));
        if (!fileNames.has(r.name)) api.push(r);
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message }, "an admin API route cannot be served by this proxy; skipped");
      }
    }
    this.#routes = sortRoutes([...this.#fileRoutes, ...api]);
    this.#stateVersion = state.version;
    this.#stateAt = now;
  }

  /** Token last uses and per-minute counts since the last call (for the usage report). */
  drainUsage(): { tokens: Array<{ id: string; at: string }>; buckets: Array<Omit<Bucket, "minute"> & { minute: string }> } {
    const tokens = [...this.#tokenUses].map(([id, at]) => ({ id, at: new Date(at).toISOString() }));
    this.#tokenUses.clear();
    const buckets = [...this.#usage.values()].map((b) => ({ ...b, minute: new Date(b.minute).toISOString() }));
    this.#usage.clear();
    return { tokens, buckets };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.#open) s.destroy();
    });
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
  }

  // -- the request path -----------------------------------------------------------------------

  async #handle(req: Http1Request, res: Http1Response): Promise<void> {
    const started = performance.now();
    const url = req.url;
    if (url === "/healthz") {
      res.send(200, JSON_TYPE, '{"status":"ok"}');
      return;
    }
    const rec: InferenceRecord = {
      caller: { kind: "none", id: null, serial: null, spiffeId: null, tokenId: null, tenant: null },
      route: null,
      model: null,
      operation: null,
      inputSha256: null,
      outputSha256: null,
      decision: { allow: false, code: null },
      rateLimit: { outcome: "not_checked", scope: null },
      upstream: null,
      status: 0,
      latencyMs: 0,
      usage: null,
      stream: false,
      error: null,
    };
    let route: RouteConfig | null = null;
    let caller: Caller | null = null;
    let tokenCost = 0;
    /** LLM tokens taken from the buckets and not yet accounted for: given back if nothing was sent. */
    let refundable = 0;
    let tokenKeys: { keys: string[]; rates: Rate[] } = { keys: [], rates: [] };
    try {
      // No dot segments, encoded separators or backslashes: what the route and the policy see is
      // the path the upstream gets.
      if (SUSPICIOUS_PATH.test(url)) throw new Refusal(400, "bad_path", "the path has dot segments, encoded separators or backslashes", {}, "invalid_request");
      route = this.#route(req, url);
      rec.route = route.name;
      caller = this.#authenticate(req, route);
      rec.caller = { kind: caller.kind, id: caller.id, serial: caller.serial, spiffeId: caller.spiffeId, tokenId: caller.tokenId, tenant: caller.tenant };
      // Tenant isolation does not depend on the policy file: a tenant's route serves its tenant only.
      if (route.tenant !== null && caller.tenant !== route.tenant) throw new Refusal(403, "tenant-mismatch", "the route belongs to another tenant", {}, "policy");
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      const rest = path.slice(route.pathPrefix.length);
      const operation = operationOf(req.method, rest);
      if (!operation) throw new Refusal(404, "unknown_endpoint", `${req.method} ${path} is not an OpenAI-compatible endpoint this proxy serves`);
      rec.operation = operation;
      let raw: Buffer | null = null;
      let checked: CheckedRequest;
      if (operation === "models.list") checked = checkRequest(operation, null);
      else {
        const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
        if (type !== "application/json") throw new Refusal(415, "unsupported_media_type", "requests must be application/json");
        raw = await readBody(req, route.maxBodyBytes);
        rec.inputSha256 = sha256hex(raw);
        if (route.logContent) rec.input = raw.toString("utf8");
        let body: unknown;
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          throw new Refusal(400, "invalid_json", "the body is not JSON");
        }
        try {
          checked = checkRequest(operation, body);
        } catch (err) {
          // JSON nested too deeply to measure is refused like any other malformed body.
          if (err instanceof RangeError) throw new Refusal(400, "invalid_request", "the body is nested too deeply", {}, "invalid_request");
          throw err;
        }
      }
      rec.model = checked.model;
      rec.stream = checked.stream;
      if (checked.model !== null && route.models !== null && !route.models.includes(checked.model)) {
        throw new Refusal(404, "model_not_found", `model ${JSON.stringify(checked.model.slice(0, 64))} is not served on route ${route.name}`);
      }
      const completion = checked.operation === "embeddings" ? 0 : (checked.maxTokens ?? Math.min(DEFAULT_COMPLETION_ESTIMATE, Math.max(0, route.contextWindow - checked.promptTokens)));
      if (checked.promptTokens + (checked.maxTokens ?? 0) > route.contextWindow) {
        throw new Refusal(400, "context_length_exceeded", `the prompt (about ${checked.promptTokens} tokens) and max_tokens (${checked.maxTokens ?? 0}) exceed the route's context window of ${route.contextWindow}`);
      }
      const decision = this.d.policy().decide({
        callerId: caller.id,
        auth: caller.kind,
        roles: caller.roles,
        tenant: caller.tenant,
        spiffeId: caller.spiffeId,
        route: route.name,
        routeTenant: route.tenant,
        operation,
        model: checked.model,
        maxTokens: checked.maxTokens,
        tools: checked.toolsRequested,
      });
      rec.decision = decision.allow ? { allow: true, code: null } : { allow: false, code: decision.code };
      if (!decision.allow) throw new Refusal(403, decision.code, decision.reason, {}, "policy");
      // Limits: requests first, then the token estimate; a token refusal gives the request back.
      const plan = this.#plan(route, caller);
      const reqKeys = plan.requests;
      tokenKeys = plan.tokens;
      tokenCost = checked.promptTokens + completion;
      const smallestBurst = plan.tokenBurst;
      if (tokenCost > smallestBurst) {
        tokenCost = 0;
        throw new Refusal(400, "exceeds_token_limit", `the request may use about ${checked.promptTokens + completion} LLM tokens, more than this caller may ever use at once (${smallestBurst}); lower max_tokens or the prompt`, {}, "rate_limited_tokens");
      }
      const byRequests = reqKeys.keys.length === 0 ? UNLIMITED : await this.d.limiter.take(reqKeys.keys, reqKeys.rates, 1);
      if (!byRequests.allowed) {
        rec.rateLimit = { outcome: "limited", scope: "requests" };
        throw limited(byRequests, "requests", plan.requestBurst);
      }
      const byTokens = tokenCost > 0 && tokenKeys.keys.length > 0 ? await this.d.limiter.take(tokenKeys.keys, tokenKeys.rates, tokenCost) : byRequests;
      if (!byTokens.allowed) {
        await this.d.limiter.adjust(reqKeys.keys, reqKeys.rates, -1);
        rec.rateLimit = { outcome: "limited", scope: "tokens" };
        tokenCost = 0;
        throw limited(byTokens, "tokens", plan.tokenBurst);
      }
      rec.rateLimit = { outcome: "allowed", scope: null };
      refundable = tokenCost;
      if (reqKeys.keys.length > 0) {
        res.setHeader("ratelimit-limit", String(plan.requestBurst));
        res.setHeader("ratelimit-remaining", String(byRequests.remaining));
        res.setHeader("ratelimit-reset", String(Math.ceil(byRequests.resetMs / 1000)));
      }
      const usage = await this.#forward(req, res, route, caller, checked, raw, rest, url, rec);
      refundable = 0;
      // Reconcile the estimate with what the upstream says it used (bounded: a broken upstream must
      // not lock the buckets for hours).
      if (usage) {
        rec.usage = { ...usage, estimated: false };
        const used = Math.min(usage.totalTokens, route.contextWindow * MAX_USAGE_WINDOWS);
        if (used !== tokenCost) await this.d.limiter.adjust(tokenKeys.keys, tokenKeys.rates, used - tokenCost);
        this.d.metrics.tokensUsed(route.name, this.d.metrics.caller(caller.id), usage.promptTokens, usage.completionTokens);
      } else if (rec.status >= 400 && tokenCost > 0) {
        // The upstream refused: nothing was generated.
        await this.d.limiter.adjust(tokenKeys.keys, tokenKeys.rates, -tokenCost);
      } else if (tokenCost > 0) rec.usage = { promptTokens: checked.promptTokens, completionTokens: completion, totalTokens: tokenCost, estimated: true };
    } catch (err) {
      // Nothing reached the client: the estimate goes back.
      if (refundable > 0 && !res.headersSent) await this.d.limiter.adjust(tokenKeys.keys, tokenKeys.rates, -refundable).catch(() => undefined);
      if (err instanceof ClientGone || res.closed) err = new Refusal(499, "client_closed", "the client went away", {}, "client_closed");
      const r = err instanceof Refusal ? err : err instanceof InvalidRequest ? new Refusal(err.status, err.code, err.message, {}, err.status === 502 ? "bad_upstream_response" : "invalid_request") : null;
      if (!r) {
        this.d.log.error({ err, route: route?.name }, "inference proxy request failed");
        rec.error = "internal";
      }
      const refusal = r ?? new Refusal(502, "proxy_error", "the request could not be completed");
      rec.status = refusal.status;
      rec.error ??= refusal.code;
      this.d.metrics.rejections.inc({ route: route?.name ?? "none", cause: refusal.cause_ });
      if (!res.headersSent) {
        const body = JSON.stringify({ error: { message: refusal.message, type: errorType(refusal.status), code: refusal.code } });
        res.send(refusal.status, { "content-type": "application/json", ...refusal.headers }, body);
      } else if (!res.ended) res.destroy();
    } finally {
      rec.latencyMs = Math.round((performance.now() - started) * 1000) / 1000;
      const seconds = rec.latencyMs / 1000;
      const routeName = route?.name ?? "none";
      const callerLabel = this.d.metrics.caller(caller?.id ?? null);
      this.d.metrics.count(routeName, callerLabel, rec.status, seconds);
      this.d.audit.write(rec);
      if (route && caller && this.reportsUsage) this.#count(route.name, caller.id, rec);
    }
  }

  #route(req: Http1Request, url: string): RouteConfig {
    const host = (req.headers.host ?? "").toLowerCase();
    const bare = host.replace(/:\d+$/, "");
    const now = Date.now();
    for (const r of this.#routes) {
      if (r.host !== null && r.host !== host && r.host !== bare) continue;
      if (!url.startsWith(r.pathPrefix)) continue;
      if (r.expiresAt !== null && r.expiresAt.getTime() <= now) continue;
      return r;
    }
    throw new Refusal(404, "no_route", "no route serves this path", {}, "no_route");
  }

  #authenticate(req: Http1Request, route: RouteConfig): Caller {
    const socket = req.socket;
    if (route.auth.includes("mtls")) {
      const c = certificateCaller(socket);
      if (c) {
        if (this.#revoked.has(c.serial!)) {
          socket.destroy();
          throw new Refusal(401, "certificate_revoked", "the client certificate is revoked", {}, "revoked");
        }
        if (c.notAfter !== null && c.notAfter <= Date.now()) throw new Refusal(401, "certificate_expired", "the client certificate has expired", {}, "unauthenticated");
        return c;
      }
    }
    const auth = req.headers.authorization;
    if (route.auth.includes("token") && auth !== undefined) {
      const m = /^Bearer (spt_[A-Za-z0-9_-]{20,100})$/.exec(auth);
      if (!m) throw new Refusal(401, "invalid_token", "the access token is malformed", { "www-authenticate": 'Bearer error="invalid_token"' }, "unauthenticated");
      // Tokens are only as current as the state followed from Signet: when it has not been
      // refreshed for a minute (Signet unreachable), a revocation might be missed, so none is taken.
      if (Date.now() - this.#stateAt > STATE_MAX_AGE_MS) throw new Refusal(503, "token_state_stale", "access tokens cannot be checked right now; retry shortly", { "retry-after": "5" }, "unauthenticated");
      const t = this.#tokens.get(sha256hex(m[1]!));
      if (!t) throw new Refusal(401, "invalid_token", "the access token is unknown or revoked", { "www-authenticate": 'Bearer error="invalid_token"' }, "unauthenticated");
      if (t.expiresAt <= Date.now()) throw new Refusal(401, "token_expired", "the access token has expired", { "www-authenticate": 'Bearer error="invalid_token", error_description="expired"' }, "unauthenticated");
      if (!t.routes.has(route.name)) throw new Refusal(403, "token_not_for_route", `the access token is not valid for route ${route.name}`, {}, "policy");
      this.#tokenUses.set(t.id, Date.now());
      return tokenCaller(t);
    }
    if (route.auth.includes("mtls") && !route.auth.includes("token")) {
      throw new Refusal(401, "client_certificate_required", socket.authorized === false && socket.getPeerCertificate?.() && Object.keys(socket.getPeerCertificate()).length > 0 ? `the client certificate does not verify: ${socket.authorizationError}` : "this route needs a client certificate issued by Signet", {}, "unauthenticated");
    }
    throw new Refusal(401, "authentication_required", "present a client certificate or an access token (Authorization: Bearer)", { "www-authenticate": "Bearer" }, "unauthenticated");
  }

  /** The buckets a caller's requests on a route take from, worked out once per route and caller. */
  #plan(route: RouteConfig, caller: Caller): LimitPlan {
    let byCaller = this.#plans.get(route);
    if (!byCaller) this.#plans.set(route, (byCaller = new Map()));
    const k = caller.tenant === null ? caller.id : `${caller.id}\0${caller.tenant}`;
    let plan = byCaller.get(k);
    if (!plan) {
      if (byCaller.size >= MAX_PLANS) byCaller.clear();
      const requests = this.#limitKeys(route, caller, "requestsPerMinute", "burstRequests");
      const tokens = this.#limitKeys(route, caller, "tokensPerMinute", "burstTokens");
      const least = (rates: Rate[]) => rates.reduce((m, r) => Math.min(m, r.burst), Infinity);
      plan = { requests, tokens, requestBurst: least(requests.rates), tokenBurst: least(tokens.rates) };
      byCaller.set(k, plan);
    }
    return plan;
  }

  #limitKeys(route: RouteConfig, caller: Caller, per: "requestsPerMinute" | "tokensPerMinute", burst: "burstRequests" | "burstTokens"): { keys: string[]; rates: Rate[] } {
    const keys: string[] = [];
    const rates: Rate[] = [];
    const dim = per === "requestsPerMinute" ? "r" : "t";
    const add = (spec: LimitSpec | undefined, key: string) => {
      const perMinute = spec?.[per];
      if (!spec || !perMinute) return;
      keys.push(`${dim}:${key}`);
      rates.push({ perMinute, burst: spec[burst] ?? Math.max(1, Math.ceil(perMinute / 6)) });
    };
    const scope = (name: "identity" | "tenant" | "route") => route.limits[name] ?? this.d.config.limits[name];
    add(scope("identity"), `id:${route.name}:${caller.id}`);
    if (caller.tenant !== null) add(scope("tenant"), `tenant:${caller.tenant}`);
    add(scope("route"), `route:${route.name}`);
    return { keys, rates };
  }

  async #forward(req: Http1Request, res: Http1Response, route: RouteConfig, caller: Caller, checked: CheckedRequest, raw: Buffer | null, rest: string, url: string, rec: InferenceRecord): Promise<Usage | null> {
    const pool = this.#pools.get(route.upstream);
    if (!pool) throw new Refusal(503, "no_upstream", `route ${route.name} names no configured upstream`, {}, "upstream");
    const affinity = pool.config.affinity;
    const key = affinity === null ? null : affinity.by === "caller" ? caller.id : (req.headers[affinity.header] ?? null);
    let body = raw;
    if (checked.stream && checked.body && (checked.operation === "chat.completions" || checked.operation === "completions")) {
      // Ask for usage in the last chunk, so token limits are reconciled for streams too.
      const opts = (checked.body.stream_options ?? {}) as Record<string, unknown>;
      if (opts.include_usage !== true) body = Buffer.from(JSON.stringify({ ...checked.body, stream_options: { ...opts, include_usage: true } }));
    }
    // Header values come from a parsed head (no CR or LF); the caller id is Signet's.
    const sticky = affinity?.by === "header" ? affinity.header : null;
    const h = req.headers;
    let headers = "accept-encoding: identity\r\n";
    let requestId = false;
    for (const k in h) {
      if (FORWARDED.has(k) || k === sticky) {
        headers += `${k}: ${h[k]}\r\n`;
        if (k === "x-request-id") requestId = true;
      }
    }
    if (!requestId) headers += `x-request-id: ${randomUUID()}\r\n`;
    headers += `x-forwarded-for: ${req.socket.remoteAddress ?? ""}\r\nx-signet-caller: ${headerValue(caller.id)}\r\n`;
    const q = url.indexOf("?");
    const path = route.upstreamPrefix + rest + (q < 0 ? "" : url.slice(q));
    const ac: Cancellation = { cancelled: false, hook: null };
    res.onClose = () => cancel(ac);
    let tried: Set<Target> | null = null;
    let upstream: UpstreamReply | null = null;
    let target: Target | null = null;
    for (let attempt = 0; attempt < 3 && upstream === null; attempt++) {
      target = pool.pick(key, tried ?? NONE);
      if (!target) throw new Refusal(503, "no_healthy_upstream", `no healthy upstream serves route ${route.name}`, { "retry-after": "1" }, "upstream");
      target.outstanding++;
      try {
        upstream = await target.client.request({ method: req.method, path, headers, body }, ac);
      } catch (err) {
        target.outstanding--;
        if (ac.cancelled) throw new Refusal(499, "client_closed", "the client went away", {}, "client_closed");
        // Retry only where nothing reached the upstream.
        if (connectFailure(err)) {
          pool.markDown(target);
          (tried ??= new Set()).add(target);
          continue;
        }
        if (err instanceof UpstreamError && err.failure === "headers_timeout") throw new Refusal(504, "upstream_timeout", "the upstream did not answer in time", {}, "upstream");
        throw new Refusal(502, "upstream_failed", "the upstream failed to answer", {}, "upstream");
      }
    }
    if (!upstream || !target) throw new Refusal(503, "no_healthy_upstream", `no upstream of route ${route.name} accepted a connection`, { "retry-after": "1" }, "upstream");
    rec.upstream = target.url;
    try {
      return await this.#answer(res, upstream, checked, route, rec, ac);
    } finally {
      target.outstanding--;
      res.onClose = null;
    }
  }

  async #answer(res: Http1Response, up: UpstreamReply, checked: CheckedRequest, route: RouteConfig, rec: InferenceRecord, ac: Cancellation): Promise<Usage | null> {
    const ct = up.headers["content-type"];
    const type = ct === "application/json" ? ct : (ct ?? "").split(";")[0]!.trim().toLowerCase();
    if (checked.stream && up.status === 200) {
      if (type !== "text/event-stream") {
        up.cancel();
        throw new InvalidRequest("bad_upstream_response", `the upstream answered a stream with ${type || "no content type"}, not text/event-stream`, 502);
      }
      return this.#stream(res, up, checked, route, rec, ac);
    }
    // A whole answer: read (bounded), check its shape, then send it.
    let out: Buffer;
    try {
      out = await up.readAll(MAX_RESPONSE_BYTES);
    } catch (err) {
      if (ac.cancelled) throw new Refusal(499, "client_closed", "the client went away", {}, "client_closed");
      if (err instanceof UpstreamError && err.failure === "bad_response") throw new InvalidRequest("bad_upstream_response", err.message, 502);
      throw new Refusal(502, "upstream_failed", "the upstream failed to answer", {}, "upstream");
    }
    let usage: Usage | null = null;
    if (up.status === 200) {
      if (type !== "application/json") throw new InvalidRequest("bad_upstream_response", `the upstream answered with ${type || "no content type"}, not application/json`, 502);
      let json: unknown;
      try {
        json = JSON.parse(out.toString("utf8"));
      } catch {
        throw new InvalidRequest("bad_upstream_response", "the upstream's answer is not JSON", 502);
      }
      usage = checkResponse(checked.operation, json);
    } else if (type !== "application/json" || up.status < 400) {
      throw new InvalidRequest("bad_upstream_response", `the upstream answered HTTP ${up.status}${type ? ` with ${type}` : ""}`, 502);
    }
    rec.status = up.status;
    rec.outputSha256 = sha256hex(out);
    if (route.logContent) rec.output = out.toString("utf8");
    res.send(up.status, JSON_TYPE, out);
    return usage;
  }

  /** Server-Sent Events, passed through as they arrive (the client's pace holds the upstream back),
   * each checked; the usage of the last chunk is returned. */
  #stream(res: Http1Response, up: UpstreamReply, checked: CheckedRequest, route: RouteConfig, rec: InferenceRecord, ac: Cancellation): Promise<Usage | null> {
    res.start(200, SSE_HEADERS);
    rec.status = 200;
    const follower = new SseFollower(checked.operation);
    const hash = createHash("sha256");
    let logged = "";
    return new Promise<Usage | null>((resolve) => {
      let over = false;
      const finish = () => {
        if (over) return;
        over = true;
        if (!res.ended && !res.closed) res.end();
        rec.outputSha256 = hash.digest("hex");
        if (route.logContent) rec.output = logged;
        resolve(follower.usage);
      };
      up.stream({
        data: (buf) => {
          if (over) return;
          follower.push(buf);
          if (follower.error) {
            // Headers are sent: end the stream with an error event the client can read.
            res.write(`event: error\ndata: ${JSON.stringify({ error: { message: `the upstream's stream is malformed: ${follower.error}`, type: "upstream_error", code: "bad_upstream_response" } })}\n\n`);
            rec.error = "bad_upstream_response";
            rec.status = 502;
            up.cancel();
            finish();
            return;
          }
          hash.update(buf);
          if (route.logContent && logged.length < 1_000_000) logged += buf.toString("utf8");
          if (!res.write(buf)) {
            // Wait for the client to read, or to go away.
            up.pause();
            void res.drain().then(() => {
              if (res.closed) return;
              up.resume();
            });
          }
        },
        end: finish,
        error: () => {
          // Over already: the proxy itself cut the upstream off (a malformed stream).
          if (over) return;
          if (res.closed || ac.cancelled) rec.error ??= "client_closed";
          else {
            // The upstream broke off mid-stream: the client sees the stream end without [DONE].
            rec.error ??= "upstream_failed";
            res.destroy();
          }
          finish();
        },
      });
    });
  }

  #count(route: string, caller: string, rec: InferenceRecord): void {
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const k = `${minute}\0${route}\0${caller}`;
    let b = this.#usage.get(k);
    if (!b) this.#usage.set(k, (b = { minute, route, caller, requests: 0, tokens: 0, errors: 0 }));
    b.requests++;
    b.tokens += rec.usage?.totalTokens ?? 0;
    if (rec.status >= 400 || rec.status === 0) b.errors++;
  }
}

function sortRoutes(routes: RouteConfig[]): RouteConfig[] {
  // Host-bound routes before any-host ones, then the longest prefix.
  return [...routes].sort((a, b) => Number(b.host !== null) - Number(a.host !== null) || b.pathPrefix.length - a.pathPrefix.length);
}

function errorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "upstream_error";
  return "invalid_request_error";
}

function limited(r: LimitResult, what: "requests" | "tokens", limit: number): Refusal {
  const retry = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
  return new Refusal(429, `rate_limited_${what}`, `too many ${what === "requests" ? "requests" : "LLM tokens"}; retry after ${retry} s`, { "retry-after": String(retry), "ratelimit-limit": String(limit), "ratelimit-remaining": "0", "ratelimit-reset": String(retry) }, `rate_limited_${what}`);
}

const UNLIMITED: LimitResult = { allowed: true, retryAfterMs: 0, remaining: Number.MAX_SAFE_INTEGER, resetMs: 0 };
const SUSPICIOUS_PATH = /(^|\/)\.\.?(\/|\?|$)|%2e|%2f|%5c|\\|\/\//i;
const STATE_MAX_AGE_MS = 60_000;

/** The request body, bounded by the route; transport failures become refusals. */
async function readBody(req: Http1Request, max: number): Promise<Buffer> {
  try {
    return await req.body(max);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw new Refusal(413, "body_too_large", `the body is larger than the route's ${max} bytes`, {}, "invalid_request");
    if (err instanceof HttpError) throw new Refusal(err.status, "bad_body_framing", err.message, {}, "invalid_request");
    throw err;
  }
}

const NONE: ReadonlySet<Target> = new Set();
const JSON_TYPE = { "content-type": "application/json" };
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" };
