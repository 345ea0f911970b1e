// POST /admin/v1/attestation/join-tokens — a one-time join token for a Terraform or Ansible run
//                                          (signet token join); shown once, stored hashed.
// POST /admin/v1/attestation/test        — the posture decision for evidence, without spending or
//                                          issuing anything (signet policy test).
import type { FastifyInstance } from "fastify";
import { isAttestationError } from "../../../../ca/attestation/errors.js";
import { explainDecision } from "../../../../ca/attestation/policy.js";
import { SignetError } from "../../../../ca/errors.js";
import type { Services } from "../../../services.js";
import { provisionerOfType } from "../provisioner-lookup.js";
import { errorResponses } from "../schemas.js";

const attestationProvisioner = (s: Services, name: string) => provisionerOfType(s, name, "attestation", "join tokens and policy tests belong to attestation provisioners");

export function createJoinToken(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { provisioner: string; ttlSeconds?: number; claims?: Record<string, unknown>; note?: string } }>(
    "/attestation/join-tokens",
    {
      schema: {
        summary: "Create a one-time join token (shown once)",
        tags: ["attestation"],
        body: {
          type: "object",
          required: ["provisioner"],
          additionalProperties: false,
          properties: {
            provisioner: { type: "string", minLength: 1, maxLength: 63 },
            ttlSeconds: { type: "integer", minimum: 60, maximum: 604800, default: 3600 },
            claims: { type: "object", description: "what the posture policy reads: identity, nodeId, dns (list), roles (list)..." },
            note: { type: "string", maxLength: 512 },
          },
        },
        response: {
          201: {
            type: "object",
            properties: { id: { type: "string" }, token: { type: "string" }, provisioner: { type: "string" }, claims: { type: "object", additionalProperties: true }, expiresAt: { type: "string" }, attestUrl: { type: "string" } },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const p = await attestationProvisioner(s, req.body.provisioner);
      const t = await s.attestation.createJoinToken(p, { ttlSeconds: req.body.ttlSeconds ?? 3600, claims: req.body.claims ?? {}, note: req.body.note }, req.admin!.actor);
      return reply.code(201).send({ ...t, expiresAt: t.expiresAt.toISOString(), attestUrl: `https://${req.headers.host}/attest/${p.name}` });
    },
  );
}

export function testPolicy(app: FastifyInstance, s: Services): void {
  app.post<{ Body: { provisioner: string; evidence: { type: "posture" | "kubernetes" | "join-token"; token: string } } }>(
    "/attestation/test",
    {
      schema: {
        summary: "Evaluate the posture policy for evidence (nothing is spent or issued)",
        tags: ["attestation"],
        body: {
          type: "object",
          required: ["provisioner", "evidence"],
          additionalProperties: false,
          properties: {
            provisioner: { type: "string", minLength: 1, maxLength: 63 },
            evidence: {
              type: "object",
              required: ["type", "token"],
              additionalProperties: false,
              properties: { type: { type: "string", enum: ["posture", "kubernetes", "join-token"] }, token: { type: "string", minLength: 1, maxLength: 65536 } },
            },
          },
        },
        response: { 200: { type: "object", additionalProperties: true }, ...errorResponses },
      },
    },
    async (req) => {
      const p = await attestationProvisioner(s, req.body.provisioner);
      try {
        const { evidence, decision } = await s.attestation.test(p, req.body.evidence);
        return {
          evidence: { type: evidence.type, issuer: evidence.issuer, subject: evidence.subject, nodeId: evidence.nodeId, claims: evidence.claims, digest: evidence.digest },
          decision,
          explanation: explainDecision(decision),
        };
      } catch (err) {
        if (isAttestationError(err)) throw new SignetError("unauthenticated", `the evidence does not verify: ${err.message}`, { detail: { reason: err.code } });
        throw err;
      }
    },
  );
}
