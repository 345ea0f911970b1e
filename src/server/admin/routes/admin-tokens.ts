// /admin/v1/admin-tokens — create (the token is shown once), list, revoke.
import type { FastifyInstance } from "fastify";
import { SignetError } from "../../../../ca/errors.js";
import type { AdminTokenInfo } from "../../../db/admin-tokens.js";
import type { Services } from "../../../services.js";
import { errorResponses } from "../schemas.js";

const tokenSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    createdAt: { type: "string" },
    expiresAt: { type: "string" },
    revokedAt: { type: ["string", "null"] },
    lastUsedAt: { type: ["string", "null"] },
  },
} as const;

function json(t: AdminTokenInfo) {
  return {
    id: t.id,
    name: t.name,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    revokedAt: t.revokedAt?.toISOString() ?? null,
    lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  };
}

export function createAdminToken(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { name: string; ttlSeconds?: number } }>(
    "/admin-tokens",
    {
      schema: {
        summary: "Create an admin token (returned once, stored hashed)",
        tags: ["admin tokens"],
        body: {
          type: "object",
          required: ["name"],
          additionalProperties: false,
          properties: { name: { type: "string", minLength: 1, maxLength: 100 }, ttlSeconds: { type: "integer", minimum: 60, maximum: 5 * 365 * 86400 } },
        },
        response: { 201: { type: "object", properties: { token: { type: "string" }, info: tokenSchema } }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const { token, info } = await s.tokens.create(req.body.name, req.body.ttlSeconds ?? s.config.adminTokenTtlSeconds, req.admin!.actor);
      return reply.status(201).send({ token, info: json(info) });
    },
  );
}

export function listAdminTokens(app: FastifyInstance, s: Services): void {
  app.get(
    "/admin-tokens",
    {
      schema: {
        summary: "List admin tokens (never their values)",
        tags: ["admin tokens"],
        response: { 200: { type: "object", properties: { items: { type: "array", items: tokenSchema } } }, ...errorResponses },
      },
    },
    async () => ({ items: (await s.tokens.list()).map(json) }),
  );
}

export function revokeAdminToken(app: FastifyInstance, s: Services): void {
  app.delete<{ Params: { id: string } }>(
    "/admin-tokens/:id",
    {
      schema: {
        summary: "Revoke an admin token",
        tags: ["admin tokens"],
        params: { type: "object", required: ["id"], properties: { id: { type: "string", format: "uuid" } } },
        response: { 204: { type: "null" }, ...errorResponses },
      },
    },
    async (req, reply) => {
      if (!(await s.tokens.revoke(req.params.id, req.admin!.actor))) throw new SignetError("conflict", `admin token ${req.params.id} is unknown or already revoked`);
      return reply.status(204).send();
    },
  );
}
