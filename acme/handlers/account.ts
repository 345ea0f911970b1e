// Accounts: newAccount (§7.3, with onlyReturnExisting and External Account Binding §7.3.4), the
// account resource (§7.3.2 update, §7.3.6 deactivation), its orders list (§7.1.2.1) and key
// rollover (§7.3.5).
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import { assertPostAsGet, objectPayload, type AcmeContext } from "../context.js";
import { assertAccountAlgorithm, parseEab, parseJws, publicJwk, thumbprint, verifySignature } from "../jws.js";
import type { AccountRecord } from "../ports.js";
import { AcmeProblem } from "../problems.js";
import { accountView } from "../views.js";

const MAX_CONTACTS = 8;
const ORDERS_PAGE = 100;

/** §7.3: mailto: contacts only, one address each, no header fields. */
export function validateContacts(v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new AcmeProblem("malformed", "contact must be an array of URLs");
  if (v.length > MAX_CONTACTS) throw new AcmeProblem("invalidContact", `at most ${MAX_CONTACTS} contacts`);
  return v.map((c: unknown) => {
    if (typeof c !== "string") throw new AcmeProblem("invalidContact", "each contact must be a string URL");
    if (!c.startsWith("mailto:")) throw new AcmeProblem("unsupportedContact", `only mailto: contacts are supported, not ${JSON.stringify(c.slice(0, 64))}`);
    const addr = c.slice("mailto:".length);
    if (addr.length > 254 || addr.includes("?") || addr.includes(",") || !/^[^\s@<>()]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$/.test(addr)) {
      throw new AcmeProblem("invalidContact", `${JSON.stringify(c.slice(0, 64))} is not a single email address`);
    }
    return c;
  });
}

export function accountRoutes(app: FastifyInstance, ctx: AcmeContext): void {
  const { store, audit } = ctx.deps;

  app.post("/new-account", async (req, reply) => {
    const auth = await ctx.authenticate(req, "jwk");
    const body = objectPayload(auth.payload ?? {}, "newAccount");
    const { provisioner, settings, urls } = req.acme;
    const existing = await store.accountByThumbprint(provisioner.id, auth.thumbprint);
    if (existing) {
      // §7.3.6: a deactivated account's key is not accepted again.
      if (existing.status !== "valid") throw new AcmeProblem("unauthorized", `the account with this key is ${existing.status}`);
      return reply.code(200).header("location", urls.account(existing.id)).send(accountView(existing, urls));
    }
    if (body.onlyReturnExisting === true) throw new AcmeProblem("accountDoesNotExist", "no account exists with this key");
    const contact = validateContacts(body.contact);
    if (body.termsOfServiceAgreed !== undefined && typeof body.termsOfServiceAgreed !== "boolean") throw new AcmeProblem("malformed", "termsOfServiceAgreed must be a boolean");
    if (settings.termsOfService && body.termsOfServiceAgreed !== true) {
      throw new AcmeProblem("userActionRequired", `you must agree to the terms of service at ${settings.termsOfService}`);
    }
    let binding: { kid: string; singleUse: boolean } | null = null;
    if (body.externalAccountBinding !== undefined) {
      binding = await checkEab(ctx, body.externalAccountBinding, auth.thumbprint, urls.newAccount(), provisioner.id);
    } else if (settings.requireEab) {
      throw new AcmeProblem("externalAccountRequired", `the ACME provisioner ${provisioner.name} requires external account binding: create a key with \`signet eab create --provisioner ${provisioner.name}\``);
    }
    const id = randomBytes(12).toString("base64url");
    const result = await store.createAccount(
      { id, provisionerId: provisioner.id, thumbprint: auth.thumbprint, jwk: auth.jwk, status: "valid", contact, termsAgreed: body.termsOfServiceAgreed === true, eabKid: binding?.kid ?? null },
      binding,
    );
    if (result === "eab_used") throw new AcmeProblem("unauthorized", "the external account binding key has already been used or was revoked");
    if (result.created) {
      await audit.append({
        event: AUDIT_EVENTS.acmeAccountCreated,
        actor: `acme-account:${result.account.id}`,
        target: `acme-account:${result.account.id}`,
        data: { provisioner: provisioner.name, thumbprint: auth.thumbprint, keyType: auth.alg, contacts: contact.length, eabKid: binding?.kid ?? null },
      });
    }
    return reply.code(result.created ? 201 : 200).header("location", urls.account(result.account.id)).send(accountView(result.account, urls));
  });

  app.post<{ Params: { id: string } }>("/account/:id", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    const { urls, provisioner } = req.acme;
    ownAccount(auth.account, req.params.id);
    if (auth.payload === null) return reply.send(accountView(auth.account, urls));
    const body = objectPayload(auth.payload, "account update");
    let account: AccountRecord | null = auth.account;
    if (body.status !== undefined) {
      if (body.status !== "deactivated") throw new AcmeProblem("malformed", `an account's status can only be set to "deactivated"`);
      account = await store.updateAccount(auth.account.id, { status: "deactivated" });
      if (!account) throw new AcmeProblem("unauthorized", "the account is no longer valid");
      await audit.append({ event: AUDIT_EVENTS.acmeAccountDeactivated, actor: `acme-account:${account.id}`, target: `acme-account:${account.id}`, data: { provisioner: provisioner.name } });
    } else if (body.contact !== undefined) {
      const contact = validateContacts(body.contact);
      account = await store.updateAccount(auth.account.id, { contact });
      if (!account) throw new AcmeProblem("unauthorized", "the account is no longer valid");
      await audit.append({ event: AUDIT_EVENTS.acmeAccountUpdated, actor: `acme-account:${account.id}`, target: `acme-account:${account.id}`, data: { provisioner: provisioner.name, contacts: contact.length } });
    }
    return reply.send(accountView(account, urls));
  });

  app.post<{ Params: { id: string }; Querystring: { cursor?: string } }>("/account/:id/orders", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    ownAccount(auth.account, req.params.id);
    assertPostAsGet(auth.payload);
    const { urls } = req.acme;
    const cursor = typeof req.query.cursor === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(req.query.cursor) ? req.query.cursor : null;
    const page = await store.ordersOfAccount(auth.account.id, cursor, ORDERS_PAGE);
    if (page.more) void reply.header("link", `<${urls.orders(auth.account.id)}?cursor=${page.ids.at(-1)}>;rel="next"`);
    return reply.send({ orders: page.ids.map(urls.order) });
  });

  app.post("/key-change", async (req, reply) => {
    const outer = await ctx.authenticateAccount(req);
    const { urls, provisioner } = req.acme;
    const inner = parseJws(outer.payload);
    const alg = assertAccountAlgorithm(inner.header.alg);
    if (inner.header.jwk === undefined || inner.header.kid !== undefined) throw new AcmeProblem("malformed", "the inner JWS of a key change must carry the new key as jwk");
    if (inner.header.nonce !== undefined) throw new AcmeProblem("malformed", "the inner JWS of a key change must not carry a nonce");
    if (inner.header.url !== ctx.requestUrl(req)) throw new AcmeProblem("malformed", "the inner JWS url must equal the outer one");
    const newJwk = publicJwk(inner.header.jwk, alg);
    const { key, thumbprint: newTp, jwk: newCanonical } = ctx.importKey(newJwk);
    if (!verifySignature(inner, alg, key)) throw new AcmeProblem("malformed", "the inner JWS signature does not verify with the new key");
    const body = objectPayload(inner.payload, "key change");
    if (body.account !== urls.account(outer.account.id)) throw new AcmeProblem("malformed", "the key change payload's account is not the signing account");
    if (typeof body.oldKey !== "object" || body.oldKey === null) throw new AcmeProblem("malformed", "the key change payload has no oldKey");
    let oldTp: string;
    try {
      oldTp = ctx.importKey(publicJwk(body.oldKey as Record<string, unknown>, outer.alg)).thumbprint;
    } catch {
      throw new AcmeProblem("malformed", "oldKey is not the account's current key");
    }
    if (oldTp !== outer.account.thumbprint) throw new AcmeProblem("malformed", "oldKey is not the account's current key");
    if (newTp === oldTp) throw new AcmeProblem("malformed", "the new key is the account's current key");
    const holder = await store.accountByThumbprint(provisioner.id, newTp);
    if (holder) {
      void reply.header("location", urls.account(holder.id));
      throw new AcmeProblem("malformed", "the new key is already the key of another account", { status: 409 });
    }
    const changed = await store.changeKey(outer.account.id, oldTp, newCanonical, newTp);
    if (changed === "conflict") throw new AcmeProblem("malformed", "the new key is already the key of another account", { status: 409 });
    if (!changed) throw new AcmeProblem("unauthorized", "the account changed meanwhile; retry");
    await audit.append({
      event: AUDIT_EVENTS.acmeAccountKeyChanged,
      actor: `acme-account:${changed.id}`,
      target: `acme-account:${changed.id}`,
      data: { provisioner: provisioner.name, oldThumbprint: oldTp, newThumbprint: newTp, keyType: alg },
    });
    return reply.send(accountView(changed, urls));
  });
}

