// GET /admin/v1/ca — the CA certificates Signet holds and whether the root key is online.
import type { FastifyInstance } from "fastify";
import { parseCertificate, toPem } from "../../../../ca/x509/index.js";
import type { Services } from "../../../services.js";
import { errorResponses } from "../schemas.js";

const caCert = {
  type: "object",
  properties: {
    id: { type: "string" },
    subject: { type: "string" },
    notBefore: { type: "string" },
    notAfter: { type: "string" },
    keyOnline: { type: "boolean" },
    pem: { type: "string" },
  },
} as const;

export function caInfo(app: FastifyInstance, s: Services): void {
  app.get(
    "/ca",
    {
      schema: {
        summary: "The root and issuing intermediate",
        tags: ["ca"],
        response: { 200: { type: "object", properties: { root: caCert, intermediate: caCert } }, ...errorResponses },
      },
    },
    async () => {
      const describe = (der: Buffer, id: string, keyOnline: boolean) => {
        const c = parseCertificate(der);
        return { id, subject: c.subject.text, notBefore: c.notBefore.toISOString(), notAfter: c.notAfter.toISOString(), keyOnline, pem: toPem("CERTIFICATE", der) };
      };
      const { root, intermediate } = s.authority;
      return {
        root: describe(root.certDer, root.id, root.signer !== null),
        intermediate: describe(intermediate.certDer, intermediate.id, intermediate.signer !== null),
      };
    },
  );
}
