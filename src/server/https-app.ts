// The HTTPS port (8443): the admin API, ACME, posture attestation and the revocation feed.
// TLS 1.2+ only; clients may present a certificate (admin mTLS), none is required.
import fastifySwagger from "@fastify/swagger";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { SecureContextOptions } from "node:tls";
import type { Services } from "../services.js";
import { adminApi } from "./admin/index.js";
import { ADMIN_ROLE, makeAdminAuth, PROXY_ROLE, REVOCATION_READER_ROLE } from "./admin/auth.js";
import { proxyFollowRoutes } from "./admin/routes/proxy.js";
import type { RevocationService } from "../revocation/service.js";
import { feedRoutes } from "./revocation/feed.js";
import { AcmeProblem, acmePlugin, type DeviceAttestVerifier, type ValidationRunner } from "../../acme/index.js";
import { isAttestationError } from "../../ca/attestation/errors.js";
import { isSignetError } from "../../ca/errors.js";
import { AJV_OPTIONS, installCommon, rejectUnstorableText } from "./common.js";
import { attestRoutes } from "./attest.js";

export interface TlsMaterial {
  key: string;
  cert: string;
  /** Trust anchors for client certificates: Signet's root and intermediate. */
  ca: string[];
}

export const TLS_OPTIONS: SecureContextOptions = { minVersion: "TLSv1.2" };

export async function buildHttpsApp(s: Services, tls: TlsMaterial, ready: () => boolean, rev: RevocationService, validations: ValidationRunner): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: s.log.child({ component: "https" }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: s.config.bodyLimit,
    ajv: AJV_OPTIONS,
    https: {
      ...TLS_OPTIONS,
      key: tls.key,
      cert: tls.cert,
      ca: tls.ca,
      requestCert: true,
      rejectUnauthorized: false,
    },
    return503OnClosing: true,
  });
  installCommon(app, s, "https", ready);
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Signet admin API", version: "1", description: "Certificate authority administration. Auth: `Authorization: Bearer <admin token>` or an admin client certificate." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" }, mtls: { type: "mutualTLS" } as never } },
      security: [{ bearer: [] }, { mtls: [] }],
    },
  });
  await app.register(
    async (admin) => {
      // One authentication hook for everything under /admin, the API description included.
      admin.decorateRequest("admin", null);
      admin.addHook("onRequest", makeAdminAuth(s));
      admin.addHook("preValidation", rejectUnstorableText);
      admin.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
      await admin.register(adminApi(s), { prefix: "/v1" });
    },
    { prefix: "/admin" },
  );
  // What inference proxies call: admin credentials, or a proxy's own client certificate.
  await app.register(
    async (follow) => {
      follow.decorateRequest("admin", null);
      follow.addHook("onRequest", makeAdminAuth(s, [ADMIN_ROLE, PROXY_ROLE]));
      follow.addHook("preValidation", rejectUnstorableText);
      proxyFollowRoutes(follow, s);
    },
    { prefix: "/admin/v1" },
  );
  // ACME (RFC 8555), one directory per ACME provisioner.
  await app.register(
    acmePlugin({
      authority: s.authority,
      certificates: s.certificates,
      provisioners: s.provisioners,
      store: s.acme.store,
      audit: s.journal,
      nonces: s.acme.nonces,
      eabBox: s.acme.eabBox,
      validations,
      deviceAttest: deviceAttestVerifier(s),
    }),
    { prefix: "/acme/:provisioner" },
  );
  // Posture attestation: evidence in, a decision and a bound credential out.
  await app.register(async (attest) => attestRoutes(attest, s));
  // The live revocation feed: admin credentials, or a client certificate with the reader role.
  await app.register(async (feed) => {
    feed.decorateRequest("admin", null);
    feed.addHook("onRequest", makeAdminAuth(s, [ADMIN_ROLE, REVOCATION_READER_ROLE, PROXY_ROLE]));
    feedRoutes(feed, s, rev);
  });
  return app;
}

/** device-attest-01 for the ACME front end: the attestation service verifies and decides; what the
 * device got wrong becomes the draft's badAttestationStatement, a refusal unauthorized. */
function deviceAttestVerifier(s: Services): DeviceAttestVerifier {
  return async (input) => {
    const count = (outcome: string) => s.metrics.attestationDecisions.inc({ provisioner: input.attestationProvisioner, evidence: "tpm", outcome });
    try {
      const r = await s.attestation.deviceAttest(input);
      count("allow");
      return r;
    } catch (err) {
      if (isAttestationError(err)) {
        count("invalid_evidence");
        throw new AcmeProblem("badAttestationStatement", `the attestation does not verify: ${err.message}`);
      }
      if (isSignetError(err, "forbidden") || isSignetError(err, "blocked")) {
        count("deny");
        throw new AcmeProblem("unauthorized", err.message);
      }
      count("error");
      throw err;
    }
  };
}
