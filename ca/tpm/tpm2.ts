// TPM 2.0 structures Signet reads and writes (TCG TPM 2.0 Library, Part 2 "Structures"): the public
// area of a key (TPMT_PUBLIC) and its Name, the attestation structure a TPM signs (TPMS_ATTEST), and
// the credential-protection half of TPM2_MakeCredential (Part 1 §24), which proves to a verifier
// that an attestation key lives in the same TPM as an endorsement key, without the verifier holding
// a TPM. Everything is big-endian and length-prefixed; every parser consumes its input exactly.
import { createCipheriv, createHash, createHmac, createPublicKey, constants, publicEncrypt, randomBytes, type KeyObject } from "node:crypto";
import { AttestationError } from "../attestation/errors.js";

export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDAA: 0x001a,
  ECC: 0x0023,
  CFB: 0x0043,
} as const;

/** TPMA_OBJECT bits. */
export const TPMA = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18,
} as const;

const TPM_GENERATED_VALUE = 0xff544347;
export const TPM_ST = { ATTEST_CERTIFY: 0x8017, ATTEST_QUOTE: 0x8018, ATTEST_CREATION: 0x801a } as const;
const ECC_CURVES: Record<number, { crv: "P-256" | "P-384" | "P-521"; bytes: number }> = {
  0x0003: { crv: "P-256", bytes: 32 },
  0x0004: { crv: "P-384", bytes: 48 },
  0x0005: { crv: "P-521", bytes: 66 },
};
const HASHES: Record<number, { name: string; size: number }> = {
  [TPM_ALG.SHA1]: { name: "sha1", size: 20 },
  [TPM_ALG.SHA256]: { name: "sha256", size: 32 },
  [TPM_ALG.SHA384]: { name: "sha384", size: 48 },
  [TPM_ALG.SHA512]: { name: "sha512", size: 64 },
};

export function hashOf(alg: number, what: string): { name: string; size: number } {
  const h = HASHES[alg];
  if (!h) throw new AttestationError("malformed", `${what}: hash algorithm 0x${alg.toString(16).padStart(4, "0")} is not supported`);
  return h;
}

/** Reads TPM marshalled data; every read is bounds-checked and reports what it was reading. */
export class TpmReader {
  #pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get done(): boolean {
    return this.#pos === this.buf.length;
  }

  get offset(): number {
    return this.#pos;
  }

  #need(n: number, field: string): void {
    if (this.#pos + n > this.buf.length) throw new AttestationError("malformed", `${this.what} is truncated at ${field}`);
  }

  u8(field: string): number {
    this.#need(1, field);
    return this.buf[this.#pos++]!;
  }

  u16(field: string): number {
    this.#need(2, field);
    const v = this.buf.readUInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }

  u32(field: string): number {
    this.#need(4, field);
    const v = this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.#need(8, field);
    const v = this.buf.readBigUInt64BE(this.#pos);
    this.#pos += 8;
    return v;
  }

  bytes(n: number, field: string): Buffer {
    this.#need(n, field);
    const v = this.buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return v;
  }

  /** A TPM2B: a 16-bit size, then that many octets. */
  sized(field: string, max = 4096): Buffer {
    const n = this.u16(`${field} size`);
    if (n > max) throw new AttestationError("malformed", `${this.what}: ${field} is ${n} octets, more than ${max}`);
    return this.bytes(n, field);
  }

  finish(): void {
    if (!this.done) throw new AttestationError("malformed", `${this.what} has ${this.buf.length - this.#pos} octets of trailing data`);
  }
}

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};
/** A TPM2B of `data`. */
export const tpm2b = (data: Buffer) => Buffer.concat([u16(data.length), data]);

// ---------------------------------------------------------------------------------------------
// TPMT_PUBLIC

