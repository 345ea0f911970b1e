// A strict verifier for compact JWS tokens carrying JWT claims (RFC 7515, RFC 7519), for evidence
// signed by attesters Signet trusts. The order is fixed: structure → header policy → algorithm
// allow-list → key from the configured set → signature → time claims. Nothing in the token chooses a
// key Signet does not already hold: jku, x5u, jwk and x5c are refused, never fetched or trusted.
// Keys come in as parsed JWK sets (a loader in src/ reads files and URLs); each JWK becomes a KeyObject
// once and is cached by identity.
import { constants, createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { TextDecoder } from "node:util";
import { SignetError } from "../errors.js";
import { findUnstorable } from "../text.js";
import { AttestationError } from "./errors.js";

export const JWT_ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "EdDSA"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const DEFAULT_MAX_TOKEN_BYTES = 16_384;
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;
const MAX_KEYS = 100;

/** A public JWK (RFC 7517) as a key set holds it. */
export interface PublicJwk {
  readonly kty: string;
  readonly kid?: string;
  readonly alg?: string;
  readonly use?: string;
  readonly key_ops?: readonly string[];
  readonly crv?: string;
  readonly x?: string;
  readonly y?: string;
  readonly n?: string;
  readonly e?: string;
  readonly [member: string]: unknown;
}

export interface JwkSet {
  readonly keys: readonly PublicJwk[];
  /** Called, synchronously and with errors ignored, when a token names a key the set lacks, so a
   * loader can refresh the set in the background (rotation). */
  onUnknownKey?(): void;
}

export interface JwtHeader {
  alg: JwtAlgorithm;
  kid?: string;
  typ?: string;
  readonly [member: string]: unknown;
}

/** A verified claims set: exp is present and numeric; nbf and iat are numeric when present. */
export interface JwtPayload {
  exp: number;
  nbf?: number;
  iat?: number;
  readonly [claim: string]: unknown;
}

export interface VerifyJwtOptions {
  /** The algorithms this issuer signs with; anything else is refused. */
  algorithms: readonly JwtAlgorithm[];
  now: Date;
  maxTokenBytes?: number;
  clockSkewSeconds?: number;
}

/** A token split and decoded, before any key or signature is looked at. Untrusted. */
export interface UnverifiedJwt {
  header: Readonly<Record<string, unknown>> & { readonly alg: string };
  payload: Readonly<Record<string, unknown>>;
  signingInput: Buffer;
  signature: Buffer;
}

const B64U = /^[A-Za-z0-9_-]+$/;
/** Header parameters that let a token bring or point to its own key, or change how it is verified. */
const REFUSED_HEADERS = ["jku", "x5u", "jwk", "x5c", "crit", "b64"] as const;
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;
const utf8 = new TextDecoder("utf-8", { fatal: true });

const malformed = (message: string) => new AttestationError("malformed", message);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isAlgorithm = (alg: unknown): alg is JwtAlgorithm => (JWT_ALGORITHMS as readonly unknown[]).includes(alg);
export const isNumericDate = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;

/** Strict base64url: the alphabet only, no padding, and only the one canonical spelling of the bytes
 * (no stray low bits), so a token has exactly one encoding. */
function decodeSegment(text: string, what: string): Buffer {
  if (text.length === 0) throw malformed(`the token's ${what} is empty`);
  if (!B64U.test(text) || text.length % 4 === 1) throw malformed(`the token's ${what} is not base64url`);
  const bytes = Buffer.from(text, "base64url");
  if (bytes.toString("base64url") !== text) throw malformed(`the token's ${what} is not canonical base64url`);
  return bytes;
}

function decodeJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(decodeSegment(text, what)));
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    throw malformed(`the token's ${what} is not UTF-8 JSON`);
  }
  if (!isObject(value)) throw malformed(`the token's ${what} is not a JSON object`);
  if (findUnstorable(value, what)) throw malformed(`the token's ${what} contains a NUL character or an unpaired surrogate`);
  return value;
}

