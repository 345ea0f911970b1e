// What every ACME handler shares: the dependencies, the per-request provisioner, and the JWS request
// authentication of RFC 8555 §6.2-§6.5, done in one order for every POST:
//   structure → algorithm → url → nonce form → key (jwk or kid) → signature → nonce consumed.
// The nonce is spent only once the signature verifies, so unauthenticated requests cannot burn nonces.
import type { KeyObject } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { Authority } from "../ca/authority.js";
import type { AuditLog, CertificateReader, ProvisionerRecord, ProvisionerSource } from "../ca/ports.js";
import type { AcmeSettings } from "../ca/provisioners/index.js";
import type { EabKeyBox } from "./eab.js";
import { algorithmsFor, assertAccountAlgorithm, importJwk, jwkOf, parseJws, publicJwk, thumbprint, verifySignature, type AccountAlgorithm, type ParsedJws, type PublicJwk } from "./jws.js";
import type { NonceService } from "./nonces.js";
import type { AccountRecord, AcmeStore, DeviceAttestVerifier } from "./ports.js";
import { AcmeProblem } from "./problems.js";
import type { ValidationRunner } from "./validation.js";
import type { AcmeUrls } from "./views.js";

export interface AcmeDeps {
  authority: Authority;
  certificates: CertificateReader;
  provisioners: ProvisionerSource;
  store: AcmeStore;
  audit: AuditLog;
  nonces: NonceService;
  validations: ValidationRunner;
  eabBox: EabKeyBox;
  /** device-attest-01 verification; absent: device-attest-01 challenges fail with a clear problem. */
  deviceAttest?: DeviceAttestVerifier;
  clock?: () => Date;
}

export interface AcmeRequestState {
  provisioner: ProvisionerRecord;
  settings: AcmeSettings;
  urls: AcmeUrls;
}

declare module "fastify" {
  interface FastifyRequest {
    acme: AcmeRequestState;
  }
}

export interface Authenticated {
  jws: ParsedJws;
  /** The decoded payload; null for POST-as-GET. */
  payload: unknown;
  /** The account (kid requests), or null (jwk requests). */
  account: AccountRecord | null;
  jwk: PublicJwk;
  thumbprint: string;
  key: KeyObject;
  alg: AccountAlgorithm;
}

type KeyMode = "kid" | "jwk" | "either";

/** Parsed account keys. A JWK can spell one key several ways (base64url's spare bits, leading
 * zeros), so the key is imported and exported again: the thumbprint of that canonical form is the
 * account's identity. Entries are keyed by the spelling received; a key never changes, so they never
 * go stale. */
export interface ImportedKey {
  key: KeyObject;
  jwk: PublicJwk;
  thumbprint: string;
}

class KeyCache {
  readonly #map = new Map<string, ImportedKey>();
  get(jwk: PublicJwk): ImportedKey {
    const spelling = thumbprint(jwk);
    let k = this.#map.get(spelling);
    if (!k) {
      const key = importJwk(jwk);
      const canonical = jwkOf(key);
      k = { key, jwk: canonical, thumbprint: thumbprint(canonical) };
      if (this.#map.size >= 10_000) this.#map.delete(this.#map.keys().next().value!);
      this.#map.set(spelling, k);
    }
    return k;
  }
}

export class AcmeContext {
  readonly #keys = new KeyCache();
  constructor(readonly deps: AcmeDeps) {}

  now(): Date {
    return this.deps.clock?.() ?? new Date();
  }

  /** The URL the client must have signed: the request as received, on this provisioner's base. */
  requestUrl(req: FastifyRequest): string {
    // Everything after /acme/{provisioner}, query included: the client signs the URL it was given.
    return `${req.acme.urls.base}${req.url.slice(req.url.indexOf("/", "/acme/".length))}`;
  }

  async authenticate(req: FastifyRequest, mode: KeyMode, opts: { url?: string } = {}): Promise<Authenticated> {
    const jws = parseJws(req.body);
    const h = jws.header;
    const alg = assertAccountAlgorithm(h.alg);
    const url = opts.url ?? this.requestUrl(req);
    if (h.url === undefined) throw new AcmeProblem("malformed", "the JWS protected header has no url");
    if (h.url !== url) throw new AcmeProblem("unauthorized", `the JWS url ${JSON.stringify(h.url)} is not the request URL ${url}`);
    const nonceState = this.deps.nonces.check(h.nonce);
    if (typeof nonceState === "string") throw new AcmeProblem("badNonce", nonceState);
    if ((h.jwk === undefined) === (h.kid === undefined)) throw new AcmeProblem("malformed", "the JWS protected header must carry exactly one of jwk and kid");
    if (mode === "kid" && h.jwk !== undefined) throw new AcmeProblem("malformed", "this request must be signed with the account key and identify it by kid, not jwk (RFC 8555 §6.2)");
    if (mode === "jwk" && h.kid !== undefined) throw new AcmeProblem("malformed", "this request must carry the account's public key as jwk, not a kid (RFC 8555 §6.2)");
    let account: AccountRecord | null = null;
    let jwk: PublicJwk;
    if (h.kid !== undefined) {
      account = await this.#accountOfKid(req, h.kid);
      jwk = account.jwk;
      if (!algorithmsFor(jwk).includes(alg)) throw new AcmeProblem("malformed", `the account key cannot sign with ${alg}; it signs with ${algorithmsFor(jwk).join(", ")}`);
    } else {
      jwk = publicJwk(h.jwk!, alg);
    }
    const imported = this.#keys.get(jwk);
    if (!verifySignature(jws, alg, imported.key)) throw new AcmeProblem("malformed", "the JWS signature does not verify");
    if (!(await this.deps.nonces.spend(h.nonce!, nonceState))) throw new AcmeProblem("badNonce", "the nonce has already been used");
    return { jws, payload: jws.payload, account, jwk: imported.jwk, thumbprint: account?.thumbprint ?? imported.thumbprint, key: imported.key, alg };
  }

  /** For requests about one account's resources: kid-signed by that account. */
  async authenticateAccount(req: FastifyRequest): Promise<Authenticated & { account: AccountRecord }> {
    const a = await this.authenticate(req, "kid");
    return a as Authenticated & { account: AccountRecord };
  }

  /** A public JWK as a key, with its canonical form and thumbprint. */
  importKey(jwk: PublicJwk): ImportedKey {
    return this.#keys.get(jwk);
  }

  async #accountOfKid(req: FastifyRequest, kid: string): Promise<AccountRecord> {
    const prefix = req.acme.urls.account("");
    if (!kid.startsWith(prefix) || kid.length === prefix.length || kid.length > prefix.length + 64) {
      throw new AcmeProblem("accountDoesNotExist", `kid ${JSON.stringify(kid)} is not an account URL of this ACME provisioner`);
    }
    const account = await this.deps.store.account(kid.slice(prefix.length));
    if (!account || account.provisionerId !== req.acme.provisioner.id) throw new AcmeProblem("accountDoesNotExist", "no such account");
    if (account.status !== "valid") throw new AcmeProblem("unauthorized", `the account is ${account.status}`);
    return account;
  }
}

/** The payload must be a JSON object (or, where allowed, empty: POST-as-GET). */
export function objectPayload(payload: unknown, what: string): Record<string, unknown> {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) throw new AcmeProblem("malformed", `the ${what} payload must be a JSON object`);
  return payload as Record<string, unknown>;
}

export function assertPostAsGet(payload: unknown): void {
  if (payload !== null) throw new AcmeProblem("malformed", "this resource is read with POST-as-GET: the JWS payload must be empty");
}
