// The inference proxy's admin API:
//   POST   /admin/v1/proxy/tokens              — an access token for partners (signet token create); shown once
//   GET    /admin/v1/proxy/tokens[?all=true]   — tokens (never their secrets), with last use
//   POST   /admin/v1/proxy/tokens/:id/revoke   — revoked at once (proxies follow /proxy/state)
//   PUT    /admin/v1/proxy/routes/:name        — a static route, or an ephemeral one with ttlSeconds
//   GET    /admin/v1/proxy/routes, DELETE /admin/v1/proxy/routes/:name
//   GET    /admin/v1/proxy/state?version=V&wait=S — what proxies follow (long poll)
//   POST   /admin/v1/proxy/usage               — proxies report token use and per-minute counts
//   GET    /admin/v1/proxy/summary?since=&until= — requests, tokens and errors per route and caller
import type { FastifyInstance } from "fastify";
import { SignetError } from "../../../../ca/errors.js";
import type { ProxyTokenRecord } from "../../../db/proxy-store.js";
import type { Services } from "../../../services.js";
import { errorResponses } from "../schemas.js";

const tokenView = (t: ProxyTokenRecord) => ({
  id: t.id,
  routes: t.routes,
  tenant: t.tenant,
  note: t.note,
  createdBy: t.createdBy,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt.toISOString(),
  revokedAt: t.revokedAt?.toISOString() ?? null,
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
});

const tokenSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    routes: { type: "array", items: { type: "string" } },
    tenant: { type: ["string", "null"] },
    note: { type: ["string", "null"] },
    createdBy: { type: "string" },
    createdAt: { type: "string" },
    expiresAt: { type: "string" },
    revokedAt: { type: ["string", "null"] },
    lastUsedAt: { type: ["string", "null"] },
  },
} as const;

function time(v: string | undefined, def: Date, field: string): Date {
  if (v === undefined) return def;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new SignetError("bad_request", `${field} must be an ISO date`);
  return new Date(t);
}

