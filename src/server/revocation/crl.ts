// CRLs at the distribution points written into certificates: /crl/{issuerId}.crl (full) and
// /crl/{issuerId}-delta.crl, DER as application/pkix-crl (RFC 5280 §4.2.1.13); PEM ("X509 CRL")
// with a .pem suffix or Accept: application/x-pem-file.
import type { FastifyInstance } from "fastify";
import { SignetError } from "../../../ca/errors.js";
import type { RevocationService } from "../../revocation/service.js";

/** HTTP caches may keep a CRL this long at most (and never past its nextUpdate), so a revocation
 * reaches clients behind a cache within minutes. */
const MAX_AGE_CAP = 300;

export function crlRoutes(app: FastifyInstance, rev: RevocationService): void {
  app.get<{ Params: { file: string } }>(
    "/crl/:file",
    { schema: { hide: true, params: { type: "object", properties: { file: { type: "string", pattern: "^[0-9a-f]{2,128}(-delta)?\\.(crl|pem)$" } } } } },
    async (req, reply) => {
      const m = /^([0-9a-f]+)(-delta)?\.(crl|pem)$/.exec(req.params.file)!;
      const crl = rev.crls.current(m[1]!, m[2] ? "delta" : "full");
      if (!crl) throw new SignetError("not_found", `no CRL for issuer ${m[1]}`);
      const maxAge = Math.max(0, Math.min(MAX_AGE_CAP, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000)));
      void reply.headers({
        etag: crl.etag,
        "last-modified": crl.lastModifiedHttp,
        "cache-control": `public, max-age=${maxAge}, no-transform`,
        vary: "Accept",
      });
      if (req.headers["if-none-match"] === crl.etag) return reply.status(304).send();
      const pem = m[3] === "pem" || /application\/x-pem-file/.test(req.headers.accept ?? "");
      return pem ? reply.type("application/x-pem-file").send(crl.pem()) : reply.type("application/pkix-crl").send(crl.der);
    },
  );
}