export interface TpmPublic {
  /** The marshalled TPMT_PUBLIC (what the Name is computed over). */
  raw: Buffer;
  type: "rsa" | "ecc";
  nameAlg: number;
  attributes: number;
  authPolicy: Buffer;
  /** TPMT_SYM_DEF_OBJECT of a storage key (EKs: AES-128-CFB); null when TPM_ALG_NULL. */
  symmetric: { algorithm: number; keyBits: number; mode: number } | null;
  /** The signing or encryption scheme, when the key fixes one. */
  scheme: { algorithm: number; hashAlg: number } | null;
  rsa?: { bits: number; exponent: number; modulus: Buffer };
  ecc?: { curve: "P-256" | "P-384" | "P-521"; x: Buffer; y: Buffer };
  /** The key as a KeyObject (for verifying its signatures or encrypting to it). */
  publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo of the key. */
  spki: Buffer;
  /** nameAlg || H_nameAlg(TPMT_PUBLIC): how the TPM names this object. */
  name: Buffer;
}

/** Parses a TPMT_PUBLIC (the WebAuthn `pubArea`) or, with `sized`, a TPM2B_PUBLIC (what
 * tpm2_createak -u and tpm2_create -u write). RSA and NIST ECC keys only. */
export function parseTpmPublic(input: Buffer, opts: { sized?: boolean } = {}): TpmPublic {
  let raw = input;
  if (opts.sized) {
    const outer = new TpmReader(input, "TPM2B_PUBLIC");
    raw = outer.sized("publicArea", 2048);
    outer.finish();
  }
  const r = new TpmReader(raw, "TPMT_PUBLIC");
  const typeAlg = r.u16("type");
  const nameAlg = r.u16("nameAlg");
  hashOf(nameAlg, "TPMT_PUBLIC nameAlg");
  const attributes = r.u32("objectAttributes");
  const authPolicy = r.sized("authPolicy", 64);
  const readSym = () => {
    const algorithm = r.u16("symmetric.algorithm");
    if (algorithm === TPM_ALG.NULL) return null;
    return { algorithm, keyBits: r.u16("symmetric.keyBits"), mode: r.u16("symmetric.mode") };
  };
  const readScheme = (field: string) => {
    const algorithm = r.u16(`${field}.scheme`);
    if (algorithm === TPM_ALG.NULL) return null;
    // TPMS_ENC_SCHEME_RSAES has no details (Part 2 §11.2.2.2).
    if (algorithm === TPM_ALG.RSAES) return { algorithm, hashAlg: TPM_ALG.NULL };
    const hashAlg = r.u16(`${field}.hashAlg`);
    if (algorithm === TPM_ALG.ECDAA) r.u16(`${field}.count`);
    return { algorithm, hashAlg };
  };
  let out: Omit<TpmPublic, "publicKey" | "spki" | "name">;
  let publicKey: KeyObject;
  try {
    if (typeAlg === TPM_ALG.RSA) {
      const symmetric = readSym();
      const scheme = readScheme("rsa");
      const bits = r.u16("keyBits");
      const exponentRaw = r.u32("exponent");
      const modulus = r.sized("unique.rsa", 1024);
      if (bits < 2048 || bits > 8192 || modulus.length * 8 !== bits) throw new AttestationError("malformed", `TPMT_PUBLIC: an RSA key of ${bits} bits with a ${modulus.length * 8}-bit modulus is not accepted`);
      const exponent = exponentRaw === 0 ? 65537 : exponentRaw;
      out = { raw, type: "rsa", nameAlg, attributes, authPolicy, symmetric, scheme, rsa: { bits, exponent, modulus } };
      const hex = exponent.toString(16);
      const e = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
      publicKey = createPublicKey({ key: { kty: "RSA", n: modulus.toString("base64url"), e: e.toString("base64url") }, format: "jwk" });
    } else if (typeAlg === TPM_ALG.ECC) {
      const symmetric = readSym();
      const scheme = readScheme("ecc");
      const curveId = r.u16("curveID");
      const kdf = r.u16("kdf.scheme");
      if (kdf !== TPM_ALG.NULL) r.u16("kdf.hashAlg");
      const x = r.sized("unique.ecc.x", 128);
      const y = r.sized("unique.ecc.y", 128);
      const curve = ECC_CURVES[curveId];
      if (!curve) throw new AttestationError("malformed", `TPMT_PUBLIC: ECC curve 0x${curveId.toString(16)} is not supported (NIST P-256, P-384, P-521 are)`);
      if (x.length > curve.bytes || y.length > curve.bytes) throw new AttestationError("malformed", "TPMT_PUBLIC: the ECC point does not fit its curve");
      const pad = (b: Buffer) => Buffer.concat([Buffer.alloc(curve.bytes - b.length), b]);
      out = { raw, type: "ecc", nameAlg, attributes, authPolicy, symmetric, scheme, ecc: { curve: curve.crv, x: pad(x), y: pad(y) } };
      publicKey = createPublicKey({ key: { kty: "EC", crv: curve.crv, x: pad(x).toString("base64url"), y: pad(y).toString("base64url") }, format: "jwk" });
    } else {
      throw new AttestationError("malformed", `TPMT_PUBLIC: object type 0x${typeAlg.toString(16)} is not a signing or storage key type Signet accepts (RSA, ECC)`);
    }
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    throw new AttestationError("malformed", "TPMT_PUBLIC: the key is not a valid public key", { cause: err });
  }
  r.finish();
  const name = Buffer.concat([u16(nameAlg), createHash(hashOf(nameAlg, "nameAlg").name).update(raw).digest()]);
  return { ...out, publicKey, spki: publicKey.export({ format: "der", type: "spki" }), name };
}

