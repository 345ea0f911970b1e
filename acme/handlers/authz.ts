// Authorizations (§7.5, deactivation §7.5.2) and challenges (§7.5.1, retries §8.2).
import type { FastifyInstance } from "fastify";
import { objectPayload, type AcmeContext } from "../context.js";
import { keyAuthorization } from "../jws.js";
import type { AcmeSettings } from "../../ca/provisioners/index.js";
import { CHALLENGE_TYPES, type AccountRecord, type AuthzRecord, type ChallengeRecord, type ChallengeType, type DeviceAttested } from "../ports.js";
import { AcmeProblem, problemDocument, type ProblemDocument } from "../problems.js";
import { authzStatus, authzView, challengeView } from "../views.js";
import { settleChallenge } from "../validation.js";
import { POLL_AFTER_SECONDS } from "./order.js";

export function authzRoutes(app: FastifyInstance, ctx: AcmeContext): void {
  const { store, validations } = ctx.deps;

  app.post<{ Params: { id: string } }>("/authz/:id", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    const { urls } = req.acme;
    let authz = await loadAuthz(ctx, req.params.id, auth.account);
    if (auth.payload !== null) {
      const body = objectPayload(auth.payload, "authorization update");
      if (body.status !== "deactivated") throw new AcmeProblem("malformed", `an authorization's status can only be set to "deactivated"`);
      const now = ctx.now();
      const updated = await store.updateAuthz(authz.id, (a) => {
        const s = authzStatus(a, now);
        if (s !== "pending" && s !== "valid") return null;
        a.status = "deactivated";
        return a;
      }, authz);
      if (!updated || updated.status !== "deactivated") throw new AcmeProblem("malformed", `the authorization is ${authzStatus(authz, now)} and cannot be deactivated`);
      authz = updated;
      await store.setOrderStatus(authz.orderId, "pending", "invalid", {
        error: { type: "urn:ietf:params:acme:error:unauthorized", detail: `the authorization for ${authz.identifier.value} was deactivated`, status: 403, identifier: authz.identifier },
      });
    }
    if (authz.challenges.some((c) => c.status === "processing")) void reply.header("retry-after", String(POLL_AFTER_SECONDS));
    return reply.send(authzView(authz, urls, ctx.now()));
  });

  app.post<{ Params: { id: string; type: string } }>("/chall/:id/:type", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    const { urls } = req.acme;
    const type = req.params.type as ChallengeType;
    if (!(CHALLENGE_TYPES as readonly string[]).includes(type)) throw new AcmeProblem("malformed", "no such challenge", { status: 404 });
    const authz = await loadAuthz(ctx, req.params.id, auth.account);
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) throw new AcmeProblem("malformed", "no such challenge", { status: 404 });
    void reply.header("link", `<${urls.authz(authz.id)}>;rel="up"`);
    if (auth.payload === null) return reply.send(challengeView(authz.id, challenge, urls));
    // §7.5.1: the response is an empty object (clients may send more; nothing else is defined);
    // device-attest-01's carries the attestation object.
    const response = objectPayload(auth.payload, "challenge response");
    const now = ctx.now();
    if (type === "device-attest-01") {
      const view = await deviceAttest(ctx, req.acme.settings, authz, response, auth.account, now);
      return reply.send(challengeView(authz.id, view, urls));
    }
    if (challenge.status === "processing") {
      // §8.2: a repeated response asks for an immediate retry.
      validations.retryNow(authz.id);
      return reply.header("retry-after", String(POLL_AFTER_SECONDS)).send(challengeView(authz.id, challenge, urls));
    }
    if (challenge.status !== "pending" || authzStatus(authz, now) !== "pending") return reply.send(challengeView(authz.id, challenge, urls));
    if (!validations.admits(auth.account.id)) {
      throw new AcmeProblem("rateLimited", "too many validations of this account are running; retry the challenge shortly", { retryAfterSeconds: 5 });
    }
    // Only the request whose write moved the challenge to processing starts the validation, so two
    // concurrent POSTs (on one replica or two) run it once.
    let wrote = false;
    const started = await store.updateAuthz(
      authz.id,
      (a) => {
        wrote = false;
        if (a.status !== "pending" || a.challenges.some((c) => c.status !== "pending")) return null;
        a.challenges.find((c) => c.type === type)!.status = "processing";
        wrote = true;
        return a;
      },
      authz,
    );
    const moved = started?.challenges.find((c) => c.type === type);
    if (!started || !moved) throw new AcmeProblem("malformed", "no such challenge", { status: 404 });
    if (moved.status === "processing" && wrote) {
      validations.start(started, type, moved.token, keyAuthorization(moved.token, auth.account.thumbprint));
      void reply.header("retry-after", String(POLL_AFTER_SECONDS));
    } else if (moved.status === "processing") {
      void reply.header("retry-after", String(POLL_AFTER_SECONDS));
    } else if (started.challenges.some((c) => c.status === "processing")) {
      throw new AcmeProblem("malformed", "another challenge of this authorization is being validated");
    }
    return reply.send(challengeView(started.id, moved, urls));
  });
}

