// A small ACME client for protocol tests that need to see every status, header and problem document:
// JWS signing (ES256, ES384, RS256, EdDSA and the HMAC of External Account Binding), nonce handling,
// and the steps of an order. It is written from RFC 8555 and RFC 7638 alone and imports nothing from
// acme/, so a bug there cannot hide behind the same bug here.
import type { Directory } from "./acme-raw.js";
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { makeCsr } from "./csr.js";
import { fetchRaw, type HttpResult } from "./server.js";

export type JwsAlg = "ES256" | "ES384" | "RS256" | "EdDSA";

export interface AccountKey {
  alg: JwsAlg;
  privateKey: KeyObject;
  /** The public JWK, members as node exports them. */
  jwk: Record<string, string>;
  /** RFC 7638 thumbprint. */
  thumbprint: string;
}

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface AcmeResponse<T = Record<string, unknown>> {
  status: number;
  headers: HttpResult["headers"];
  text: string;
  /** The JSON body, or {} when the body is not JSON. */
  body: T;
  location: string | undefined;
  /** Link header values, one per link. */
  links: string[];
}

export interface Challenge {
  type: string;
  url: string;
  status: string;
  token: string;
  validated?: string;
  error?: Problem;
}

export interface Problem {
  type: string;
  detail: string;
  status?: number;
  identifier?: { type: string; value: string };
  subproblems?: Problem[];
}

export interface Authz {
  identifier: { type: string; value: string };
  status: string;
  expires: string;
  challenges: Challenge[];
  wildcard?: boolean;
}

