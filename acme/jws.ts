// JWS as ACME uses it (RFC 8555 §6.2, RFC 7515 flattened JSON serialization): parsing, the algorithm
// allow-list, JWK → KeyObject, signature verification, RFC 7638 thumbprints, and the HMAC-signed JWS
// of External Account Binding (§7.3.4).
import { createHmac, createPublicKey, timingSafeEqual, verify as nodeVerify, createHash, type KeyObject } from "node:crypto";
import { findUnstorable } from "../ca/text.js";
import { AcmeProblem } from "./problems.js";

/** Account-key algorithms, in the order the directory of errors lists them. */
export const ACCOUNT_ALGORITHMS = ["ES256", "ES384", "RS256", "EdDSA"] as const;
export type AccountAlgorithm = (typeof ACCOUNT_ALGORITHMS)[number];
/** MAC algorithms for the EAB JWS (RFC 8555 §7.3.4 requires HS256 support). */
const EAB_ALGORITHMS: Record<string, string> = { HS256: "sha256", HS384: "sha384", HS512: "sha512" };

const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 8192;
const B64U = /^[A-Za-z0-9_-]*$/;

export interface PublicJwk {
  kty: "EC" | "RSA" | "OKP";
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url?: string;
  jwk?: Record<string, unknown>;
  kid?: string;
}

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface ParsedJws {
  raw: FlattenedJws;
  header: ProtectedHeader;
  /** The decoded payload; null for POST-as-GET (an empty payload). */
  payload: unknown;
  signature: Buffer;
}

const malformed = (detail: string) => new AcmeProblem("malformed", detail);

function b64uJson(text: string, what: string): unknown {
  if (!B64U.test(text)) throw malformed(`${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw malformed(`${what} is not base64url-encoded JSON`);
  }
  const bad = findUnstorable(value, "payload");
  if (bad) throw malformed(`${what}: ${bad} contains a NUL character or an unpaired surrogate`);
  return value;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Parses a flattened JWS body. Structural only: no key, no signature check yet. */
export function parseJws(body: unknown): ParsedJws {
  if (!isObject(body)) throw malformed("the request body must be a JWS in flattened JSON serialization");
  if ("signatures" in body) throw malformed("JWS general serialization is not accepted: send one signature, flattened (RFC 8555 §6.2)");
  if ("header" in body) throw malformed("JWS unprotected headers are not allowed (RFC 8555 §6.2)");
  const { protected: prot, payload, signature } = body;
  if (typeof prot !== "string" || typeof payload !== "string" || typeof signature !== "string") {
    throw malformed("the JWS needs string members protected, payload and signature");
  }
  for (const k of Object.keys(body)) if (k !== "protected" && k !== "payload" && k !== "signature") throw malformed(`unexpected JWS member ${JSON.stringify(k)}`);
  const header = b64uJson(prot, "the JWS protected header");
  if (!isObject(header)) throw malformed("the JWS protected header is not a JSON object");
  if (typeof header.alg !== "string") throw malformed("the JWS protected header has no alg");
  if ("crit" in header) throw malformed("the JWS protected header uses crit, which ACME does not define");
  if ("b64" in header) throw malformed("the JWS b64 header parameter is not accepted");
  for (const k of ["nonce", "url", "kid"] as const) {
    if (k in header && typeof header[k] !== "string") throw malformed(`the JWS protected header's ${k} must be a string`);
  }
  if ("jwk" in header && !isObject(header.jwk)) throw malformed("the JWS protected header's jwk must be an object");
  if (!B64U.test(signature)) throw malformed("the JWS signature is not base64url");
  return {
    raw: { protected: prot, payload, signature },
    header: header as unknown as ProtectedHeader,
    payload: payload === "" ? null : b64uJson(payload, "the JWS payload"),
    signature: Buffer.from(signature, "base64url"),
  };
}

/** §6.2: anything but the allow-list, "none" and MACs included, is badSignatureAlgorithm. */
export function assertAccountAlgorithm(alg: string): AccountAlgorithm {
  if (!(ACCOUNT_ALGORITHMS as readonly string[]).includes(alg)) {
    throw new AcmeProblem("badSignatureAlgorithm", `JWS algorithm ${JSON.stringify(alg)} is not accepted; use one of ${ACCOUNT_ALGORITHMS.join(", ")}`, {
      algorithms: [...ACCOUNT_ALGORITHMS],
    });
  }
  return alg as AccountAlgorithm;
}

const str = (jwk: Record<string, unknown>, k: string): string => {
  const v = jwk[k];
  if (typeof v !== "string" || v.length === 0 || !B64U.test(v)) throw new AcmeProblem("badPublicKey", `the JWK's ${k} is missing or not base64url`);
  return v;
};