export function proxyRoutes(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { routes: string[]; ttlSeconds: number; tenant?: string; note?: string } }>(
    "/proxy/tokens",
    {
      schema: {
        summary: "Create an inference proxy access token (shown once)",
        tags: ["proxy"],
        body: {
          type: "object",
          required: ["routes", "ttlSeconds"],
          additionalProperties: false,
          properties: {
            routes: { type: "array", minItems: 1, maxItems: 64, items: { type: "string", maxLength: 63 } },
            ttlSeconds: { type: "integer", minimum: 60, description: "mandatory: at most SIGNET_PROXY_TOKEN_MAX_TTL" },
            tenant: { type: "string", maxLength: 128 },
            note: { type: "string", maxLength: 512 },
          },
        },
        response: { 201: { type: "object", properties: { ...tokenSchema.properties, token: { type: "string" } } }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const t = await s.proxy.createToken(req.body, req.admin!.actor);
      return reply.code(201).send({ id: t.id, token: t.token, routes: t.routes, tenant: t.tenant, expiresAt: t.expiresAt.toISOString() });
    },
  );

  app.get<{ Querystring: { all?: boolean } }>(
    "/proxy/tokens",
    {
      schema: {
        summary: "List inference proxy access tokens",
        tags: ["proxy"],
        querystring: { type: "object", properties: { all: { type: "boolean", default: false } } },
        response: { 200: { type: "object", properties: { items: { type: "array", items: tokenSchema } } }, ...errorResponses },
      },
    },
    async (req) => ({ items: (await s.proxy.listTokens(req.query.all ?? false)).map(tokenView) }),
  );

  app.post<{ Params: { id: string } }>(
    "/proxy/tokens/:id/revoke",
    { schema: { summary: "Revoke an access token at once", tags: ["proxy"], params: { type: "object", properties: { id: { type: "string", maxLength: 64 } } }, response: { 200: tokenSchema, ...errorResponses } } },
    async (req) => tokenView(await s.proxy.revokeToken(req.params.id, req.admin!.actor)),
  );

  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    "/proxy/routes/:name",
    {
      schema: {
        summary: "Create or replace a route (ephemeral with ttlSeconds)",
        tags: ["proxy"],
        params: { type: "object", properties: { name: { type: "string", maxLength: 63 } } },
        body: { type: "object", additionalProperties: true },
        response: { 200: { type: "object", additionalProperties: true }, ...errorResponses },
      },
    },
    async (req) => {
      const r = await s.proxy.putRoute(req.params.name, req.body, req.admin!.actor);
      return { ...r.definition, createdBy: r.createdBy, createdAt: r.createdAt.toISOString(), expiresAt: r.expiresAt?.toISOString() ?? null };
    },
  );

  app.get(
    "/proxy/routes",
    { schema: { summary: "Routes defined through the admin API", tags: ["proxy"], response: { 200: { type: "object", properties: { items: { type: "array", items: { type: "object", additionalProperties: true } } } }, ...errorResponses } } },
    async () => ({ items: (await s.proxy.listRoutes()).map((r) => ({ ...r.definition, createdBy: r.createdBy, createdAt: r.createdAt.toISOString(), expiresAt: r.expiresAt?.toISOString() ?? null })) }),
  );

  app.delete<{ Params: { name: string } }>(
    "/proxy/routes/:name",
    { schema: { summary: "Delete a route defined through the admin API", tags: ["proxy"], params: { type: "object", properties: { name: { type: "string", maxLength: 63 } } }, response: { 204: { type: "null" }, ...errorResponses } } },
    async (req, reply) => {
      await s.proxy.deleteRoute(req.params.name, req.admin!.actor);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { since?: string; until?: string } }>(
    "/proxy/summary",
    {
      schema: {
        summary: "Inference requests, tokens and errors per route and per caller (or token), with the per-minute series",
        tags: ["proxy"],
        querystring: { type: "object", properties: { since: { type: "string" }, until: { type: "string" } } },
        response: { 200: { type: "object", additionalProperties: true }, ...errorResponses },
      },
    },
    async (req) => {
      const now = new Date();
      const until = time(req.query.until, now, "until");
      const since = time(req.query.since, new Date(until.getTime() - 3600_000), "since");
      if (since >= until) throw new SignetError("bad_request", "since must be before until");
      return s.proxy.summary(since, until);
    },
  );
}

/** What a proxy itself calls: admin credentials, or a client certificate with the signet:proxy role
 * (registered in a scope of their own, https-app.ts). */
export function proxyFollowRoutes(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: { version?: string; wait?: number } }>(
    "/proxy/state",
    {
      schema: {
        summary: "What inference proxies follow: API routes and live tokens (hashes only); long poll with version and wait",
        tags: ["proxy"],
        querystring: { type: "object", properties: { version: { type: "string", maxLength: 64 }, wait: { type: "integer", minimum: 0, maximum: 60, default: 0 } } },
        response: {
          200: {
            type: "object",
            properties: {
              version: { type: "string" },
              routes: { type: "array", items: { type: "object", additionalProperties: true } },
              tokens: { type: "array", items: { type: "object", properties: { id: { type: "string" }, hash: { type: "string" }, routes: { type: "array", items: { type: "string" } }, tenant: { type: ["string", "null"] }, expiresAt: { type: "string" } } } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const ac = new AbortController();
      req.raw.once("close", () => ac.abort());
      return s.proxy.stateAfter(req.query.version ?? null, (req.query.wait ?? 0) * 1000, ac.signal);
    },
  );

  app.post<{ Body: { tokens?: Array<{ id: string; at: string }>; buckets?: Array<{ minute: string; route: string; caller: string; requests: number; tokens: number; errors: number }> } }>(
    "/proxy/usage",
    {
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        summary: "A proxy reports token use and per-minute counts",
        tags: ["proxy"],
        body: {
          type: "object",
          additionalProperties: false,
          properties: {
            tokens: { type: "array", maxItems: 10000, items: { type: "object", required: ["id", "at"], properties: { id: { type: "string", maxLength: 64 }, at: { type: "string", maxLength: 40 } } } },
            buckets: {
              type: "array",
              maxItems: 10000,
              items: {
                type: "object",
                required: ["minute", "route", "caller", "requests", "tokens", "errors"],
                properties: { minute: { type: "string", maxLength: 40 }, route: { type: "string", maxLength: 63 }, caller: { type: "string", maxLength: 2048 }, requests: { type: "integer", minimum: 0 }, tokens: { type: "integer", minimum: 0 }, errors: { type: "integer", minimum: 0 } },
              },
            },
          },
        },
        response: { 204: { type: "null" }, ...errorResponses },
      },
    },
    async (req, reply) => {
      await s.proxy.report({ tokens: req.body.tokens ?? [], buckets: (req.body.buckets ?? []).map((b) => ({ ...b, minute: new Date(b.minute) })) });
      return reply.code(204).send();
    },
  );
}
