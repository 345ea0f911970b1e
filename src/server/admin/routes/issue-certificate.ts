// POST /admin/v1/certificates — issue from a CSR through the admin provisioner.
import type { FastifyInstance } from "fastify";
import type { Services } from "../../../services.js";
import { certificateJson, certificateSchema, errorResponses } from "../schemas.js";

interface Body {
  csr: string;
  provisioner?: string;
  profile?: string;
  lifetimeSeconds?: number;
  roles?: string[];
  identity?: string;
  nodeId?: string;
  spiffeId?: string;
}

export function issueCertificate(app: FastifyInstance, s: Services): void {
  app.post<{ Body: Body }>(
    "/certificates",
    {
      schema: {
        summary: "Issue a certificate from a PKCS#10 CSR",
        tags: ["certificates"],
        body: {
          type: "object",
          required: ["csr"],
          additionalProperties: false,
          properties: {
            csr: { type: "string", minLength: 1, maxLength: 32_768, description: "PEM (or base64 DER) PKCS#10" },
            provisioner: { type: "string", default: "admin", description: "an admin-type provisioner" },
            profile: { type: "string" },
            lifetimeSeconds: { type: "integer", minimum: 1 },
            roles: { type: "array", items: { type: "string" }, maxItems: 32 },
            identity: { type: "string", maxLength: 512 },
            nodeId: { type: "string", maxLength: 256 },
            spiffeId: { type: "string", maxLength: 2048 },
          },
        },
        response: {
          201: {
            type: "object",
            properties: { certificate: certificateSchema, pem: { type: "string" }, chainPem: { type: "string" } },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const issued = await s.authority.sign({
        csr: b.csr,
        provisioner: b.provisioner ?? "admin",
        via: "admin",
        actor: req.admin!.actor,
        profile: b.profile,
        lifetimeSeconds: b.lifetimeSeconds,
        roles: b.roles,
        identity: b.identity,
        nodeId: b.nodeId,
        spiffeId: b.spiffeId,
      });
      const record = await s.certificates.get(issued.serialHex);
      return reply.status(201).send({ certificate: certificateJson(record!), pem: issued.pem, chainPem: issued.chainPem });
    },
  );
}
