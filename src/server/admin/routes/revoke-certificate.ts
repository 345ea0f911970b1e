// POST /admin/v1/certificates/{serial}/revoke — RFC 5280 reason by name or code.
import type { FastifyInstance } from "fastify";
import type { Services } from "../../../services.js";
import { certificateJson, certificateSchema, errorResponses, serialParams } from "../schemas.js";
import { reasonName } from "../../../../ca/revocation.js";

export function revokeCertificate(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { serial: string }; Body: { reason?: string | number } | undefined }>(
    "/certificates/:serial/revoke",
    {
      schema: {
        summary: "Revoke a certificate",
        tags: ["certificates"],
        params: serialParams,
        body: {
          type: ["object", "null"],
          additionalProperties: false,
          properties: { reason: { type: ["string", "integer"], description: "RFC 5280 reason name (keyCompromise, superseded...) or code" } },
        },
        response: { 200: certificateSchema, ...errorResponses },
      },
    },
    async (req) => {
      const record = await s.authority.revoke(req.params.serial, req.body?.reason ?? "unspecified", req.admin!.actor);
      s.metrics.revoked.inc({ reason: reasonName(record.revocationReason ?? 0) });
      return certificateJson(record);
    },
  );
}