export interface Order {
  status: string;
  expires: string;
  identifiers: { type: string; value: string }[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  replaces?: string;
  error?: Problem;
}

const b64u = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** RFC 7638 §3: SHA-256 over the required members, lexicographically ordered, no whitespace. */
export function jwkThumbprint(jwk: Record<string, string>): string {
  const required: Record<string, string[]> = { EC: ["crv", "kty", "x", "y"], RSA: ["e", "kty", "n"], OKP: ["crv", "kty", "x"] };
  const members = required[jwk.kty!];
  if (!members) throw new Error(`no thumbprint for kty ${jwk.kty}`);
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(",")}}`;
  return createHash("sha256").update(canonical).digest("base64url");
}

export function publicJwkOf(key: KeyObject): Record<string, string> {
  const { kty, crv, x, y, n, e } = createPublicKey(key).export({ format: "jwk" }) as Record<string, string>;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

export function accountKeyFrom(privateKey: KeyObject, alg: JwsAlg): AccountKey {
  const jwk = publicJwkOf(privateKey);
  return { alg, privateKey, jwk, thumbprint: jwkThumbprint(jwk) };
}

export function newAccountKey(alg: JwsAlg = "ES256"): AccountKey {
  const { privateKey } =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "ES384"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : alg === "RS256"
          ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ed25519");
  return accountKeyFrom(privateKey, alg);
}

/** JWS signature bytes over `input` (ECDSA as r||s, RFC 7518 §3.4). */
export function jwsSign(alg: JwsAlg, privateKey: KeyObject, input: string): Buffer {
  const data = Buffer.from(input, "ascii");
  switch (alg) {
    case "ES256":
      return sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    case "ES384":
      return sign("sha384", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    case "RS256":
      return sign("sha256", data, privateKey);
    case "EdDSA":
      return sign(null, data, privateKey);
  }
}

/** A flattened JWS; `payload` null is the empty payload of POST-as-GET. */
export function signJws(key: Pick<AccountKey, "alg" | "privateKey">, header: Record<string, unknown>, payload: unknown): FlattenedJws {
  const prot = b64u(JSON.stringify({ alg: key.alg, ...header }));
  const body = payload === null ? "" : b64u(JSON.stringify(payload));
  return { protected: prot, payload: body, signature: b64u(jwsSign(key.alg, key.privateKey, `${prot}.${body}`)) };
}

/** RFC 8555 §7.3.4: the externalAccountBinding JWS, MACed with the EAB key over the account JWK. */
export function eabJws(kid: string, hmacKeyB64u: string, jwk: Record<string, string>, url: string, alg: "HS256" | "HS384" | "HS512" = "HS256"): FlattenedJws {
  const prot = b64u(JSON.stringify({ alg, kid, url }));
  const payload = b64u(JSON.stringify(jwk));
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg];
  const mac = createHmac(hash, Buffer.from(hmacKeyB64u, "base64url")).update(`${prot}.${payload}`).digest();
  return { protected: prot, payload, signature: b64u(mac) };
}

export const keyAuthorizationOf = (token: string, key: AccountKey) => `${token}.${key.thumbprint}`;
/** §8.4: the TXT value of a dns-01 challenge. */
export const dns01Value = (keyAuthorization: string) => createHash("sha256").update(keyAuthorization).digest("base64url");

function toResponse<T>(r: HttpResult): AcmeResponse<T> {
  let body = {} as T;
  try {
    body = JSON.parse(r.text) as T;
  } catch {
    // not JSON (a certificate chain, an empty body)
  }
  const link = r.headers.link;
  return {
    status: r.status,
    headers: r.headers,
    text: r.text,
    body,
    location: r.headers.location as string | undefined,
    links: link === undefined ? [] : (Array.isArray(link) ? link : [link]).flatMap((l) => l.split(/,(?=\s*<)/).map((s) => s.trim())),
  };
}

export type { Directory } from "./acme-raw.js";

/** One account's view of one ACME directory. */
export class AcmeFlow {
  #nonce: string | undefined;
  /** The account URL once newAccount succeeded. */
  kid: string | undefined;

  private constructor(
    readonly directory: Directory,
    readonly ca: string,
    readonly key: AccountKey,
  ) {}

  static async open(directoryUrl: string, ca: string, key: AccountKey = newAccountKey()): Promise<AcmeFlow> {
    const r = await fetchRaw(directoryUrl, { ca });
    if (r.status !== 200) throw new Error(`directory ${directoryUrl}: HTTP ${r.status} ${r.text}`);
    return new AcmeFlow(r.json<Directory>(), ca, key);
  }

  /** A fresh client for the same directory with another key. */
  other(key: AccountKey = newAccountKey()): AcmeFlow {
    return new AcmeFlow(this.directory, this.ca, key);
  }

  async nonce(): Promise<string> {
    const n = this.#nonce;
    this.#nonce = undefined;
    if (n) return n;
    const r = await fetchRaw(this.directory.newNonce, { method: "HEAD", ca: this.ca });
    const fresh = r.headers["replay-nonce"];
    if (typeof fresh !== "string") throw new Error(`newNonce gave no Replay-Nonce (HTTP ${r.status})`);
    return fresh;
  }

  /** Sends a JWS body as it is (for requests a test builds by hand); keeps the response's nonce. */
  async postJws<T = Record<string, unknown>>(url: string, jws: unknown): Promise<AcmeResponse<T>> {
    const r = await fetchRaw(url, { method: "POST", ca: this.ca, headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) });
    const n = r.headers["replay-nonce"];
    if (typeof n === "string") this.#nonce = n;
    return toResponse<T>(r);
  }

  /** A request signed by this account (kid), or with the key as jwk when there is no account yet or `jwk` is set. */
  async post<T = Record<string, unknown>>(url: string, payload: unknown, opts: { jwk?: boolean; key?: AccountKey } = {}): Promise<AcmeResponse<T>> {
    const key = opts.key ?? this.key;
    const useJwk = opts.jwk ?? this.kid === undefined;
    const header = { nonce: await this.nonce(), url, ...(useJwk ? { jwk: key.jwk } : { kid: this.kid }) };
    return this.postJws<T>(url, signJws(key, header, payload));
  }

  /** POST-as-GET (§6.3). */
  async fetch<T = Record<string, unknown>>(url: string): Promise<AcmeResponse<T>> {
    return this.post<T>(url, null);
  }

  async newAccount(payload: Record<string, unknown> = { termsOfServiceAgreed: true }): Promise<AcmeResponse> {
    const r = await this.post(this.directory.newAccount, payload, { jwk: true });
    if ((r.status === 201 || r.status === 200) && r.location) this.kid = r.location;
    return r;
  }

  /** newAccount that must succeed. */
  async register(payload?: Record<string, unknown>): Promise<this> {
    const r = await this.newAccount(payload);
    if (r.status !== 201) throw new Error(`newAccount: HTTP ${r.status} ${r.text}`);
    return this;
  }

  async newOrder(identifiers: { type: string; value: string }[], extra: Record<string, unknown> = {}): Promise<AcmeResponse<Order>> {
    return this.post<Order>(this.directory.newOrder, { identifiers, ...extra });
  }

  /** The order's authorizations, read once each. */
  async authzs(order: Order): Promise<(Authz & { url: string })[]> {
    const out: (Authz & { url: string })[] = [];
    for (const url of order.authorizations) {
      const r = await this.fetch<Authz>(url);
      if (r.status !== 200) throw new Error(`authz ${url}: HTTP ${r.status} ${r.text}`);
      out.push({ ...r.body, url });
    }
    return out;
  }

  /** Polls `url` (POST-as-GET) until `done` holds, at most `ms`; returns the last response. */
  async pollUntil<T>(url: string, done: (body: T) => boolean, ms = 15_000): Promise<AcmeResponse<T>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await this.fetch<T>(url);
      if (r.status !== 200) throw new Error(`poll ${url}: HTTP ${r.status} ${r.text}`);
      if (done(r.body) || Date.now() > deadline) return r;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Until the authorization leaves pending (its challenge left processing). */
  async settleAuthz(url: string, ms?: number): Promise<Authz> {
    return (await this.pollUntil<Authz>(url, (a) => a.status !== "pending", ms)).body;
  }

  async finalize(order: Order, csrDer: Buffer): Promise<AcmeResponse<Order>> {
    return this.post<Order>(order.finalize, { csr: b64u(csrDer) });
  }

  /**
   * A whole issuance: order, one challenge of `type` per authorization met by `fulfil`, finalize with
   * a fresh P-256 CSR naming the identifiers, download. Throws on any unexpected step.
   */
  async issue(
    identifiers: { type: "dns" | "ip"; value: string }[],
    type: string,
    fulfil: (challenge: Challenge, keyAuthorization: string, authz: Authz) => void | Promise<void>,
    extra: Record<string, unknown> = {},
  ): Promise<{ orderUrl: string; order: Order; chainPem: string; leafPem: string; certKey: KeyObject; certUrl: string }> {
    const created = await this.newOrder(identifiers, extra);
    if (created.status !== 201) throw new Error(`newOrder: HTTP ${created.status} ${created.text}`);
    const orderUrl = created.location!;
    for (const authz of await this.authzs(created.body)) {
      if (authz.status === "valid") continue;
      const challenge = authz.challenges.find((c) => c.type === type);
      if (!challenge) throw new Error(`no ${type} challenge for ${authz.identifier.value}`);
      await fulfil(challenge, keyAuthorizationOf(challenge.token, this.key), authz);
      const r = await this.post(challenge.url, {});
      if (r.status !== 200) throw new Error(`challenge response: HTTP ${r.status} ${r.text}`);
      const settled = await this.settleAuthz(authz.url);
      if (settled.status !== "valid") throw new Error(`authorization ${authz.identifier.value} is ${settled.status}: ${JSON.stringify(settled.challenges)}`);
    }
    const csr = makeCsr({
      sans: { dns: identifiers.filter((i) => i.type === "dns").map((i) => i.value), ip: identifiers.filter((i) => i.type === "ip").map((i) => i.value) },
    });
    const fin = await this.finalize(created.body, csr.der);
    if (fin.status !== 200) throw new Error(`finalize: HTTP ${fin.status} ${fin.text}`);
    const order = (await this.pollUntil<Order>(orderUrl, (o) => o.status !== "processing")).body;
    if (order.status !== "valid" || !order.certificate) throw new Error(`order is ${order.status}: ${JSON.stringify(order)}`);
    const dl = await this.fetch(order.certificate);
    if (dl.status !== 200) throw new Error(`download: HTTP ${dl.status} ${dl.text}`);
    const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(dl.text)![0];
    return { orderUrl, order, chainPem: dl.text, leafPem, certKey: csr.privateKey, certUrl: order.certificate };
  }
}

/** Splits a PEM bundle into its certificates. */
export function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}
