// A deliberately small ACME client (RFC 8555) for protocol tests. It speaks raw HTTPS and builds its
// own JWS, so a test can get any single part of a request wrong on purpose: the algorithm, the
// nonce, the url, how the key is identified, the JWS shape, the body or its content type. The
// happy path (account, order, http-01, finalize) is here too, so a test reaches the state it probes.
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign as nodeSign, type KeyObject } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { fetchRaw, type HttpResult } from "./server.js";

export const JOSE = "application/jose+json";

export const b64u = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

export type KeyType = "P-256" | "P-384" | "P-521" | "RSA-2048" | "RSA-1024" | "Ed25519";

/** The JWS algorithm each key type signs with when a test does not say otherwise. */
const NATURAL_ALG: Record<KeyType, string> = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "RSA-2048": "RS256", "RSA-1024": "RS256", Ed25519: "EdDSA" };

/** The HMAC key of HS* signatures: ACME forbids MACs for requests, so any key shows the refusal. */
const MAC_KEY = Buffer.alloc(32, 7);

export class AccountKey {
  readonly alg: string;
  /** The public JWK: the RFC 7638 required members only. */
  readonly jwk: Record<string, string>;

  private constructor(
    readonly type: KeyType,
    readonly privateKey: KeyObject,
    readonly publicKey: KeyObject,
  ) {
    this.alg = NATURAL_ALG[type];
    const full = publicKey.export({ format: "jwk" }) as Record<string, string>;
    this.jwk = Object.fromEntries(requiredMembers(full.kty!).map((k) => [k, full[k]!]));
  }

  static generate(type: KeyType = "P-256"): AccountKey {
    const pair =
      type === "Ed25519"
        ? generateKeyPairSync("ed25519")
        : type.startsWith("RSA-")
          ? generateKeyPairSync("rsa", { modulusLength: Number(type.slice(4)) })
          : generateKeyPairSync("ec", { namedCurve: type });
    return new AccountKey(type, pair.privateKey, pair.publicKey);
  }

  /** RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order. */
  thumbprint(): string {
    const canonical = JSON.stringify(Object.fromEntries(Object.keys(this.jwk).sort().map((k) => [k, this.jwk[k]])));
    return createHash("sha256").update(canonical).digest("base64url");
  }

  /** Signs `input` under any JWS algorithm name, including ones ACME refuses (none, HS256, RS1). */
  sign(alg: string, input: Buffer): Buffer {
    switch (alg) {
      case "none":
        return Buffer.alloc(0);
      case "HS256":
        return createHmac("sha256", MAC_KEY).update(input).digest();
      case "ES256":
      case "ES384":
      case "ES512":
        return nodeSign(`sha${alg.slice(2)}`, input, { key: this.privateKey, dsaEncoding: "ieee-p1363" });
      case "RS1":
        return nodeSign("sha1", input, this.privateKey);
      case "RS256":
      case "RS384":
      case "RS512":
        return nodeSign(`sha${alg.slice(2)}`, input, this.privateKey);
      case "EdDSA":
        return nodeSign(null, input, this.privateKey);
      default:
        throw new Error(`the test client cannot sign with ${alg}`);
    }
  }
}

function requiredMembers(kty: string): string[] {
  if (kty === "EC") return ["crv", "kty", "x", "y"];
  if (kty === "RSA") return ["e", "kty", "n"];
  return ["crv", "kty", "x"];
}

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** A flattened JWS over `payload` ("" for POST-as-GET), signed by `key` under `signAlg`. */
export function signJws(key: AccountKey, header: Record<string, unknown>, payload: string, signAlg = String(header.alg)): FlattenedJws {
  const prot = b64u(JSON.stringify(header));
  return { protected: prot, payload, signature: b64u(key.sign(signAlg, Buffer.from(`${prot}.${payload}`, "ascii"))) };
}

/** How a request is built; every field defaults to what a correct client sends. */
export interface SendOptions {
  /** The signing key; default: the client's account key. */
  key?: AccountKey;
  /** The protected header's alg; default: the key's natural algorithm. */
  alg?: string;
  /** The algorithm that really signs; default: `alg`. */
  signAlg?: string;
  /** The nonce; default: a fresh one; null: no nonce member. */
  nonce?: string | null;
  /** The url member; default: the request URL; null: no url member. */
  url?: string | null;
  /** How the key is named; default: kid once the client has an account, else jwk. */
  as?: "kid" | "jwk" | "both" | "neither";
  /** The kid; default: the client's account URL. */
  kid?: string;
  /** The jwk member; default: the key's public JWK. */
  jwk?: Record<string, unknown>;
  /** More protected header members. */
  header?: Record<string, unknown>;
  /** The JWS payload member verbatim (instead of base64url(JSON)). */
  rawPayload?: string;
  /** Reshapes the flattened JWS before it is serialised (extra members, general serialisation...). */
  reshape?: (jws: FlattenedJws) => unknown;
  /** The Content-Type header; default: application/jose+json. */
  contentType?: string;
}

