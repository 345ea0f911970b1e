// ACME device-attest-01 (draft-ietf-acme-device-attest) with the WebAuthn "tpm" attestation
// statement (WebAuthn §8.3): the client answers the challenge with a CBOR attestation object whose
// statement carries the attestation key's certificate (x5c), the TPM's signed TPMS_ATTEST (certInfo)
// over the key it vouches for (pubArea), and the signature. The TPM puts SHA-256 of the challenge's
// key authorization in the attestation's extraData, which makes it fresh and bound to this account.
//
// This module checks what the bytes say; whether the attestation key's certificate is one to trust
// (issued by Signet after credential activation, unrevoked, of the device named in the order) is the
// caller's decision.
import { constants, createHash, timingSafeEqual, verify, type KeyObject } from "node:crypto";
import { AttestationError } from "../attestation/errors.js";
import { decodeCbor, type CborValue } from "./cbor.js";
import { assertStrongName, hasAttributes, parseTpmAttest, parseTpmPublic, TPMA, TPM_ALG, TpmReader, type TpmAttest, type TpmPublic } from "./tpm2.js";

export interface TpmStatement {
  alg: number;
  /** DER: the attestation key's certificate, then its chain. */
  x5c: Buffer[];
  sig: Buffer;
  certInfo: Buffer;
  pubArea: Buffer;
}

/** COSE algorithms an attestation key may sign with (RFC 9053 / IANA COSE registry). */
const COSE: Record<number, { hash: string; kty: "ec" | "rsa"; pss?: boolean }> = {
  [-7]: { hash: "sha256", kty: "ec" },
  [-35]: { hash: "sha384", kty: "ec" },
  [-257]: { hash: "sha256", kty: "rsa" },
  [-258]: { hash: "sha384", kty: "rsa" },
  [-37]: { hash: "sha256", kty: "rsa", pss: true },
};

const get = (m: Map<string | number, CborValue>, k: string) => m.get(k);

/** Decodes an attestation object (`attObj`, base64url CBOR) into its TPM statement. */
export function parseAttestationObject(attObj: string, maxBytes = 16384): TpmStatement {
  if (!/^[A-Za-z0-9_-]+$/.test(attObj)) throw new AttestationError("malformed", "attObj must be base64url");
  const raw = Buffer.from(attObj, "base64url");
  if (raw.length > maxBytes) throw new AttestationError("too_large", `the attestation object is larger than ${maxBytes} bytes`);
  const top = decodeCbor(raw, "the attestation object");
  if (!(top instanceof Map)) throw new AttestationError("malformed", "the attestation object is not a CBOR map");
  const fmt = get(top, "fmt");
  if (fmt !== "tpm") throw new AttestationError("unsupported_alg", `attestation format ${typeof fmt === "string" ? JSON.stringify(fmt.slice(0, 32)) : "(none)"} is not supported (tpm is)`);
  const authData = get(top, "authData");
  if (authData !== undefined && !(Buffer.isBuffer(authData) && authData.length === 0)) {
    throw new AttestationError("malformed", "authData must be absent or empty for device-attest-01");
  }
  const st = get(top, "attStmt");
  if (!(st instanceof Map)) throw new AttestationError("malformed", "attStmt is not a CBOR map");
  if (get(st, "ver") !== "2.0") throw new AttestationError("malformed", 'attStmt.ver must be "2.0"');
  const alg = get(st, "alg");
  if (typeof alg !== "number") throw new AttestationError("malformed", "attStmt.alg must be a COSE algorithm number");
  const x5c = get(st, "x5c");
  if (!Array.isArray(x5c) || x5c.length === 0 || x5c.length > 5 || !x5c.every(Buffer.isBuffer)) {
    throw new AttestationError("malformed", "attStmt.x5c must be the attestation key's certificate and at most four more, as byte strings");
  }
  const bytes = (k: string) => {
    const v = get(st, k);
    if (!Buffer.isBuffer(v) || v.length === 0) throw new AttestationError("malformed", `attStmt.${k} must be a non-empty byte string`);
    return v;
  };
  if (get(st, "ecdaaKeyId") !== undefined) throw new AttestationError("unsupported_alg", "ECDAA attestation is not supported");
  return { alg, x5c: x5c as Buffer[], sig: bytes("sig"), certInfo: bytes("certInfo"), pubArea: bytes("pubArea") };
}

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

