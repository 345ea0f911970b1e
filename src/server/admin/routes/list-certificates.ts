// GET /admin/v1/certificates — search by status, identity, node, SPIFFE ID, provisioner, name and
// expiry window; keyset-paginated, newest first.
import type { FastifyInstance } from "fastify";
import type { CertificateStatus } from "../../../../ca/ports.js";
import type { Services } from "../../../services.js";
import { certificateJson, certificateSchema, errorResponses } from "../schemas.js";

interface Query {
  status?: CertificateStatus;
  identity?: string;
  node?: string;
  spiffeId?: string;
  provisioner?: string;
  commonName?: string;
  dnsName?: string;
  expiresAfter?: string;
  expiresBefore?: string;
  limit?: number;
  cursor?: string;
}

export function listCertificates(app: FastifyInstance, s: Services): void {
  app.get<{ Querystring: Query }>(
    "/certificates",
    {
      schema: {
        summary: "List and search certificates",
        tags: ["certificates"],
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            status: { type: "string", enum: ["pending", "valid", "revoked", "failed"] },
            identity: { type: "string" },
            node: { type: "string" },
            spiffeId: { type: "string" },
            provisioner: { type: "string" },
            commonName: { type: "string" },
            dnsName: { type: "string" },
            expiresAfter: { type: "string", format: "date-time" },
            expiresBefore: { type: "string", format: "date-time" },
            limit: { type: "integer", minimum: 1, maximum: 500, default: 100 },
            cursor: { type: "string", maxLength: 200 },
          },
        },
        response: {
          200: { type: "object", properties: { items: { type: "array", items: certificateSchema }, next: { type: ["string", "null"] } } },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const page = await s.certificates.list(
        {
          status: q.status,
          identity: q.identity,
          nodeId: q.node,
          spiffeId: q.spiffeId,
          provisioner: q.provisioner,
          commonName: q.commonName,
          dnsName: q.dnsName,
          expiresAfter: q.expiresAfter ? new Date(q.expiresAfter) : undefined,
          expiresBefore: q.expiresBefore ? new Date(q.expiresBefore) : undefined,
        },
        { limit: q.limit ?? 100, cursor: q.cursor },
      );
      return { items: page.items.map((c) => certificateJson(c)), next: page.next };
    },
  );
}