export class AcmeResponse {
  constructor(readonly http: HttpResult) {}

  get status(): number {
    return this.http.status;
  }

  get text(): string {
    return this.http.text;
  }

  /** A header's values (Node joins repeated headers except set-cookie; Link may be one joined line). */
  header(name: string): string | undefined {
    const v = this.http.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(", ") : v;
  }

  get nonce(): string | undefined {
    return this.header("replay-nonce");
  }

  get location(): string | undefined {
    return this.header("location");
  }

  json<T = Record<string, any>>(): T {
    return this.http.json<T>();
  }

  /** The targets of the Link header with relation `rel`. */
  links(rel: string): string[] {
    const raw = this.header("link") ?? "";
    return [...raw.matchAll(/<([^>]*)>\s*;\s*rel="?([^",;]+)"?/g)].filter((m) => m[2] === rel).map((m) => m[1]!);
  }
}

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange: string;
  renewalInfo?: string;
  meta?: Record<string, unknown>;
}

export interface Identifier {
  type: string;
  value: string;
}

export interface OrderView {
  url: string;
  status: string;
  identifiers: Identifier[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Record<string, unknown>;
}

export interface PollOptions {
  attempts?: number;
  delayMs?: number;
}

export class AcmeRawClient {
  /** The account URL (kid) once an account exists. */
  kid: string | null = null;
  #nonce: string | null = null;

  private constructor(
    readonly directoryUrl: string,
    readonly dir: Directory,
    readonly ca: string,
    public key: AccountKey,
    readonly onResponse: (r: AcmeResponse) => void,
  ) {}

  static async connect(directoryUrl: string, ca: string, opts: { key?: AccountKey; onResponse?: (r: AcmeResponse) => void } = {}): Promise<AcmeRawClient> {
    const onResponse = opts.onResponse ?? (() => {});
    const res = new AcmeResponse(await fetchRaw(directoryUrl, { ca }));
    onResponse(res);
    if (res.status !== 200) throw new Error(`directory ${directoryUrl}: ${res.status} ${res.text}`);
    return new AcmeRawClient(directoryUrl, res.json<Directory>(), ca, opts.key ?? AccountKey.generate(), onResponse);
  }

  /** The provisioner's base URL, e.g. https://host/acme/acme. */
  get base(): string {
    return this.directoryUrl.replace(/\/directory$/, "");
  }