/** Splits and decodes a compact JWS and applies the header rules that hold for every issuer. */
export function parseJwt(token: unknown, maxTokenBytes = DEFAULT_MAX_TOKEN_BYTES): UnverifiedJwt {
  if (typeof token !== "string") throw malformed("the token is not a string");
  // Checked before anything else looks at the token. Past the alphabet check below the token is
  // ASCII, so its length is its size in bytes.
  if (token.length > maxTokenBytes) throw new AttestationError("too_large", `the token is ${token.length} bytes; at most ${maxTokenBytes} are accepted`);
  if (token.length === 0) throw malformed("the token is empty");
  const parts = token.split(".");
  if (parts.length === 5) throw malformed("the token is encrypted (JWE); only signed tokens (JWS) are accepted");
  if (parts.length !== 3) throw malformed(`a compact JWS has three dot-separated parts; this token has ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];

  const header = decodeJsonObject(h, "header");
  const alg = header.alg;
  if (typeof alg !== "string") throw malformed("the token's header has no alg");
  if (alg.toLowerCase() === "none") throw new AttestationError("unsupported_alg", "the token is unsigned (alg none); unsigned tokens are never accepted");
  if (/^HS\d*$/i.test(alg)) {
    throw new AttestationError("unsupported_alg", "the token is MAC-signed (HS*); evidence must carry a signature by the attester's private key");
  }
  for (const name of REFUSED_HEADERS) {
    if (name in header) {
      throw new AttestationError(
        "unsupported_header",
        name === "crit" || name === "b64"
          ? `the token's header carries ${name}; JWS extensions are not supported`
          : `the token's header carries ${name}; keys named or embedded in a token are never used, only the issuer's configured key set`,
      );
    }
  }
  if ("kid" in header && (typeof header.kid !== "string" || header.kid.length === 0)) throw malformed("the token's kid is not a non-empty string");
  if ("typ" in header && typeof header.typ !== "string") throw malformed("the token's typ is not a string");

  const payload = decodeJsonObject(p, "payload");
  const signature = decodeSegment(s, "signature");
  return { header: header as UnverifiedJwt["header"], payload, signingInput: Buffer.from(`${h}.${p}`, "ascii"), signature };
}

/** Verifies a compact JWS/JWT against a key set: signature, then exp (required), nbf and iat. */
export function verifyJwt(token: string, keys: JwkSet, opts: VerifyJwtOptions): { header: JwtHeader; payload: JwtPayload } {
  return verifyParsedJwt(parseJwt(token, opts.maxTokenBytes), keys, opts);
}

/** verifyJwt on a token parseJwt has already split (an attestor reads `iss` first to choose the keys). */
export function verifyParsedJwt(jwt: UnverifiedJwt, keys: JwkSet, opts: VerifyJwtOptions): { header: JwtHeader; payload: JwtPayload } {
  assertAlgorithms(opts.algorithms, "algorithms");
  const alg = jwt.header.alg;
  if (!isAlgorithm(alg)) throw new AttestationError("unsupported_alg", `the token's algorithm is not one Signet verifies (${JWT_ALGORITHMS.join(", ")})`);
  if (!opts.algorithms.includes(alg)) throw new AttestationError("unsupported_alg", `${alg} is not accepted from this issuer; it signs with ${opts.algorithms.join(", ")}`);

  verifySignature(jwt, alg, keys);
  const payload = checkTimes(jwt.payload, opts);
  return { header: jwt.header as JwtHeader, payload };
}

function verifySignature(jwt: UnverifiedJwt, alg: JwtAlgorithm, keys: JwkSet): void {
  const kid = jwt.header.kid as string | undefined;
  const named = kid === undefined ? keys.keys : keys.keys.filter((k) => k.kid === kid);
  const usable = named.filter((k) => canVerify(k, alg));
  if (usable.length === 0) {
    if (named.length === 0) notifyUnknownKey(keys);
    throw new AttestationError(
      "unknown_key",
      kid === undefined
        ? `the token names no key (kid) and no key in the trusted key set verifies ${alg}`
        : named.length === 0
          ? "the token's kid names no key in the trusted key set"
          : `the key the token's kid names does not verify ${alg}`,
    );
  }
  let keyError: AttestationError | null = null;
  let tried = 0;
  for (const jwk of usable) {
    let key: KeyObject;
    try {
      key = importJwk(jwk);
    } catch (err) {
      if (!(err instanceof AttestationError)) throw err;
      keyError ??= err;
      continue;
    }
    tried++;
    if (checkSignature(alg, key, jwt.signingInput, jwt.signature)) return;
  }
  if (tried === 0 && keyError) throw keyError;
  throw new AttestationError("bad_signature", tried === 1 ? "the token's signature does not verify with the issuer's key" : `the token's signature verifies with none of the ${tried} keys that could have signed it`);
}

function notifyUnknownKey(keys: JwkSet): void {
  try {
    keys.onUnknownKey?.();
  } catch {
    // A refresh hook that fails must not change the verdict on this token.
  }
}

/** Whether a JWK is meant for, and of the type that verifies, `alg`. */
function canVerify(jwk: PublicJwk, alg: JwtAlgorithm): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes("verify"))) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  switch (alg) {
    case "RS256":
    case "PS256":
      return jwk.kty === "RSA";
    case "ES256":
      return jwk.kty === "EC" && jwk.crv === "P-256";
    case "ES384":
      return jwk.kty === "EC" && jwk.crv === "P-384";
    case "EdDSA":
      return jwk.kty === "OKP" && (jwk.crv === "Ed25519" || jwk.crv === "Ed448");
  }
}

