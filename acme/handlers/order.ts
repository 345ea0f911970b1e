// Orders: newOrder (§7.4, with RFC 9773 `replaces` and the profiles extension), the order resource,
// and finalize, which hands the CSR to the authority's one pipeline.
import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { isSignetError } from "../../ca/errors.js";
import type { ProvisionerRecord } from "../../ca/ports.js";
import { acmeProfiles, csrMatchesOrder, type AcmeSettings } from "../../ca/provisioners/index.js";
import { attested, csrKeyIs, type AttestedBinding } from "../../ca/attestation/sign-options.js";
import { parseCertId } from "../ari.js";
import { assertPostAsGet, objectPayload, type AcmeContext } from "../context.js";
import { parseIdentifiers, type CheckedIdentifier } from "../identifiers.js";
import type { AccountRecord, AuthzRecord, ChallengeRecord, DeviceAttested, OrderRecord } from "../ports.js";
import { AcmeProblem, problemDocument, toProblem, type ProblemDocument } from "../problems.js";
import { orderStatus, orderView } from "../views.js";

/** How long a client is asked to wait before polling a resource that is still changing. */
export const POLL_AFTER_SECONDS = 1;
/** Codes of a CSR the client can correct: the order stays ready for another finalize. */
const CSR_CODES = new Set(["bad_csr", "bad_csr_signature", "forbidden_key", "bad_pem"]);
/** Codes of a server that could not complete now (503): nothing was issued, the order stays ready. */
const TRANSIENT_CODES = new Set(["storage_failed", "signing_failed", "database_locked"]);

const newId = () => randomBytes(12).toString("base64url");
const newToken = () => randomBytes(32).toString("base64url");

