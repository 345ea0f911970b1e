// The JSON of ACME resources (RFC 8555 §7.1), and the states derived when they are read: an order is
// "ready" when all its authorizations are valid and "invalid" when one of them failed or the order
// expired (§7.1.6); a pending or valid authorization past its expiry is "expired".
import type { AccountRecord, AuthzRecord, AuthzStatus, ChallengeRecord, OrderRecord, OrderStatus } from "./ports.js";
import type { ProblemDocument } from "./problems.js";

export class AcmeUrls {
  constructor(readonly base: string) {}
  directory = () => `${this.base}/directory`;
  newNonce = () => `${this.base}/new-nonce`;
  newAccount = () => `${this.base}/new-account`;
  newOrder = () => `${this.base}/new-order`;
  revokeCert = () => `${this.base}/revoke-cert`;
  keyChange = () => `${this.base}/key-change`;
  renewalInfo = () => `${this.base}/renewal-info`;
  account = (id: string) => `${this.base}/account/${id}`;
  orders = (id: string) => `${this.base}/account/${id}/orders`;
  order = (id: string) => `${this.base}/order/${id}`;
  finalize = (id: string) => `${this.base}/order/${id}/finalize`;
  authz = (id: string) => `${this.base}/authz/${id}`;
  challenge = (authzId: string, type: string) => `${this.base}/chall/${authzId}/${type}`;
  certificate = (serial: string) => `${this.base}/cert/${serial}`;
  alternate = (serial: string, n: number) => `${this.base}/cert/${serial}/${n}`;
}

export function authzStatus(a: AuthzRecord, now: Date): AuthzStatus {
  return (a.status === "pending" || a.status === "valid") && a.expires <= now ? "expired" : a.status;
}

export function orderStatus(o: OrderRecord, authzs: AuthzRecord[], now: Date): OrderStatus {
  if (o.status !== "pending") return o.status;
  if (o.expires <= now) return "invalid";
  const states = authzs.map((a) => authzStatus(a, now));
  if (states.some((s) => s !== "pending" && s !== "valid")) return "invalid";
  return states.every((s) => s === "valid") ? "ready" : "pending";
}

/** Why a pending order is invalid, when it was derived: the failed challenges' errors. */
function derivedError(authzs: AuthzRecord[], now: Date): ProblemDocument {
  const sub = authzs.flatMap((a) => a.challenges.filter((c) => c.status === "invalid" && c.error).map((c) => ({ ...c.error!, identifier: a.identifier })));
  if (sub.length === 1) return sub[0]!;
  if (sub.length > 1) return { type: "urn:ietf:params:acme:error:compound", detail: "several authorizations failed", status: 403, subproblems: sub };
  const expired = authzs.some((a) => authzStatus(a, now) === "expired");
  return { type: "urn:ietf:params:acme:error:unauthorized", detail: expired ? "the order's authorizations expired" : "an authorization of this order was deactivated or failed", status: 403 };
}

export function accountView(a: AccountRecord, urls: AcmeUrls) {
  return {
    status: a.status,
    contact: a.contact,
    termsOfServiceAgreed: a.termsAgreed,
    orders: urls.orders(a.id),
    createdAt: a.createdAt.toISOString(),
  };
}

export function orderView(o: OrderRecord, authzs: AuthzRecord[], urls: AcmeUrls, now: Date) {
  const status = orderStatus(o, authzs, now);
  const error = o.error ?? (status === "invalid" && o.status === "pending" ? derivedError(authzs, now) : null);
  return {
    status,
    expires: o.expires.toISOString(),
    identifiers: o.identifiers,
    ...(o.notBefore ? { notBefore: o.notBefore.toISOString() } : {}),
    ...(o.notAfter ? { notAfter: o.notAfter.toISOString() } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
    ...(o.replaces ? { replaces: o.replaces } : {}),
    ...(error ? { error } : {}),
    authorizations: o.authzIds.map(urls.authz),
    finalize: urls.finalize(o.id),
    ...(o.certificateSerial && status === "valid" ? { certificate: urls.certificate(o.certificateSerial) } : {}),
  };
}

export function challengeView(authzId: string, c: ChallengeRecord, urls: AcmeUrls) {
  return {
    type: c.type,
    url: urls.challenge(authzId, c.type),
    status: c.status,
    token: c.token,
    ...(c.validated ? { validated: c.validated } : {}),
    ...(c.error ? { error: c.error } : {}),
  };
}

export function authzView(a: AuthzRecord, urls: AcmeUrls, now: Date) {
  const status = authzStatus(a, now);
  // A valid authorization lists the challenge that validated it (§7.1.4); others list all.
  const challenges = a.status === "valid" ? a.challenges.filter((c) => c.status === "valid") : a.challenges;
  return {
    identifier: a.identifier,
    status,
    expires: a.expires.toISOString(),
    challenges: challenges.map((c) => challengeView(a.id, c, urls)),
    ...(a.wildcard ? { wildcard: true } : {}),
  };
}
