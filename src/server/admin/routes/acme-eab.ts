// POST   /admin/v1/acme/eab          — create an External Account Binding key (signet eab create); the
//                                     HMAC key is in this response and nowhere else, ever.
// GET    /admin/v1/acme/eab          — list keys (never the key material).
// DELETE /admin/v1/acme/eab/{kid}    — revoke a key: it binds no further account (an account it
//                                     already bound keeps working; revoke that with revoke --account).
import type { FastifyInstance } from "fastify";
import { createEabKey, describeEabKey } from "../../../../acme/index.js";
import { AUDIT_EVENTS } from "../../../../ca/audit.js";
import { SignetError } from "../../../../ca/errors.js";
import { acmeSettings } from "../../../../ca/provisioners/index.js";
import type { Services } from "../../../services.js";
import { provisionerNames, provisionerOfType } from "../provisioner-lookup.js";
import { errorResponses } from "../schemas.js";

const keySchema = {
  type: "object",
  properties: {
    kid: { type: "string" },
    provisioner: { type: "string" },
    state: { type: "string", enum: ["usable", "used", "expired", "revoked"] },
    singleUse: { type: "boolean" },
    note: { type: ["string", "null"] },
    createdBy: { type: "string" },
    createdAt: { type: "string" },
    expiresAt: { type: ["string", "null"] },
    usedAt: { type: ["string", "null"] },
    accountId: { type: ["string", "null"] },
    revokedAt: { type: ["string", "null"] },
  },
} as const;

const acmeProvisioner = (s: Services, name: string) => provisionerOfType(s, name, "acme", "EAB keys belong to ACME provisioners");

export function createEab(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { provisioner: string; reusable?: boolean; ttlSeconds?: number; note?: string } }>(
    "/acme/eab",
    {
      schema: {
        summary: "Create an ACME External Account Binding key (shown once)",
        tags: ["acme"],
        body: {
          type: "object",
          required: ["provisioner"],
          additionalProperties: false,
          properties: {
            provisioner: { type: "string", minLength: 1, maxLength: 63 },
            reusable: { type: "boolean", description: "may bind several accounts (default: the provisioner's eabSingleUse setting)" },
            ttlSeconds: { type: "integer", minimum: 60, maximum: 31536000, description: "expires after this long (default: never)" },
            note: { type: "string", maxLength: 512 },
          },
        },
        response: {
          201: {
            type: "object",
            properties: { ...keySchema.properties, hmacKey: { type: "string", description: "base64url; shown once" }, directory: { type: "string" } },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const p = await acmeProvisioner(s, req.body.provisioner);
      const singleUse = req.body.reusable === undefined ? acmeSettings(p.options).eabSingleUse : !req.body.reusable;
      const created = await createEabKey({ store: s.acme.store, box: s.acme.eabBox, audit: s.journal }, p, req.admin!.actor, {
        singleUse,
        ttlSeconds: req.body.ttlSeconds ?? null,
        note: req.body.note ?? null,
      });
      const record = await s.acme.store.eabKey(created.kid);
      return reply.code(201).send({
        ...describeEabKey(record!, p.name),
        hmacKey: created.hmacKey,
        directory: `https://${req.headers.host}/acme/${p.name}/directory`,
      });
    },
  );
}

export function listEab(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: { provisioner?: string } }>(
    "/acme/eab",
    {
      schema: {
        summary: "List ACME External Account Binding keys",
        tags: ["acme"],
        querystring: { type: "object", additionalProperties: false, properties: { provisioner: { type: "string", maxLength: 63 } } },
        response: { 200: { type: "object", properties: { items: { type: "array", items: keySchema } } }, ...errorResponses },
      },
    },
    async (req) => {
      const names = await provisionerNames(s);
      const p = req.query.provisioner ? await acmeProvisioner(s, req.query.provisioner) : null;
      const keys = await s.acme.store.listEabKeys(p?.id ?? null);
      return { items: keys.map((k) => describeEabKey(k, names.get(k.provisionerId) ?? k.provisionerId)) };
    },
  );
}

export function revokeEab(app: FastifyInstance, s: Services): void {
  app.delete<{ Params: { kid: string } }>(
    "/acme/eab/:kid",
    {
      schema: {
        summary: "Revoke an ACME External Account Binding key",
        tags: ["acme"],
        params: { type: "object", properties: { kid: { type: "string", minLength: 1, maxLength: 64 } } },
        response: { 200: keySchema, ...errorResponses },
      },
    },
    async (req) => {
      const k = await s.acme.store.revokeEabKey(req.params.kid, new Date());
      if (!k) {
        const existing = await s.acme.store.eabKey(req.params.kid);
        if (existing) throw new SignetError("already_revoked", `EAB key ${existing.kid} was already revoked at ${existing.revokedAt?.toISOString()}`);
        throw new SignetError("not_found", `no EAB key ${JSON.stringify(req.params.kid)}`);
      }
      await s.journal.append({ event: AUDIT_EVENTS.acmeEabRevoked, actor: req.admin!.actor, target: `eab:${k.kid}`, data: { kid: k.kid } });
      const names = await provisionerNames(s);
      return describeEabKey(k, names.get(k.provisionerId) ?? k.provisionerId);
    },
  );
}