function checkSignature(alg: JwtAlgorithm, key: KeyObject, input: Buffer, signature: Buffer): boolean {
  try {
    switch (alg) {
      case "RS256":
      case "PS256": {
        // The signature is exactly as long as the modulus (RFC 8017 §8.2.2 step 1).
        const bytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
        if (signature.length !== bytes) return false;
        if (alg === "RS256") return nodeVerify("sha256", input, key, signature);
        // RFC 7518 §3.5: the salt is as long as the hash.
        return nodeVerify("sha256", input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature);
      }
      case "ES256":
        return signature.length === 64 && nodeVerify("sha256", input, { key, dsaEncoding: "ieee-p1363" }, signature);
      case "ES384":
        return signature.length === 96 && nodeVerify("sha384", input, { key, dsaEncoding: "ieee-p1363" }, signature);
      case "EdDSA":
        return nodeVerify(null, input, key, signature);
    }
  } catch {
    return false;
  }
}

function checkTimes(payload: Readonly<Record<string, unknown>>, opts: VerifyJwtOptions): JwtPayload {
  const now = opts.now.getTime() / 1000;
  if (!Number.isFinite(now)) throw new SignetError("internal", "verifyJwt: now is not a valid date");
  const skew = opts.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  const { exp, nbf, iat } = payload;
  if (exp === undefined) throw new AttestationError("missing_claim", "the token has no expiry (exp); tokens that never expire are not accepted");
  for (const [name, v] of [["exp", exp], ["nbf", nbf], ["iat", iat]] as const) {
    if (v !== undefined && !isNumericDate(v)) throw malformed(`the token's ${name} is not a NumericDate (seconds since the epoch)`);
  }
  if (now >= (exp as number) + skew) throw new AttestationError("expired", `the token expired ${Math.floor(now - (exp as number))} s ago (clock skew allowed: ${skew} s)`);
  if (nbf !== undefined && (nbf as number) > now + skew) {
    throw new AttestationError("not_yet_valid", `the token is not valid for another ${Math.ceil((nbf as number) - now)} s (nbf; clock skew allowed: ${skew} s)`);
  }
  return payload as JwtPayload;
}

/** Config check for algorithm lists: non-empty, every entry one Signet verifies. */
export function assertAlgorithms(algorithms: readonly unknown[], key: string): asserts algorithms is readonly JwtAlgorithm[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw new SignetError("config_invalid", `${key} must list at least one algorithm`);
  for (const alg of algorithms) {
    if (!isAlgorithm(alg)) throw new SignetError("config_invalid", `${key}: ${JSON.stringify(alg)} is not one of ${JWT_ALGORITHMS.join(", ")}`);
  }
}

// ---- keys

const imported = new WeakMap<object, KeyObject | string>();

/** The KeyObject for a public JWK, checked (no private parts, RSA 2048-8192 bits with a sane
 * exponent, EC P-256/P-384, Ed25519/Ed448) and cached by the JWK object's identity: a key set is
 * treated as immutable once handed to a verifier (parseJwks freezes what it returns). */
export function importJwk(jwk: PublicJwk): KeyObject {
  let hit = imported.get(jwk);
  if (hit === undefined) {
    hit = checkJwk(jwk);
    imported.set(jwk, hit);
  }
  if (typeof hit === "string") throw new AttestationError("weak_key", `the key that could verify the token ${hit}`);
  return hit;
}

const b64uBytes = (v: unknown): number => (typeof v === "string" && B64U.test(v) && Buffer.from(v, "base64url").toString("base64url") === v ? Buffer.from(v, "base64url").length : -1);