/** The public members of a JWK, checked for the algorithm that uses it; private members refused. */
export function publicJwk(jwk: Record<string, unknown>, alg: AccountAlgorithm): PublicJwk {
  if ("d" in jwk || "p" in jwk || "q" in jwk || "k" in jwk) throw new AcmeProblem("badPublicKey", "the JWK carries private or symmetric key material");
  const kty = jwk.kty;
  switch (alg) {
    case "ES256":
    case "ES384": {
      const crv = alg === "ES256" ? "P-256" : "P-384";
      if (kty !== "EC" || jwk.crv !== crv) throw new AcmeProblem("badSignatureAlgorithm", `${alg} needs an EC ${crv} key`, { algorithms: [...ACCOUNT_ALGORITHMS] });
      return { kty: "EC", crv, x: str(jwk, "x"), y: str(jwk, "y") };
    }
    case "RS256":
      if (kty !== "RSA") throw new AcmeProblem("badSignatureAlgorithm", "RS256 needs an RSA key", { algorithms: [...ACCOUNT_ALGORITHMS] });
      return { kty: "RSA", n: str(jwk, "n"), e: str(jwk, "e") };
    case "EdDSA":
      if (kty !== "OKP" || (jwk.crv !== "Ed25519" && jwk.crv !== "Ed448")) {
        throw new AcmeProblem("badSignatureAlgorithm", "EdDSA needs an OKP Ed25519 or Ed448 key", { algorithms: [...ACCOUNT_ALGORITHMS] });
      }
      return { kty: "OKP", crv: jwk.crv, x: str(jwk, "x") };
  }
}

/** RFC 7638 thumbprint (SHA-256, base64url) over the required members in lexicographic order. */
export function thumbprint(jwk: PublicJwk): string {
  const canonical =
    jwk.kty === "EC"
      ? `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
      : jwk.kty === "RSA"
        ? `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`
        : `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`;
  return createHash("sha256").update(canonical).digest("base64url");
}

/** The algorithm a stored account key signs with (an account keeps its key type; RSA keys only RS256). */
export function algorithmsFor(jwk: PublicJwk): AccountAlgorithm[] {
  if (jwk.kty === "EC") return [jwk.crv === "P-256" ? "ES256" : "ES384"];
  if (jwk.kty === "RSA") return ["RS256"];
  return ["EdDSA"];
}

/** A KeyObject for a checked public JWK. Node validates EC points and RSA structure on import. */
export function importJwk(jwk: PublicJwk): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as unknown as import("node:crypto").JsonWebKey, format: "jwk" });
  } catch {
    throw new AcmeProblem("badPublicKey", "the JWK is not a valid public key");
  }
  if (jwk.kty === "RSA") {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) throw new AcmeProblem("badPublicKey", `RSA account keys must be ${MIN_RSA_BITS}-${MAX_RSA_BITS} bits; this one has ${bits}`);
    const e = Buffer.from(jwk.e!, "base64url");
    if (e.length === 0 || (e[e.length - 1]! & 1) === 0 || (e.length === 1 && e[0]! < 3)) throw new AcmeProblem("badPublicKey", "the RSA public exponent is not an odd number of at least 3");
  }
  return key;
}

/** The public JWK of a key as Node exports it: one spelling per key (fixed-length coordinates, no
 * leading zeros), the form thumbprints are computed on. */
export function jwkOf(key: KeyObject): PublicJwk {
  const e = key.export({ format: "jwk" }) as Record<string, string>;
  return e.kty === "EC" ? { kty: "EC", crv: e.crv!, x: e.x!, y: e.y! } : e.kty === "RSA" ? { kty: "RSA", n: e.n!, e: e.e! } : { kty: "OKP", crv: e.crv!, x: e.x! };
}

/** Verifies the JWS signature with `key` under `alg`. */
export function verifySignature(jws: ParsedJws, alg: AccountAlgorithm, key: KeyObject): boolean {
  const input = Buffer.from(`${jws.raw.protected}.${jws.raw.payload}`, "ascii");
  try {
    switch (alg) {
      case "ES256":
        return jws.signature.length === 64 && nodeVerify("sha256", input, { key, dsaEncoding: "ieee-p1363" }, jws.signature);
      case "ES384":
        return jws.signature.length === 96 && nodeVerify("sha384", input, { key, dsaEncoding: "ieee-p1363" }, jws.signature);
      case "RS256":
        return nodeVerify("sha256", input, key, jws.signature);
      case "EdDSA":
        return nodeVerify(null, input, key, jws.signature);
    }
  } catch {
    return false;
  }
}

/** The key authorization of a challenge token for an account key (§8.1). */
export function keyAuthorization(token: string, accountThumbprint: string): string {
  return `${token}.${accountThumbprint}`;
}

export interface EabBinding {
  kid: string;
  alg: string;
  /** The outer JWS key, as the inner payload names it. */
  jwk: Record<string, unknown>;
  url: unknown;
  verify(hmacKey: Buffer): boolean;
}

/** Parses the externalAccountBinding member of a newAccount payload (§7.3.4). */
export function parseEab(value: unknown): EabBinding {
  const jws = parseJws(value);
  const { alg, kid, url } = jws.header;
  const hash = EAB_ALGORITHMS[alg];
  if (!hash) throw new AcmeProblem("badSignatureAlgorithm", `the external account binding must be MACed with HS256, HS384 or HS512, not ${JSON.stringify(alg)}`, { algorithms: Object.keys(EAB_ALGORITHMS) });
  if (typeof kid !== "string" || kid.length === 0) throw malformed("the external account binding has no kid");
  if ("nonce" in jws.header) throw malformed("the external account binding must not carry a nonce (RFC 8555 §7.3.4)");
  if (!isObject(jws.payload)) throw malformed("the external account binding's payload must be the account JWK");
  return {
    kid,
    alg,
    jwk: jws.payload,
    url,
    verify(hmacKey) {
      const mac = createHmac(hash, hmacKey).update(`${jws.raw.protected}.${jws.raw.payload}`, "ascii").digest();
      return mac.length === jws.signature.length && timingSafeEqual(mac, jws.signature);
    },
  };
}