/** A Name binds a key to its attributes only as well as its hash resists collisions: SHA-1 Names
 * (a chosen-prefix collision costs ~2^63) are refused wherever a Name is trusted. */
export function assertStrongName(p: TpmPublic, what: string): void {
  if (p.nameAlg === TPM_ALG.SHA1) throw new AttestationError("weak_key", `${what} has a SHA-1 name algorithm; SHA-256 or stronger is required`);
}

/** Whether every bit of `want` is set and none of `not`. */
export const hasAttributes = (p: TpmPublic, want: number, not = 0) => (p.attributes & want) === want && (p.attributes & not) === 0;

// ---------------------------------------------------------------------------------------------
// TPMS_ATTEST

export interface TpmAttest {
  type: number;
  qualifiedSigner: Buffer;
  extraData: Buffer;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  /** For TPM_ST_ATTEST_CERTIFY: TPMS_CERTIFY_INFO.name; for TPM_ST_ATTEST_CREATION:
   * TPMS_CREATION_INFO.objectName. The Name of the key the TPM vouches for. */
  objectName: Buffer;
  /** CERTIFY: qualifiedName; CREATION: creationHash. */
  second: Buffer;
}

/** Parses a TPMS_ATTEST of type certify or creation (the only two that vouch for a key). */
export function parseTpmAttest(raw: Buffer): TpmAttest {
  const r = new TpmReader(raw, "TPMS_ATTEST");
  if (r.u32("magic") !== TPM_GENERATED_VALUE) throw new AttestationError("malformed", "TPMS_ATTEST: magic is not TPM_GENERATED_VALUE (the TPM did not produce it)");
  const type = r.u16("type");
  if (type !== TPM_ST.ATTEST_CERTIFY && type !== TPM_ST.ATTEST_CREATION) {
    throw new AttestationError("malformed", `TPMS_ATTEST: type 0x${type.toString(16)} does not vouch for a key (TPM_ST_ATTEST_CERTIFY or TPM_ST_ATTEST_CREATION expected)`);
  }
  const qualifiedSigner = r.sized("qualifiedSigner", 68);
  const extraData = r.sized("extraData", 64);
  const clock = r.u64("clockInfo.clock");
  const resetCount = r.u32("clockInfo.resetCount");
  const restartCount = r.u32("clockInfo.restartCount");
  const safe = r.u8("clockInfo.safe") === 1;
  const firmwareVersion = r.u64("firmwareVersion");
  const objectName = r.sized(type === TPM_ST.ATTEST_CERTIFY ? "certify.name" : "creation.objectName", 68);
  const second = r.sized(type === TPM_ST.ATTEST_CERTIFY ? "certify.qualifiedName" : "creation.creationHash", 68);
  r.finish();
  return { type, qualifiedSigner, extraData, clock, resetCount, restartCount, safe, firmwareVersion, objectName, second };
}

