// GET /admin/v1/certificates/{serial} — JSON (with the PEM), or the PEM itself with ?format=pem.
import type { FastifyInstance } from "fastify";
import { normaliseSerial } from "../../../../ca/authority.js";
import { SignetError } from "../../../../ca/errors.js";
import { toPem } from "../../../../ca/x509/index.js";
import type { Services } from "../../../services.js";
import { certificateJson, certificateSchema, errorResponses, serialParams } from "../schemas.js";

export function getCertificate(app: FastifyInstance, s: Services): void {
  app.get<{ Params: { serial: string }; Querystring: { format?: "json" | "pem" } }>(
    "/certificates/:serial",
    {
      schema: {
        summary: "Get one certificate by serial (hex)",
        tags: ["certificates"],
        params: serialParams,
        querystring: { type: "object", properties: { format: { type: "string", enum: ["json", "pem"] } }, additionalProperties: false },
        response: { 200: certificateSchema, ...errorResponses },
      },
    },
    async (req, reply) => {
      const serial = normaliseSerial(req.params.serial);
      const c = await s.certificates.get(serial);
      if (!c) throw new SignetError("unknown_certificate", `no certificate with serial ${serial}`);
      if (req.query.format === "pem") {
        if (!c.der) throw new SignetError("conflict", `certificate ${serial} is ${c.status}: it was never signed`);
        return reply.type("application/pem-certificate-chain").send(toPem("CERTIFICATE", c.der));
      }
      return certificateJson(c, true);
    },
  );
}