export function orderRoutes(app: FastifyInstance, ctx: AcmeContext): void {
  const { store } = ctx.deps;

  app.post("/new-order", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    const { provisioner, settings, urls } = req.acme;
    const body = objectPayload(auth.payload, "newOrder");
    const now = ctx.now();
    const identifiers = parseIdentifiers(body.identifiers, { wildcards: settings.wildcards, ip: settings.ipIdentifiers, permanent: settings.deviceAttest !== null });
    const device = identifiers.some((i) => i.type === "permanent-identifier");
    if (device && identifiers.length !== 1) {
      throw new AcmeProblem("rejectedIdentifier", "a device order names its permanent-identifier alone: the names its certificate holds come from the device's attestation");
    }
    // A device's names come from its attestation decision (device-attest-01), not from the account;
    // an account bound to a workload's decision must not escape it through a device order.
    const accountBinding = await attestedBinding(ctx, auth.account);
    if (device) refuseBoundDeviceOrder(accountBinding);
    else {
      await checkNames(ctx, provisioner, identifiers);
      checkAttested(accountBinding, identifiers, now);
    }
    const { notBefore, notAfter } = validity(body, provisioner, ctx.deps.authority.lifetime.minSeconds, now);
    const profile = pickProfile(body.profile, provisioner);
    const replaces = await checkReplaces(ctx, body.replaces, auth.account, identifiers);
    await checkRateLimits(ctx, auth.account, settings, now);

    const expires = new Date(now.getTime() + settings.orderLifetimeSeconds * 1000);
    const orderId = newId();
    const authzs: AuthzRecord[] = identifiers.map((id) => ({
      id: newId(),
      accountId: auth.account.id,
      orderId,
      identifier: { type: id.type, value: id.authzValue },
      wildcard: id.wildcard,
      status: "pending",
      expires,
      challenges: challengesFor(id, settings),
    }));
    const order: OrderRecord = {
      id: orderId,
      accountId: auth.account.id,
      provisionerId: provisioner.id,
      status: "pending",
      identifiers: identifiers.map(({ type, value }) => ({ type, value })),
      authzIds: authzs.map((a) => a.id),
      notBefore,
      notAfter,
      profile,
      expires,
      error: null,
      certificateSerial: null,
      replaces,
      createdAt: now,
    };
    if ((await store.createOrder(order, authzs)) === "replaced") {
      throw new AcmeProblem("alreadyReplaced", "the certificate is already being replaced by another order");
    }
    return reply.code(201).header("location", urls.order(orderId)).send(orderView(order, authzs, urls, now));
  });

  app.post<{ Params: { id: string } }>("/order/:id", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    assertPostAsGet(auth.payload);
    const { order, authzs } = await loadOrder(ctx, req.params.id, auth.account);
    return sendOrder(ctx, reply, order, authzs, req.acme.urls);
  });

  app.post<{ Params: { id: string } }>("/order/:id/finalize", async (req, reply) => {
    const auth = await ctx.authenticateAccount(req);
    const { provisioner, urls } = req.acme;
    const body = objectPayload(auth.payload, "finalize");
    if (typeof body.csr !== "string" || !/^[A-Za-z0-9_-]+$/.test(body.csr)) throw new AcmeProblem("malformed", "csr must be the base64url DER of a PKCS#10 request");
    const { order, authzs } = await loadOrder(ctx, req.params.id, auth.account);
    const now = ctx.now();
    const status = orderStatus(order, authzs, now);
    if (status !== "ready") {
      throw new AcmeProblem("orderNotReady", `the order is ${status}, not ready: ${status === "pending" ? "its authorizations are not all valid yet" : "it cannot be finalized again"}`);
    }
    const device = deviceAttested(order, authzs);
    const accountBinding = await attestedBinding(ctx, auth.account);
    if (device) refuseBoundDeviceOrder(accountBinding);
    const binding = device ? device.binding : accountBinding;
    const processing = await store.beginFinalize(order.id, now);
    if (!processing) throw new AcmeProblem("orderNotReady", "the order changed meanwhile (finalized by another request, or an authorization was deactivated or expired)");
    const lifetimeSeconds = order.notAfter ? Math.floor((order.notAfter.getTime() - now.getTime()) / 1000) : undefined;
    let issued: Awaited<ReturnType<typeof ctx.deps.authority.sign>>;
    try {
      issued = await ctx.deps.authority.sign({
        csr: Buffer.from(body.csr, "base64url"),
        provisioner: provisioner.name,
        via: "acme",
        actor: `acme-account:${auth.account.id}`,
        accountId: auth.account.id,
        profile: order.profile ?? undefined,
        lifetimeSeconds,
        options: device
          ? [csrKeyIs(Buffer.from(device.keySpki, "base64url")), ...attested(device.binding)]
          : [
              csrMatchesOrder({
                dns: order.identifiers.filter((i) => i.type === "dns").map((i) => i.value),
                ip: order.identifiers.filter((i) => i.type === "ip").map((i) => i.value),
              }),
              ...(binding ? attested(binding) : []),
            ],
      });
    } catch (err) {
      if (isSignetError(err) && (CSR_CODES.has(err.code) || TRANSIENT_CODES.has(err.code))) {
        // The client can send a better CSR, or try again once the server recovers: back to ready.
        await store.setOrderStatus(order.id, "processing", "pending");
        throw err;
      }
      const { problem } = toProblem(err);
      const doc: ProblemDocument = problemDocument(problem.type, problem.detail, problem.status);
      await store.setOrderStatus(order.id, "processing", "invalid", { error: doc });
      throw err;
    }
    // Outside the refusal path: a certificate exists now, so a storage error here must not mark the
    // order invalid (it stays processing, and the sweep ends it if this write never happens).
    const valid = await store.setOrderStatus(order.id, "processing", "valid", { certificateSerial: issued.serialHex });
    return sendOrder(ctx, reply, valid ?? processing, authzs, urls);
  });
}

export async function loadOrder(ctx: AcmeContext, id: string, account: AccountRecord): Promise<{ order: OrderRecord; authzs: AuthzRecord[] }> {
  const found = await ctx.deps.store.orderWithAuthzs(id);
  if (!found) throw new AcmeProblem("malformed", "no such order", { status: 404 });
  if (found.order.accountId !== account.id) throw new AcmeProblem("unauthorized", "the order belongs to another account");
  return found;
}