function ownAccount(account: AccountRecord, id: string): void {
  if (account.id !== id) throw new AcmeProblem("unauthorized", "the request is signed by another account");
}

async function checkEab(ctx: AcmeContext, value: unknown, outerThumbprint: string, url: string, provisionerId: string): Promise<{ kid: string; singleUse: boolean }> {
  const eab = parseEab(value);
  if (eab.url !== url) throw new AcmeProblem("malformed", "the external account binding's url must be the newAccount URL");
  let innerTp: string;
  try {
    innerTp = ctx.importKey(publicJwk(eab.jwk, eab.jwk.kty === "RSA" ? "RS256" : eab.jwk.kty === "OKP" ? "EdDSA" : eab.jwk.crv === "P-384" ? "ES384" : "ES256")).thumbprint;
  } catch {
    throw new AcmeProblem("malformed", "the external account binding's payload is not the account key");
  }
  if (innerTp !== outerThumbprint) throw new AcmeProblem("malformed", "the external account binding binds a different key than the one signing the request");
  const record = await ctx.deps.store.eabKey(eab.kid);
  const now = ctx.now();
  if (!record || record.provisionerId !== provisionerId) throw new AcmeProblem("unauthorized", "unknown external account binding key id");
  if (record.revokedAt) throw new AcmeProblem("unauthorized", "the external account binding key was revoked");
  if (record.expiresAt && record.expiresAt <= now) throw new AcmeProblem("unauthorized", "the external account binding key has expired");
  if (record.singleUse && record.usedAt) throw new AcmeProblem("unauthorized", "the external account binding key has already been used");
  const hmacKey = ctx.deps.eabBox.open(record.kid, record.keyCiphertext);
  if (!hmacKey) throw new AcmeProblem("unauthorized", "the external account binding key cannot be used (was it created under another CA key?)");
  if (!eab.verify(hmacKey)) throw new AcmeProblem("unauthorized", "the external account binding MAC does not verify");
  return { kid: record.kid, singleUse: record.singleUse };
}