  /** Any HTTP request to the ACME server; the response's nonce is kept for the next JWS. */
  async send(method: string, url: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<AcmeResponse> {
    const res = new AcmeResponse(await fetchRaw(url, { method, ca: this.ca, headers: opts.headers ?? {}, ...(opts.body === undefined ? {} : { body: opts.body }) }));
    if (res.nonce) this.#nonce = res.nonce;
    this.onResponse(res);
    return res;
  }

  /** A nonce straight from newNonce (HEAD), not kept. */
  async freshNonce(): Promise<string> {
    const res = await this.send("HEAD", this.dir.newNonce);
    this.#nonce = null;
    if (!res.nonce) throw new Error(`newNonce gave no Replay-Nonce (${res.status})`);
    return res.nonce;
  }

  /** The nonce of the last response, or a fresh one; each is handed out once. */
  async takeNonce(): Promise<string> {
    const n = this.#nonce;
    this.#nonce = null;
    return n ?? (await this.freshNonce());
  }

  /** The request body a JWS POST would send. `payload` undefined means POST-as-GET. */
  async body(url: string, payload: unknown, opts: SendOptions = {}): Promise<string> {
    const key = opts.key ?? this.key;
    const alg = opts.alg ?? key.alg;
    const as = opts.as ?? (this.kid || opts.kid ? "kid" : "jwk");
    const header: Record<string, unknown> = { alg };
    if (as === "jwk" || as === "both") header.jwk = opts.jwk ?? key.jwk;
    if (as === "kid" || as === "both") {
      const kid = opts.kid ?? this.kid;
      if (!kid) throw new Error("no account: create one or pass a kid");
      header.kid = kid;
    }
    const nonce = opts.nonce === undefined ? await this.takeNonce() : opts.nonce;
    if (nonce !== null) header.nonce = nonce;
    const u = opts.url === undefined ? url : opts.url;
    if (u !== null) header.url = u;
    Object.assign(header, opts.header);
    const encoded = opts.rawPayload ?? (payload === undefined ? "" : b64u(JSON.stringify(payload)));
    const jws = signJws(key, header, encoded, opts.signAlg ?? alg);
    return JSON.stringify(opts.reshape ? opts.reshape(jws) : jws);
  }

  /** A JWS POST; `payload` undefined is POST-as-GET. */
  async post(url: string, payload?: unknown, opts: SendOptions = {}): Promise<AcmeResponse> {
    return this.postBody(url, await this.body(url, payload, opts), opts.contentType);
  }

  /** POSTs any body, e.g. one that is not a JWS at all. */
  async postBody(url: string, body: string | Buffer, contentType = JOSE): Promise<AcmeResponse> {
    return this.send("POST", url, { body, headers: { "content-type": contentType } });
  }

  /** newAccount with this client's key; keeps the account URL on 200/201. */
  async createAccount(payload: Record<string, unknown> = { termsOfServiceAgreed: true }, opts: SendOptions = {}): Promise<AcmeResponse> {
    const res = await this.post(this.dir.newAccount, payload, { as: "jwk", ...opts });
    if ((res.status === 200 || res.status === 201) && res.location) this.kid = res.location;
    return res;
  }

  async newOrder(names: (string | Identifier)[], opts: SendOptions = {}): Promise<AcmeResponse> {
    const identifiers = names.map((n) => (typeof n === "string" ? { type: "dns", value: n } : n));
    return this.post(this.dir.newOrder, { identifiers }, opts);
  }

  /** newOrder that must succeed, as an order view with its URL. */
  async order(names: (string | Identifier)[]): Promise<OrderView> {
    const res = await this.newOrder(names);
    if (res.status !== 201 || !res.location) throw new Error(`newOrder: ${res.status} ${res.text}`);
    return { ...res.json<Omit<OrderView, "url">>(), url: res.location };
  }

  async readOrder(url: string): Promise<OrderView> {
    const res = await this.post(url);
    if (res.status !== 200) throw new Error(`order ${url}: ${res.status} ${res.text}`);
    return { ...res.json<Omit<OrderView, "url">>(), url };
  }

  keyAuthorization(token: string): string {
    return `${token}.${this.key.thumbprint()}`;
  }

  /** Proves every authorization of the order with http-01, served by `serve`; waits until valid. */
  async authorize(order: OrderView, serve: (token: string, keyAuthorization: string) => void, poll: PollOptions = {}): Promise<void> {
    for (const authzUrl of order.authorizations) {
      const authz = await this.post(authzUrl);
      if (authz.status !== 200) throw new Error(`authz ${authzUrl}: ${authz.status} ${authz.text}`);
      const view = authz.json<{ status: string; challenges: { type: string; url: string; token: string }[] }>();
      if (view.status === "valid") continue;
      const chall = view.challenges.find((c) => c.type === "http-01");
      if (!chall) throw new Error(`authz ${authzUrl} offers no http-01`);
      serve(chall.token, this.keyAuthorization(chall.token));
      const started = await this.post(chall.url, {});
      if (started.status !== 200) throw new Error(`challenge ${chall.url}: ${started.status} ${started.text}`);
      const done = await this.pollUntil(authzUrl, (v) => v.status !== "pending", poll);
      if (done.status !== "valid") throw new Error(`authz ${authzUrl} ended ${done.status}: ${JSON.stringify(done)}`);
    }
  }

  /** POST-as-GET `url` until `done` holds, a bounded number of times; the last view either way. */
  async pollUntil(url: string, done: (view: Record<string, any>) => boolean, { attempts = 100, delayMs = 100 }: PollOptions = {}): Promise<Record<string, any>> {
    let view: Record<string, any> = {};
    for (let i = 0; i < attempts; i++) {
      const res = await this.post(url);
      if (res.status !== 200) throw new Error(`poll ${url}: ${res.status} ${res.text}`);
      view = res.json();
      if (done(view)) return view;
      await sleep(delayMs);
    }
    return view;
  }

  async finalize(order: OrderView, csrDer: Buffer): Promise<AcmeResponse> {
    return this.post(order.finalize, { csr: b64u(csrDer) });
  }
}

/** A nonce-shaped string (the right length and alphabet) that no server issued. */
export const madeUpNonce = (): string => randomBytes(28).toString("base64url");