function sendOrder(ctx: AcmeContext, reply: FastifyReply, order: OrderRecord, authzs: AuthzRecord[], urls: Parameters<typeof orderView>[2]) {
  const view = orderView(order, authzs, urls, ctx.now());
  if (view.status === "processing" || view.status === "pending") void reply.header("retry-after", String(POLL_AFTER_SECONDS));
  return reply.header("location", urls.order(order.id)).send(view);
}

function challengesFor(id: CheckedIdentifier, settings: AcmeSettings): ChallengeRecord[] {
  const types = settings.challenges.filter((t) =>
    id.type === "permanent-identifier" ? t === "device-attest-01" : t === "device-attest-01" ? false : id.wildcard ? t === "dns-01" : id.type === "ip" ? t !== "dns-01" : true,
  );
  if (types.length === 0) throw new AcmeProblem("rejectedIdentifier", `no challenge this provisioner offers can validate ${id.value}`, { identifier: { type: id.type, value: id.value } });
  return types.map((type) => ({ type, token: newToken(), status: "pending" }));
}

/** A device order's attestation: the key and decision its valid device-attest-01 challenge recorded. */
function deviceAttested(order: OrderRecord, authzs: AuthzRecord[]): DeviceAttested | null {
  if (!order.identifiers.some((i) => i.type === "permanent-identifier")) return null;
  const a = authzs.find((x) => x.identifier.type === "permanent-identifier");
  const found = a?.challenges.find((c) => c.type === "device-attest-01" && c.status === "valid")?.attested;
  // A ready device order without its attestation on record must not issue unrestricted.
  if (!found) throw new AcmeProblem("unauthorized", "the device attestation of this order is not on record");
  return found;
}

function refuseBoundDeviceOrder(accountBinding: AttestedBinding | null): void {
  if (accountBinding) throw new AcmeProblem("unauthorized", "an account bound to an attestation decision orders only that decision's names, not device identifiers");
}

/** The attestation decision the account's EAB key was handed out for, if any. */
async function attestedBinding(ctx: AcmeContext, account: AccountRecord): Promise<AttestedBinding | null> {
  if (account.eabKid === null) return null;
  const key = await ctx.deps.store.eabKey(account.eabKid);
  // An account bound by a key that is no longer on record must not become unrestricted.
  if (!key) throw new AcmeProblem("unauthorized", "the external account binding of this account is no longer on record");
  return key.binding;
}

/** An attested account orders only the names its decision allowed. */
function checkAttested(binding: AttestedBinding | null, ids: CheckedIdentifier[], now: Date): void {
  if (!binding) return;
  if (binding.expiresAt !== null && Date.parse(binding.expiresAt) <= now.getTime()) {
    throw new AcmeProblem("unauthorized", `the attestation decision behind this account expired at ${binding.expiresAt}: attest again for a new account`);
  }
  const problems: ProblemDocument[] = [];
  for (const id of ids) {
    const allowed = id.type === "dns" ? !id.wildcard && binding.dns.includes(id.value) : binding.ip.includes(id.value);
    if (!allowed) problems.push(problemDocument("rejectedIdentifier", `${id.value} is not among the names the attestation decision allows (${[...binding.dns, ...binding.ip].join(", ") || "none"})`, 400, { identifier: { type: id.type, value: id.value } }));
  }
  if (problems.length > 0) throw new AcmeProblem("rejectedIdentifier", problems.length === 1 ? problems[0]!.detail : `${problems.length} identifiers are outside the attestation decision`, { subproblems: problems });
}

async function checkNames(ctx: AcmeContext, provisioner: ProvisionerRecord, ids: CheckedIdentifier[]): Promise<void> {
  const problems: ProblemDocument[] = [];
  for (const id of ids) {
    try {
      await ctx.deps.authority.checkNames(provisioner, id.type === "dns" ? { dns: [id.value] } : { ip: [id.value] });
    } catch (err) {
      if (!isSignetError(err, "forbidden_name")) throw err;
      problems.push(problemDocument("rejectedIdentifier", err.message, 400, { identifier: { type: id.type, value: id.value } }));
    }
  }
  if (problems.length > 0) {
    throw new AcmeProblem("rejectedIdentifier", problems.length === 1 ? problems[0]!.detail : `${problems.length} identifiers are refused by policy`, { subproblems: problems });
  }
}