// ---------------------------------------------------------------------------------------------
// Credential protection (TPM2_MakeCredential without a TPM)

/** KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode KDF with HMAC; `label` is NUL-terminated. */
export function kdfa(hashAlg: number, key: Buffer, label: string, contextU: Buffer, contextV: Buffer, bits: number): Buffer {
  const { name, size } = hashOf(hashAlg, "KDFa");
  const bytes = Math.ceil(bits / 8);
  const parts: Buffer[] = [];
  const fixed = Buffer.concat([Buffer.from(label, "latin1"), Buffer.from([0]), contextU, contextV, u32(bits)]);
  for (let i = 1; parts.length * size < bytes; i++) parts.push(createHmac(name, key).update(u32(i)).update(fixed).digest());
  return Buffer.concat(parts).subarray(0, bytes);
}

export interface MadeCredential {
  /** TPM2B_ID_OBJECT: the integrity HMAC and the encrypted credential. */
  idObject: Buffer;
  /** TPM2B_ENCRYPTED_SECRET: the seed, encrypted to the endorsement key. */
  encryptedSecret: Buffer;
}

/**
 * TPM2_MakeCredential's result for an RSA endorsement key: only the TPM holding that EK can recover
 * the seed, and it releases `secret` (TPM2_ActivateCredential) only for the object named `akName`
 * loaded beside it. The EK's storage parameters (nameAlg, AES key size) come from its public area;
 * for an EK known only by its certificate, the TCG default template (SHA-256, AES-128-CFB).
 */
export function makeCredential(ek: { publicKey: KeyObject; nameAlg?: number; aesBits?: number }, akName: Buffer, secret: Buffer): MadeCredential {
  const nameAlg = ek.nameAlg ?? TPM_ALG.SHA256;
  const aesBits = ek.aesBits ?? 128;
  const { name: hash, size } = hashOf(nameAlg, "EK nameAlg");
  if (ek.publicKey.asymmetricKeyType !== "rsa") throw new AttestationError("unsupported_alg", "credential activation needs an RSA endorsement key (ECC EKs are not supported)");
  if (secret.length > size) throw new AttestationError("malformed", "the credential is longer than the EK's name digest");
  if (aesBits !== 128 && aesBits !== 192 && aesBits !== 256) throw new AttestationError("malformed", `the EK's symmetric key of ${aesBits} bits is not AES-128, -192 or -256`);
  const seed = randomBytes(size);
  const encSeed = publicEncrypt({ key: ek.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, oaepLabel: Buffer.from("IDENTITY\0", "latin1") }, seed);
  const symKey = kdfa(nameAlg, seed, "STORAGE", akName, Buffer.alloc(0), aesBits);
  const cipher = createCipheriv(`aes-${aesBits}-cfb`, symKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(tpm2b(secret)), cipher.final()]);
  const hmacKey = kdfa(nameAlg, seed, "INTEGRITY", Buffer.alloc(0), Buffer.alloc(0), size * 8);
  const outerHmac = createHmac(hash, hmacKey).update(encIdentity).update(akName).digest();
  return { idObject: tpm2b(Buffer.concat([tpm2b(outerHmac), encIdentity])), encryptedSecret: tpm2b(encSeed) };
}

/** The credential file tpm2_activatecredential -i reads (tpm2-tools: magic 0xBADCC0DE, version 1,
 * TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET). */
export function tpm2ToolsCredentialFile(c: MadeCredential): Buffer {
  return Buffer.concat([u32(0xbadcc0de), u32(1), c.idObject, c.encryptedSecret]);
}
