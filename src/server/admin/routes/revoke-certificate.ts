// POST /admin/v1/certificates/{serial}/revoke — RFC 5280 reason by name or code, optional invalidity date.
import type { FastifyInstance } from "fastify";
import type { Services } from "../../../services.js";
import { certificateJson, certificateSchema, errorResponses, revocationBodySchema, serialParams, type RevocationBody } from "../schemas.js";
import { reasonName } from "../../../../ca/revocation.js";

export function revokeCertificate(app: FastifyInstance, s: Services): void {
  app.post<{ Params: { serial: string }; Body: RevocationBody | undefined }>(
    "/certificates/:serial/revoke",
    {
      schema: {
        summary: "Revoke a certificate",
        tags: ["revocation"],
        params: serialParams,
        body: { type: ["object", "null"], additionalProperties: false, properties: revocationBodySchema },
        response: { 200: certificateSchema, ...errorResponses },
      },
    },
    async (req) => {
      const record = await s.authority.revoke(req.params.serial, req.admin!.actor, { reason: req.body?.reason, invalidityDate: req.body?.invalidityDate });
      s.metrics.revoked.inc({ reason: reasonName(record.revocationReason ?? 0) });
      return certificateJson(record);
    },
  );
}