function parseTime(v: unknown, field: string): Date | null {
  if (v === undefined) return null;
  if (typeof v !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw new AcmeProblem("malformed", `${field} must be an RFC 3339 date-time`);
  }
  return new Date(v);
}

/** notBefore/notAfter (§7.1.3): Signet issues from now, so notBefore may not lie ahead; notAfter must
 * give a lifetime within the provisioner's bounds. */
function validity(body: Record<string, unknown>, p: ProvisionerRecord, minSeconds: number, now: Date): { notBefore: Date | null; notAfter: Date | null } {
  const notBefore = parseTime(body.notBefore, "notBefore");
  const notAfter = parseTime(body.notAfter, "notAfter");
  if (notBefore && notBefore.getTime() > now.getTime() + 60_000) throw new AcmeProblem("malformed", "notBefore in the future is not supported: certificates are valid from issuance");
  if (notAfter) {
    const seconds = (notAfter.getTime() - now.getTime()) / 1000;
    if (notBefore && notAfter <= notBefore) throw new AcmeProblem("malformed", "notAfter must be after notBefore");
    if (seconds > p.maxLifetimeSeconds) throw new AcmeProblem("malformed", `notAfter is beyond this provisioner's maximum lifetime of ${p.maxLifetimeSeconds}s`);
    if (seconds < minSeconds) throw new AcmeProblem("malformed", `notAfter leaves less than the minimum certificate lifetime of ${minSeconds}s`);
  }
  return { notBefore, notAfter };
}

function pickProfile(v: unknown, p: ProvisionerRecord): string | null {
  if (v === undefined) return null;
  const allowed = acmeProfiles(p);
  if (typeof v !== "string" || !(allowed as string[]).includes(v)) {
    throw new AcmeProblem("invalidProfile", `profile ${JSON.stringify(v)} is not offered; this provisioner offers ${allowed.join(", ")}`);
  }
  return v;
}

/** RFC 9773 §5: the predecessor must be this account's, share an identifier, and not be replaced yet. */
async function checkReplaces(ctx: AcmeContext, v: unknown, account: AccountRecord, ids: CheckedIdentifier[]): Promise<string | null> {
  if (v === undefined) return null;
  if (typeof v !== "string") throw new AcmeProblem("malformed", "replaces must be an ARI certificate identifier");
  const { authorityKeyIdHex, serialHex } = parseCertId(v);
  const cert = await ctx.deps.certificates.get(serialHex);
  if (!cert || cert.issuerId !== authorityKeyIdHex) throw new AcmeProblem("malformed", "replaces names a certificate this server did not issue");
  if (cert.accountId !== account.id) throw new AcmeProblem("unauthorized", "replaces names a certificate of another account");
  const names = new Set([...cert.names.dns, ...cert.names.ip]);
  if (!ids.some((i) => names.has(i.value))) throw new AcmeProblem("malformed", "the order shares no identifier with the certificate it replaces");
  const other = await ctx.deps.store.orderReplacing(v);
  if (other) throw new AcmeProblem("alreadyReplaced", `the certificate is already being replaced by order ${other.id}`);
  return v;
}

async function checkRateLimits(ctx: AcmeContext, account: AccountRecord, settings: AcmeSettings, now: Date): Promise<void> {
  const { orders, failedValidations, windowSeconds } = settings.rateLimits;
  const since = new Date(now.getTime() - windowSeconds * 1000);
  const retry = (oldest: Date | null) => Math.max(1, Math.ceil(((oldest ?? now).getTime() + windowSeconds * 1000 - now.getTime()) / 1000));
  const { orders: o, failedValidations: f } = await ctx.deps.store.recentActivity(account.id, since);
  if (o.count >= orders) {
    throw new AcmeProblem("rateLimited", `too many new orders: ${o.count} in the last ${windowSeconds}s (limit ${orders})`, { retryAfterSeconds: retry(o.oldest) });
  }
  if (f.count >= failedValidations) {
    throw new AcmeProblem("rateLimited", `too many failed validations: ${f.count} in the last ${windowSeconds}s (limit ${failedValidations})`, { retryAfterSeconds: retry(f.oldest) });
  }
}