/** device-attest-01: the response carries the evidence, so it is verified now, in this request; the
 * challenge is moved to processing first so that two concurrent responses verify once. */
async function deviceAttest(ctx: AcmeContext, settings: AcmeSettings, authz: AuthzRecord, response: Record<string, unknown>, account: AccountRecord, now: Date): Promise<ChallengeRecord> {
  const { store } = ctx.deps;
  const challenge = authz.challenges.find((c) => c.type === "device-attest-01")!;
  if (typeof response.attObj !== "string" || response.attObj.length === 0) throw new AcmeProblem("malformed", "a device-attest-01 response carries attObj: the base64url CBOR attestation object");
  if (challenge.status !== "pending" || authzStatus(authz, now) !== "pending") return challenge;
  if (!settings.deviceAttest || !ctx.deps.deviceAttest) throw new AcmeProblem("malformed", "device attestation is not available on this server", { status: 404 });
  let wrote = false;
  const started = await store.updateAuthz(
    authz.id,
    (a) => {
      wrote = false;
      const c = a.challenges.find((x) => x.type === "device-attest-01");
      if (a.status !== "pending" || !c || c.status !== "pending") return null;
      c.status = "processing";
      wrote = true;
      return a;
    },
    authz,
  );
  const moved = started?.challenges.find((c) => c.type === "device-attest-01");
  if (!started || !moved || !wrote) return moved ?? challenge;
  let outcome: { attested: DeviceAttested } | { error: ProblemDocument };
  try {
    const r = await ctx.deps.deviceAttest({
      attestationProvisioner: settings.deviceAttest.attestationProvisioner,
      permanentIdentifier: authz.identifier.value,
      attObj: response.attObj,
      keyAuthorization: keyAuthorization(moved.token, account.thumbprint),
      accountId: account.id,
    });
    outcome = { attested: { keySpki: r.keySpki.toString("base64url"), binding: r.binding } };
  } catch (err) {
    if (!(err instanceof AcmeProblem)) {
      // The server's trouble, not the device's: the challenge may be answered again.
      await store.updateAuthz(started.id, (a) => {
        const c = a.challenges.find((x) => x.type === "device-attest-01");
        if (!c || c.status !== "processing") return null;
        c.status = "pending";
        return a;
      }, started);
      throw err;
    }
    outcome = { error: problemDocument(err.type, err.detail, err.status, { identifier: authz.identifier }) };
  }
  const final = await settleChallenge(store, started, "device-attest-01", "attested" in outcome ? { valid: true, attested: outcome.attested } : { valid: false, error: outcome.error }, ctx.now());
  return final?.challenges.find((c) => c.type === "device-attest-01") ?? moved;
}

async function loadAuthz(ctx: AcmeContext, id: string, account: AccountRecord): Promise<AuthzRecord> {
  const authz = await ctx.deps.store.authz(id);
  if (!authz) throw new AcmeProblem("malformed", "no such authorization", { status: 404 });
  if (authz.accountId !== account.id) throw new AcmeProblem("unauthorized", "the authorization belongs to another account");
  return authz;
}
