// Authorizations (§7.5, deactivation §7.5.2) and challenges (§7.5.1, retries §8.2).
import type { FastifyInstance } from "fastify";
import { objectPayload, type AcmeContext } from "../context.js";
import { keyAuthorization } from "../jws.js";
import { CHALLENGE_TYPES, type AccountRecord, type AuthzRecord, type ChallengeType } from "../ports.js";
import { AcmeProblem } from "../problems.js";
import { authzStatus, authzView, challengeView } from "../views.js";
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
    // §7.5.1: the response is an empty object (clients may send more; nothing else is defined).
    objectPayload(auth.payload, "challenge response");
    const now = ctx.now();
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

async function loadAuthz(ctx: AcmeContext, id: string, account: AccountRecord): Promise<AuthzRecord> {
  const authz = await ctx.deps.store.authz(id);
  if (!authz) throw new AcmeProblem("malformed", "no such authorization", { status: 404 });
  if (authz.accountId !== account.id) throw new AcmeProblem("unauthorized", "the authorization belongs to another account");
  return authz;
}