/** The signature inside a TPMT_SIGNATURE (Part 2 §11.3.4): r||s for ECDSA (each padded to the
 * curve's size), the bare signature for RSASSA/RSAPSS. Null when `sig` is not one. */
function fromTpmtSignature(sig: Buffer, kty: "ec" | "rsa", key: KeyObject): Buffer | null {
  if (sig.length < 6 || sig[0] !== 0) return null;
  try {
    const r = new TpmReader(sig, "TPMT_SIGNATURE");
    const alg = r.u16("sigAlg");
    r.u16("hash");
    if (kty === "ec" && alg === TPM_ALG.ECDSA) {
      const bits = CURVE_BITS[key.asymmetricKeyDetails?.namedCurve ?? ""] ?? 256;
      const size = Math.ceil(bits / 8);
      const pad = (b: Buffer) => (b.length > size ? null : Buffer.concat([Buffer.alloc(size - b.length), b]));
      const rr = pad(r.sized("signatureR", 66));
      const ss = pad(r.sized("signatureS", 66));
      r.finish();
      return rr && ss ? Buffer.concat([rr, ss]) : null;
    }
    if (kty === "rsa" && (alg === TPM_ALG.RSASSA || alg === TPM_ALG.RSAPSS)) {
      const s = r.sized("sig", 1024);
      r.finish();
      return s;
    }
  } catch {
    return null;
  }
  return null;
}

export interface VerifiedTpmKey {
  /** The key the TPM vouches for, which the certificate request must carry. */
  key: TpmPublic;
  attest: TpmAttest;
}

/**
 * Verifies the statement against the attestation key `akKey` (from x5c[0], which the caller trusts):
 * the signature over certInfo, that certInfo is a TPM-generated certify or creation attestation of
 * pubArea's Name with SHA-256(keyAuthorization) as extraData, and that the key is a TPM-bound signing
 * key (fixedTPM, fixedParent, sensitiveDataOrigin, sign; not decrypt).
 */
export function verifyTpmStatement(st: TpmStatement, akKey: KeyObject, keyAuthorization: string): VerifiedTpmKey {
  const cose = COSE[st.alg];
  if (!cose) throw new AttestationError("unsupported_alg", `COSE algorithm ${st.alg} is not accepted (ES256, ES384, RS256, RS384, PS256 are)`);
  if ((akKey.asymmetricKeyType === "ec" ? "ec" : akKey.asymmetricKeyType === "rsa" ? "rsa" : "other") !== cose.kty) {
    throw new AttestationError("claim_mismatch", `attStmt.alg ${st.alg} does not fit the attestation key's type`);
  }
  // WebAuthn describes sig as a TPMT_SIGNATURE; many clients send the bare signature (DER ECDSA,
  // raw RSA) instead. Both are accepted.
  const tpmt = fromTpmtSignature(st.sig, cose.kty, akKey);
  const ecEncoding = tpmt ? "ieee-p1363" : "der";
  const sig = tpmt ?? st.sig;
  let ok = false;
  try {
    ok = verify(cose.hash, st.certInfo, cose.kty === "ec" ? { key: akKey, dsaEncoding: ecEncoding } : cose.pss ? { key: akKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : akKey, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new AttestationError("bad_signature", "the attestation key's signature over certInfo does not verify");
  const attest = parseTpmAttest(st.certInfo);
  const key = parseTpmPublic(st.pubArea);
  if (!attest.objectName.equals(key.name)) throw new AttestationError("claim_mismatch", "certInfo attests a different key than pubArea");
  const expected = createHash("sha256").update(keyAuthorization).digest();
  if (attest.extraData.length !== expected.length || !timingSafeEqual(attest.extraData, expected)) {
    throw new AttestationError("claim_mismatch", "certInfo.extraData is not SHA-256 of this challenge's key authorization");
  }
  assertStrongName(key, "the attested key");
  // Not restricted: a restricted key is an attestation key, and an AK gets no certificate but its own.
  if (!hasAttributes(key, TPMA.fixedTPM | TPMA.fixedParent | TPMA.sensitiveDataOrigin | TPMA.sign, TPMA.decrypt | TPMA.restricted)) {
    throw new AttestationError("claim_mismatch", "the attested key is not an unrestricted signing key generated in and fixed to the TPM (fixedTPM, fixedParent, sensitiveDataOrigin, sign; not decrypt, not restricted)");
  }
  if (key.spki.equals(akKey.export({ format: "der", type: "spki" }))) throw new AttestationError("claim_mismatch", "the attested key is the attestation key itself");
  return { key, attest };
}