/** A KeyObject, or why the JWK is refused (a phrase that follows "the key ..."). */
function checkJwk(jwk: Readonly<Record<string, unknown>>): KeyObject | string {
  const secret = PRIVATE_MEMBERS.find((m) => m in jwk);
  if (secret) return `carries private or secret key material (${JSON.stringify(secret)}); a verification key set holds public keys only`;
  let pub: Record<string, string>;
  switch (jwk.kty) {
    case "RSA":
      if (b64uBytes(jwk.n) <= 0 || b64uBytes(jwk.e) <= 0) return "is an RSA key without base64url n and e";
      pub = { kty: "RSA", n: jwk.n as string, e: jwk.e as string };
      break;
    case "EC": {
      const size = jwk.crv === "P-256" ? 32 : jwk.crv === "P-384" ? 48 : 0;
      if (size === 0) return "is an EC key on a curve no accepted algorithm uses (P-256 and P-384 are)";
      if (b64uBytes(jwk.x) !== size || b64uBytes(jwk.y) !== size) return `is an EC ${jwk.crv} key whose x and y are not ${size}-byte base64url coordinates`;
      pub = { kty: "EC", crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
      break;
    }
    case "OKP": {
      const size = jwk.crv === "Ed25519" ? 32 : jwk.crv === "Ed448" ? 57 : 0;
      if (size === 0) return "is an OKP key that is not Ed25519 or Ed448";
      if (b64uBytes(jwk.x) !== size) return `is an ${jwk.crv} key whose x is not ${size} bytes of base64url`;
      pub = { kty: "OKP", crv: jwk.crv as string, x: jwk.x as string };
      break;
    }
    default:
      return "has a kty other than RSA, EC or OKP";
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pub, format: "jwk" });
  } catch {
    return "is not a valid public key";
  }
  if (pub.kty === "RSA") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return `is an RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are required`;
    if (bits > MAX_RSA_BITS) return `is an RSA key of ${bits} bits; at most ${MAX_RSA_BITS} are accepted`;
    const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
    if (e < 3n || e % 2n === 0n) return "is an RSA key whose public exponent is not an odd number of at least 3";
  }
  return key;
}

/** Validates a JWKS document (RFC 7517 §5) into a frozen key set of the public members Signet uses.
 * Keys meant for encryption are dropped; a key with private parts, an unknown kty or a weak or
 * invalid key refuses the whole set, so a bad key file fails loudly at load time. */
export function parseJwks(value: unknown): JwkSet {
  if (!isObject(value) || !Array.isArray(value.keys)) throw new AttestationError("bad_jwks", "a JWKS is a JSON object with a keys array");
  if (value.keys.length > MAX_KEYS) throw new AttestationError("bad_jwks", `the key set holds ${value.keys.length} keys; at most ${MAX_KEYS} are accepted`);
  const keys: PublicJwk[] = [];
  value.keys.forEach((jwk: unknown, i: number) => {
    if (!isObject(jwk)) throw new AttestationError("bad_jwks", `key ${i} of the key set is not a JSON object`);
    const which = typeof jwk.kid === "string" ? `key ${i} (kid ${JSON.stringify(jwk.kid.slice(0, 64))})` : `key ${i}`;
    for (const m of ["kid", "alg", "use", "kty", "crv"] as const) {
      if (m in jwk && typeof jwk[m] !== "string") throw new AttestationError("bad_jwks", `${which} of the key set has a ${m} that is not a string`);
    }
    if ("key_ops" in jwk && !(Array.isArray(jwk.key_ops) && jwk.key_ops.every((op) => typeof op === "string"))) {
      throw new AttestationError("bad_jwks", `${which} of the key set has key_ops that are not a list of strings`);
    }
    const secret = PRIVATE_MEMBERS.find((m) => m in jwk);
    if (secret) throw new AttestationError("bad_jwks", `${which} of the key set carries private or secret key material (${JSON.stringify(secret)}); publish public keys only`);
    if (jwk.kty !== "RSA" && jwk.kty !== "EC" && jwk.kty !== "OKP") throw new AttestationError("bad_jwks", `${which} of the key set has kty ${JSON.stringify(String(jwk.kty).slice(0, 16))}; only RSA, EC and OKP are accepted`);
    const ops = jwk.key_ops as string[] | undefined;
    if ((jwk.use !== undefined && jwk.use !== "sig") || (ops !== undefined && !ops.includes("verify"))) return;
    if (jwk.alg !== undefined && !isAlgorithm(jwk.alg)) throw new AttestationError("bad_jwks", `${which} of the key set is for ${JSON.stringify(String(jwk.alg).slice(0, 16))}; accepted: ${JWT_ALGORITHMS.join(", ")}`);
    const checked = checkJwk(jwk);
    if (typeof checked === "string") throw new AttestationError("bad_jwks", `${which} of the key set ${checked}`);
    const copy: Record<string, unknown> = {};
    for (const m of ["kty", "kid", "alg", "use", "crv", "x", "y", "n", "e"] as const) if (jwk[m] !== undefined) copy[m] = jwk[m];
    if (ops !== undefined) copy.key_ops = Object.freeze([...ops]);
    const frozen = Object.freeze(copy) as PublicJwk;
    imported.set(frozen, checked);
    keys.push(frozen);
  });
  if (keys.length === 0) throw new AttestationError("bad_jwks", "the key set holds no signature keys");
  return Object.freeze({ keys: Object.freeze(keys) });
}
