// The OCSP responder's HTTP binding (RFC 6960 Appendix A, RFC 5019 §5-6): POST with
// application/ocsp-request, or GET with the base64 request in the path. Protocol errors are OCSP
// responses (HTTP 200) with the error status, as clients expect. Signed, nonce-free answers to GET
// carry caching headers that never outlive nextUpdate.
import type { FastifyInstance, FastifyReply } from "fastify";
import type { OcspAnswer } from "../../../ca/ocsp-responder.js";
import type { Services } from "../../services.js";
import type { RevocationService } from "../../revocation/service.js";

const OCSP_RESPONSE = "application/ocsp-response";
/** Generous: RFC 5019 requests are ~100 bytes; 64 certificates with a nonce stay far below. */
const MAX_REQUEST = 16 * 1024;
/** HTTP caches keep an answer at most this long (and never past its nextUpdate), so a revocation
 * reaches clients behind a cache within minutes, as for CRLs. */
const MAX_AGE_CAP = 300;

export function ocspRoutes(app: FastifyInstance, s: Services, rev: RevocationService): void {
  app.addContentTypeParser("application/ocsp-request", { parseAs: "buffer", bodyLimit: MAX_REQUEST }, (_req, body, done) => done(null, body));

  const send = (reply: FastifyReply, answer: OcspAnswer, cacheable: boolean) => {
    s.metrics.ocspResponses.inc({ outcome: answer.outcome });
    void reply.type(OCSP_RESPONSE);
    if (cacheable && answer.cacheable && answer.nextUpdate) {
      const maxAge = Math.max(0, Math.min(MAX_AGE_CAP, Math.floor((answer.nextUpdate.getTime() - Date.now()) / 1000)));
      // A 304 carries the same freshness headers (RFC 9110 §15.4.5), or a cache would extend the old ones.
      void reply.headers({
        "cache-control": `max-age=${maxAge}, public, no-transform, must-revalidate`,
        "last-modified": answer.lastModifiedHttp,
        expires: answer.expiresHttp,
        etag: answer.etag,
      });
      if (reply.request.headers["if-none-match"] === answer.etag) return reply.status(304).send();
    } else {
      void reply.header("cache-control", "no-store");
    }
    return reply.send(answer.body);
  };

  app.post("/ocsp", { schema: { hide: true } }, async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    return send(reply, await rev.responder.respond(body), false);
  });

  app.get<{ Params: { "*": string } }>("/ocsp/*", { schema: { hide: true } }, async (req, reply) => {
    let der: Buffer;
    try {
      // Base64 (RFC 4648 §4), URL-encoded; some clients send base64url or leave '+' unencoded.
      der = Buffer.from(decodeURIComponent(req.params["*"]).replace(/ /g, "+"), "base64");
    } catch {
      der = Buffer.alloc(0);
    }
    return send(reply, await rev.responder.respond(der.length > MAX_REQUEST ? Buffer.alloc(0) : der), true);
  });
}
