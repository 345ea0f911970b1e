// SubjectPublicKeyInfo: what key is this, and its key identifier. OpenSSL (through createPublicKey)
// does the parsing and curve checks; this module only names the result for policy and display.
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { SignetError } from "../errors.js";
import { DerReader, TAG, type DerErrorCode, decodeOid, integerMagnitude, readOne } from "./der.js";
import { CURVE_OIDS, KEY_ALGORITHM_OIDS } from "./oids.js";

export interface DescribedPublicKey {
  /** Imported lazily for the common key types (see lazyKey). */
  readonly keyObject: KeyObject;
  type: "ec" | "rsa" | "ed25519" | "ed448" | "other";
  /** For EC keys: "P-256" | "P-384" | "P-521", or OpenSSL's curve name for anything else. */
  curve?: string;
  /** Modulus length for RSA (and DSA/RSA-PSS), field size for EC. */
  bits?: number;
  /** RSA public exponent. */
  publicExponent?: bigint;
  /** "P-256", "RSA-2048", "Ed25519", "secp256k1", "RSA-PSS-2048", "DSA-2048", "X25519"... */
  name: string;
}

const NIST_CURVES: Record<string, { name: "P-256" | "P-384" | "P-521"; bits: number }> = {
  prime256v1: { name: "P-256", bits: 256 },
  secp384r1: { name: "P-384", bits: 384 },
  secp521r1: { name: "P-521", bits: 521 },
};
const NIST_CURVE_BY_OID: Record<string, { name: "P-256" | "P-384" | "P-521"; bits: number }> = {
  [CURVE_OIDS["P-256"]]: NIST_CURVES.prime256v1!,
  [CURVE_OIDS["P-384"]]: NIST_CURVES.secp384r1!,
  [CURVE_OIDS["P-521"]]: NIST_CURVES.secp521r1!,
};
const NULL_PARAMS = Buffer.from([TAG.NULL, 0]);

/** Parses and names a DER SubjectPublicKeyInfo. Unparseable keys throw SignetError(`code`).
 *
 * Speed matters here: with node 20's OpenSSL 3.0, createPublicKey on SPKI DER goes through the
 * OSSL_DECODER machinery and costs ~2-15x more than importing the same key as JWK (EC, Ed25519)
 * or PKCS#1 (RSA), which use the direct EC_KEY/RSA setters. So the common key types are split out
 * here and imported that way; OpenSSL still validates them (points must be on the curve). Anything
 * else takes the generic path. */
export function describePublicKey(spkiDer: Buffer, code: DerErrorCode = "bad_pem"): DescribedPublicKey {
  const r = DerReader.of(readOne(spkiDer, TAG.SEQUENCE, "SubjectPublicKeyInfo", code), code);
  const alg = r.enter(TAG.SEQUENCE, "SubjectPublicKeyInfo.algorithm");
  const algOid = alg.readOid("public key algorithm");
  const params = alg.done ? undefined : alg.read(undefined, "public key algorithm parameters");
  alg.finish("SubjectPublicKeyInfo.algorithm");
  const { unusedBits, bytes: key } = r.readBitString("subjectPublicKey");
  r.finish("SubjectPublicKeyInfo");
  if (unusedBits !== 0) r.fail("subjectPublicKey has unused bits");

  const importing = (make: () => KeyObject): KeyObject => {
    try {
      return make();
    } catch (cause) {
      throw new SignetError(code, `the public key (algorithm ${algOid}) cannot be parsed, is not a valid key, or is of an unsupported type`, {
        cause,
        detail: { keyAlgorithm: algOid },
      });
    }
  };

  if (algOid === KEY_ALGORITHM_OIDS.ecPublicKey && params?.tag === TAG.OID) {
    const curve = NIST_CURVE_BY_OID[decodeOid(params, code)];
    const size = curve === undefined ? 0 : Math.ceil(curve.bits / 8);
    // Only uncompressed points (SEC 1 §2.3.3, 0x04 || X || Y) can become a JWK.
    if (curve !== undefined && key.length === 1 + 2 * size && key[0] === 0x04) {
      const jwk = { kty: "EC", crv: curve.name, x: b64u(key, 1, 1 + size), y: b64u(key, 1 + size, key.length) };
      return lazyKey({ type: "ec", curve: curve.name, bits: curve.bits, name: curve.name }, () => importing(() => createPublicKey({ key: jwk, format: "jwk" })));
    }
  } else if (algOid === KEY_ALGORITHM_OIDS.Ed25519 && params === undefined && key.length === 32) {
    return lazyKey({ type: "ed25519", name: "Ed25519" }, () => importing(() => createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b64u(key, 0, 32) }, format: "jwk" })));
  } else if (algOid === KEY_ALGORITHM_OIDS.rsaEncryption && (params === undefined || params.element.equals(NULL_PARAMS))) {
    const rsa = DerReader.of(readOne(key, TAG.SEQUENCE, "RSAPublicKey", code), code);
    const n = integerMagnitude(rsa.read(TAG.INTEGER, "modulus"), "modulus", code);
    const e = integerMagnitude(rsa.read(TAG.INTEGER, "publicExponent"), "publicExponent", code);
    rsa.finish("RSAPublicKey");
    const bits = (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
    return lazyKey({ type: "rsa", bits, publicExponent: BigInt("0x" + e.toString("hex")), name: `RSA-${bits}` }, () =>
      importing(() => createPublicKey({ key, format: "der", type: "pkcs1" })),
    );
  }
  return describeGeneric(importing(() => createPublicKey({ key: spkiDer, format: "der", type: "spki" })));
}

