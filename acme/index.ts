// The ACME front end: a fastify plugin mounted at /acme/:provisioner on the HTTPS port. It parses and
// authenticates (JWS), keeps ACME state through its store port, and hands every certificate to the
// authority's pipeline. Every response carries a fresh Replay-Nonce and Link rel="index"; every error
// is an RFC 7807 problem document with an RFC 8555 §6.7 type.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { acmeProfiles, acmeSettings } from "../ca/provisioners/index.js";
import { isProvisionerName } from "../ca/provisioners/validate.js";
import { AcmeContext, type AcmeDeps } from "./context.js";
import { accountRoutes } from "./handlers/account.js";
import { authzRoutes } from "./handlers/authz.js";
import { certificateRoutes } from "./handlers/certificate.js";
import { orderRoutes } from "./handlers/order.js";
import { AcmeProblem, toProblem } from "./problems.js";
import { AcmeUrls } from "./views.js";

export type { AcmeDeps } from "./context.js";
export { NonceService } from "./nonces.js";
export { EabKeyBox, createEabKey, describeEabKey, type CreatedEabKey } from "./eab.js";
export { ChallengeValidator, type ValidatorOptions } from "./validator.js";
export { ValidationRunner, type ValidationOptions } from "./validation.js";
export { certIdOf, parseCertId } from "./ari.js";
export type { AcmeStore, DeviceAttestVerifier } from "./ports.js";
export { AcmeProblem } from "./problems.js";

const JOSE = "application/jose+json";
const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export function acmePlugin(deps: AcmeDeps) {
  return async function acme(app: FastifyInstance): Promise<void> {
    const ctx = new AcmeContext(deps);
    // Provisioner records are cached objects, replaced when they change: settings parsed once each.
    const settingsOf = new WeakMap<object, ReturnType<typeof acmeSettings>>();
    app.decorateRequest("acme", null as never);
    // ACME is described by RFC 8555, not by the admin API's OpenAPI document.
    app.addHook("onRoute", (route) => {
      route.schema = { ...route.schema, hide: true };
    });

    // Only application/jose+json is parsed (§6.2); anything else is 415 with a problem document.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(JOSE, { parseAs: "string" }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(new AcmeProblem("malformed", "the request body is not JSON"), undefined);
      }
    });
    app.addContentTypeParser("*", (_req, _payload, done) => done(new AcmeProblem("malformed", `requests must be ${JOSE}`, { status: 415 }), undefined));

    app.addHook("onRequest", async (req) => {
      const name = (req.params as { provisioner?: string }).provisioner ?? "";
      const host = req.headers.host ?? "";
      if (!HOST.test(host)) throw new AcmeProblem("malformed", "the Host header is missing or invalid");
      const provisioner = isProvisionerName(name) ? await deps.provisioners.get(name) : null;
      if (!provisioner || provisioner.type !== "acme" || !provisioner.enabled) {
        // Still needs urls for the Link header; the error handler copes without them.
        throw new AcmeProblem("malformed", `no ACME provisioner named ${JSON.stringify(name.slice(0, 64))}`, { status: 404 });
      }
      let settings = settingsOf.get(provisioner);
      if (!settings) settingsOf.set(provisioner, (settings = acmeSettings(provisioner.options)));
      req.acme = { provisioner, settings, urls: new AcmeUrls(`https://${host}/acme/${name}`) };
      if (req.method === "POST") {
        const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
        if (type !== JOSE) throw new AcmeProblem("malformed", `requests must be ${JOSE}`, { status: 415 });
      }
    });

    // §6.5: every response, errors included, carries a fresh nonce; §7.1: and a link to the directory.
    app.addHook("onSend", async (req, reply, payload) => {
      void reply.header("replay-nonce", deps.nonces.issue()).header("cache-control", "no-store");
      if (req.acme) {
        const prev = reply.getHeader("link");
        const index = `<${req.acme.urls.directory()}>;rel="index"`;
        void reply.header("link", prev === undefined ? index : [...(Array.isArray(prev) ? prev : [String(prev)]), index]);
      }
      return payload;
    });

    app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const { problem, internal } = toProblem(fromFastify(err));
      if (internal) req.log.error({ err, path: req.url.split("?")[0] }, "ACME request failed");
      if (problem.retryAfterSeconds !== undefined) void reply.header("retry-after", String(problem.retryAfterSeconds));
      if (problem.allow) void reply.header("allow", problem.allow);
      void reply.code(problem.status).type("application/problem+json").send(problem.toJSON());
    });
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).type("application/problem+json").send(new AcmeProblem("malformed", `no ACME resource ${req.method} ${req.url.split("?")[0]}`, { status: 404 }).toJSON());
    });

    app.get("/directory", async (req) => {
      const { settings, urls, provisioner } = req.acme;
      const profiles = Object.fromEntries(acmeProfiles(provisioner).map((p) => [p, PROFILE_DESCRIPTIONS[p] ?? p]));
      return {
        newNonce: urls.newNonce(),
        newAccount: urls.newAccount(),
        newOrder: urls.newOrder(),
        revokeCert: urls.revokeCert(),
        keyChange: urls.keyChange(),
        renewalInfo: urls.renewalInfo(),
        meta: {
          ...(settings.termsOfService ? { termsOfService: settings.termsOfService } : {}),
          ...(settings.website ? { website: settings.website } : {}),
          externalAccountRequired: settings.requireEab,
          profiles,
        },
      };
    });

    // §7.2: HEAD answers 200, GET 204; the nonce is added by onSend.
    app.head("/new-nonce", async (_req, reply) => reply.code(200).send());
    app.get("/new-nonce", { exposeHeadRoute: false }, async (_req, reply) => reply.code(204).send());

    accountRoutes(app, ctx);
    orderRoutes(app, ctx);
    authzRoutes(app, ctx);
    certificateRoutes(app, ctx);

    // Everything else is read with POST-as-GET (§6.3).
    app.get("/*", async () => {
      throw new AcmeProblem("malformed", "ACME resources are read with POST-as-GET (RFC 8555 §6.3)", { status: 405, allow: "POST" });
    });
  };
}

const PROFILE_DESCRIPTIONS: Record<string, string> = {
  client: "TLS client certificate (clientAuth)",
  server: "TLS server certificate (serverAuth)",
  "client-server": "TLS client and server certificate (clientAuth, serverAuth)",
};

/** Fastify's own errors (body limits, bad JSON) as ACME problems. */
function fromFastify(err: FastifyError): unknown {
  if (err instanceof AcmeProblem) return err;
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new AcmeProblem("malformed", "the request body is too large", { status: 413 });
  if (err.code === "FST_ERR_CTP_EMPTY_JSON_BODY" || err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError) return new AcmeProblem("malformed", "the request body is not JSON");
  if (err.validation) return new AcmeProblem("malformed", `invalid request: ${err.message}`);
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) return new AcmeProblem("malformed", err.message, { status: err.statusCode });
  return err;
}