const b64u = (b: Buffer, start: number, end: number): string => b.toString("base64url", start, end);

/** The KeyObject is made on first use: naming the key for policy needs only the DER, and when the
 * signature is verified elsewhere (the verification worker pool) the import is never paid here.
 * An invalid key (a point off the curve) therefore surfaces when the key is first used. */
function lazyKey(d: Omit<DescribedPublicKey, "keyObject">, make: () => KeyObject): DescribedPublicKey {
  let keyObject: KeyObject | undefined;
  return Object.defineProperty(d, "keyObject", { get: () => (keyObject ??= make()), enumerable: false }) as DescribedPublicKey;
}

function describeGeneric(keyObject: KeyObject): DescribedPublicKey {
  const details = keyObject.asymmetricKeyDetails ?? {};
  switch (keyObject.asymmetricKeyType) {
    case "ec": {
      const raw = details.namedCurve ?? "unknown-curve";
      const nist = NIST_CURVES[raw];
      if (nist) return { keyObject, type: "ec", curve: nist.name, bits: nist.bits, name: nist.name };
      return { keyObject, type: "ec", curve: raw, name: raw };
    }
    case "rsa": {
      const bits = details.modulusLength ?? 0;
      const d: DescribedPublicKey = { keyObject, type: "rsa", bits, name: `RSA-${bits}` };
      if (details.publicExponent !== undefined) d.publicExponent = details.publicExponent;
      return d;
    }
    case "ed25519":
      return { keyObject, type: "ed25519", name: "Ed25519" };
    case "ed448":
      return { keyObject, type: "ed448", name: "Ed448" };
    // id-RSASSA-PSS keys are RSA keys locked to PSS. They are "other" because a certificate for one
    // cannot be used for PKCS#1 v1.5 TLS signatures, so policy refuses them by name.
    case "rsa-pss":
      return { keyObject, type: "other", bits: details.modulusLength ?? 0, name: `RSA-PSS-${details.modulusLength ?? 0}` };
    case "dsa":
      return { keyObject, type: "other", bits: details.modulusLength ?? 0, name: `DSA-${details.modulusLength ?? 0}` };
    case "x25519":
      return { keyObject, type: "other", name: "X25519" };
    case "x448":
      return { keyObject, type: "other", name: "X448" };
    default:
      return { keyObject, type: "other", name: keyObject.asymmetricKeyType ?? "unknown" };
  }
}

/** The subjectPublicKey BIT STRING's key octets (after the unused-bits octet). */
export function subjectPublicKeyBytes(spkiDer: Buffer, code: DerErrorCode = "bad_pem"): Buffer {
  const r = DerReader.of(readOne(spkiDer, TAG.SEQUENCE, "SubjectPublicKeyInfo", code), code);
  r.read(TAG.SEQUENCE, "SubjectPublicKeyInfo.algorithm");
  const { unusedBits, bytes } = r.readBitString("subjectPublicKey");
  r.finish("SubjectPublicKeyInfo");
  if (unusedBits !== 0) r.fail("subjectPublicKey has unused bits");
  return bytes;
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value, excluding the
 * tag, length and unused-bits octets. SHA-1 here is an identifier, not a security property. */
export function subjectKeyIdentifier(spkiDer: Buffer): Buffer {
  return createHash("sha1").update(subjectPublicKeyBytes(spkiDer)).digest();
}
