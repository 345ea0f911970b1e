// PKCS#10 (RFC 2986) on the issuance hot path. Everything a CSR can do wrong is reported as
// bad_csr (structure) or bad_csr_signature (proof of possession); key policy is a separate step.
import {
  type KeyObject,
  type VerifyKeyObjectInput,
  constants as cryptoConstants,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import { SignetError } from "../errors.js";
import { type KeyAlgorithm, signatureAlgorithmFor } from "../signer.js";
import { DerReader, TAG, type Tlv, decodeOid, decodeString, oid as encodeOid, readOne, readSigned, tlv, utf8String } from "./der.js";
import { subjectAltName } from "./extensions.js";
import { type SubjectAltNames, type SubjectAltNamesInput, emptySans, parseGeneralNames } from "./general-names.js";
import { type NameAttribute, type ParsedName, encodeName, parseName } from "./name.js";
import { derOrPem } from "./pem.js";
import { EXTENSION_OIDS, HASH_OIDS, MGF1, PKCS9_OIDS, SIGNATURE_ALGORITHM_OIDS } from "./oids.js";
import { type DescribedPublicKey, describePublicKey } from "./spki.js";

const CSR_LABELS = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];
const C = "bad_csr" as const;

export interface ParsedCsr {
  /** The whole CertificationRequest. */
  der: Buffer;
  /** CertificationRequestInfo, the signed bytes. */
  info: Buffer;
  subjectDer: Buffer;
  subject: ParsedName;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  publicKey: DescribedPublicKey;
  sans: SubjectAltNames;
  challengePassword?: string;
  /** Every extension OID requested through extensionRequest, in order. */
  extensionOids: string[];
  signatureAlgorithmOid: string;
  /** The AlgorithmIdentifier parameters, if present (for RSASSA-PSS). */
  signatureAlgorithmParams?: Buffer;
  signature: Buffer;
}

/** Parses a PKCS#10 request given as DER, PEM or base64(url) DER. Does not verify the signature:
 * call verifyCsrSignature. */
export function parseCsr(input: Buffer | string): ParsedCsr {
  let der: Buffer;
  try {
    der = derOrPem(input, CSR_LABELS);
  } catch (cause) {
    throw new SignetError(C, cause instanceof Error ? cause.message : "the CSR is not DER or PEM", { cause });
  }
  const { toBeSigned: infoTlv, algorithm: algTlv, signature } = readSigned(der, "CertificationRequest", C);

  const info = DerReader.of(infoTlv, C);
  const version = info.readIntegerBytes("version");
  if (version.length !== 1 || version[0] !== 0) info.fail("CSR version must be 0 (v1)");
  const subjectTlv = info.read(TAG.SEQUENCE, "subject");
  const spkiTlv = info.read(TAG.SEQUENCE, "subjectPKInfo");
  // RFC 2986 makes attributes mandatory (possibly empty), but some encoders omit an empty set;
  // OpenSSL accepts that too.
  const attrsTlv = info.readOptional(0xa0);
  info.finish("CertificationRequestInfo");

  const subjectDer = subjectTlv.element;
  const spki = spkiTlv.element;
  const alg = DerReader.of(algTlv, C);
  const signatureAlgorithmOid = alg.readOid("signatureAlgorithm");
  const paramsTlv = alg.done ? undefined : alg.read(undefined, "signatureAlgorithm parameters");
  alg.finish("signatureAlgorithm");

  const parsed: ParsedCsr = {
    der,
    info: infoTlv.element,
    subjectDer,
    subject: parseName(subjectDer, C),
    spki,
    publicKey: describePublicKey(spki, C),
    sans: emptySans(),
    extensionOids: [],
    signatureAlgorithmOid,
    signature,
  };
  if (paramsTlv !== undefined) parsed.signatureAlgorithmParams = paramsTlv.element;
  if (attrsTlv !== undefined) readAttributes(attrsTlv, parsed);
  return parsed;
}

function readAttributes(attrsTlv: Tlv, parsed: ParsedCsr): void {
  const attrs = DerReader.of(attrsTlv, C);
  const seen = new Set<string>();
  while (!attrs.done) {
    const attr = attrs.enter(TAG.SEQUENCE, "Attribute");
    const type = attr.readOid("Attribute type");
    if (seen.has(type)) attr.fail(`attribute ${type} appears twice`);
    seen.add(type);
    const values = attr.enter(TAG.SET, "Attribute values");
    attr.finish("Attribute");
    // Other attributes (e.g. unstructuredName) carry nothing Signet acts on.
    if (type !== PKCS9_OIDS.extensionRequest && type !== PKCS9_OIDS.challengePassword) continue;
    // Both attributes Signet reads are single-valued (RFC 2985 §5.4.1, §5.4.2).
    const value = values.read(undefined, `attribute ${type} value`);
    values.finish(`attribute ${type} values (must be single-valued)`);
    if (type === PKCS9_OIDS.extensionRequest) {
      if (value.tag !== TAG.SEQUENCE) attrs.fail("extensionRequest value must be a SEQUENCE");
      readRequestedExtensions(value, parsed);
    } else {
      parsed.challengePassword = decodeString(value, "challengePassword", C);
    }
  }
}

function readRequestedExtensions(seqTlv: Tlv, parsed: ParsedCsr): void {
  const exts = DerReader.of(seqTlv, C);
  while (!exts.done) {
    const ext = exts.enter(TAG.SEQUENCE, "Extension");
    const extnId = decodeOid(ext.read(TAG.OID, "extnID"), C);
    if (ext.peekTag() === TAG.BOOLEAN) ext.readBoolean("critical");
    const value = ext.readOctetString("extnValue");
    ext.finish("Extension");
    if (parsed.extensionOids.includes(extnId)) exts.fail(`extension ${extnId} requested twice`);
    parsed.extensionOids.push(extnId);
    if (extnId === EXTENSION_OIDS.subjectAltName) parseGeneralNames(value, C, parsed.sans);
  }
}

type HashName = "sha256" | "sha384" | "sha512";

const ECDSA: Record<string, HashName> = {
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA256"]]: "sha256",
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA384"]]: "sha384",
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA512"]]: "sha512",
};
const RSA_PKCS1: Record<string, HashName> = {
  [SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption]: "sha256",
  [SIGNATURE_ALGORITHM_OIDS.sha384WithRSAEncryption]: "sha384",
  [SIGNATURE_ALGORITHM_OIDS.sha512WithRSAEncryption]: "sha512",
};
const HASH_BY_OID: Record<string, HashName> = {
  [HASH_OIDS.sha256]: "sha256",
  [HASH_OIDS.sha384]: "sha384",
  [HASH_OIDS.sha512]: "sha512",
};
const NULL_PARAMS = Buffer.from([TAG.NULL, 0]);

function badSig(message: string): never {
  throw new SignetError("bad_csr_signature", message);
}

/** Verifies the CSR's self-signature (proof of possession) with the CSR's own public key.
 * SHA-1 and any algorithm not handled below are refused. */
export function verifyCsrSignature(csr: ParsedCsr): void {
  const oid = csr.signatureAlgorithmOid;
  const key = csr.publicKey;
  const params = csr.signatureAlgorithmParams;
  const mustBe = (type: DescribedPublicKey["type"], alg: string) => {
    if (key.type !== type) badSig(`a ${alg} signature cannot come from a ${key.name} key`);
  };
  let hash: HashName | null | undefined;
  let verifyKey: KeyObject | VerifyKeyObjectInput = key.keyObject;
  if ((hash = ECDSA[oid]) !== undefined) {
    // RFC 5758 §3.2: the parameters field must be absent.
    if (params !== undefined) badSig("ecdsa-with-SHA* must not have parameters");
    mustBe("ec", "ECDSA");
  } else if ((hash = RSA_PKCS1[oid]) !== undefined) {
    // RFC 4055 says NULL; absent parameters are seen in the wild and mean the same.
    if (params !== undefined && !params.equals(NULL_PARAMS)) badSig("RSA PKCS#1 v1.5 parameters must be NULL");
    mustBe("rsa", "RSA");
  } else if (oid === SIGNATURE_ALGORITHM_OIDS["RSASSA-PSS"]) {
    mustBe("rsa", "RSASSA-PSS");
    const pss = parsePssParams(params);
    hash = pss.hash;
    verifyKey = { key: key.keyObject, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: pss.saltLength };
  } else if (oid === SIGNATURE_ALGORITHM_OIDS.Ed25519) {
    // RFC 8410 §3: parameters absent.
    if (params !== undefined) badSig("Ed25519 must not have parameters");
    mustBe("ed25519", "Ed25519");
    hash = null;
  } else {
    throw new SignetError("bad_csr_signature", `unsupported CSR signature algorithm OID ${oid}`, {
      detail: { signatureAlgorithm: oid },
    });
  }
  let ok = false;
  try {
    ok = nodeVerify(hash, csr.info, verifyKey, csr.signature);
  } catch (cause) {
    // OpenSSL rejects some malformed signatures (e.g. longer than the modulus) by throwing.
    throw new SignetError("bad_csr_signature", "the CSR signature is malformed", { cause });
  }
  if (!ok) badSig("the CSR signature does not verify with the CSR's public key");
}

/** RSASSA-PSS-params (RFC 4055 §3.1). SHA-1 defaults are refused, and MGF1 must use the same hash
 * as the message digest (node's PSS verify assumes so). Malformed DER here is bad_csr. */
function parsePssParams(params: Buffer | undefined): { hash: HashName; saltLength: number } {
  if (params === undefined) badSig("RSASSA-PSS needs explicit parameters (the SHA-1 defaults are refused)");
  const r = DerReader.of(readOne(params, TAG.SEQUENCE, "RSASSA-PSS-params", C), C);
  const hashTlv = r.readOptional(0xa0);
  const mgfTlv = r.readOptional(0xa1);
  const saltTlv = r.readOptional(0xa2);
  const trailerTlv = r.readOptional(0xa3);
  r.finish("RSASSA-PSS-params");

  if (hashTlv === undefined) badSig("RSASSA-PSS with the default SHA-1 hash is not supported");
  const explicitHash = DerReader.of(hashTlv, C);
  const hashOid = readHashAlgorithm(explicitHash, "hashAlgorithm");
  explicitHash.finish("hashAlgorithm");
  const hash = HASH_BY_OID[hashOid];
  if (hash === undefined) badSig(`RSASSA-PSS hash ${hashOid} is not supported`);

  if (mgfTlv === undefined) badSig("RSASSA-PSS with the default MGF1-SHA1 is not supported");
  const explicitMgf = DerReader.of(mgfTlv, C);
  const mgf = explicitMgf.enter(TAG.SEQUENCE, "maskGenAlgorithm");
  explicitMgf.finish("maskGenAlgorithm");
  if (mgf.readOid("maskGenAlgorithm") !== MGF1) badSig("RSASSA-PSS mask generation function must be MGF1");
  const mgfHashOid = readHashAlgorithm(mgf, "MGF1 hash");
  mgf.finish("maskGenAlgorithm");
  if (mgfHashOid !== hashOid) badSig("RSASSA-PSS MGF1 hash must equal the message hash");

  let saltLength = 20;
  if (saltTlv !== undefined) {
    const salt = DerReader.of(saltTlv, C);
    saltLength = salt.readSmallInt("saltLength");
    salt.finish("saltLength");
  }
  if (trailerTlv !== undefined) {
    const trailer = DerReader.of(trailerTlv, C);
    if (trailer.readSmallInt("trailerField") !== 1) badSig("RSASSA-PSS trailerField must be 1");
    trailer.finish("trailerField");
  }
  return { hash, saltLength };
}

/** A hash AlgorithmIdentifier; its parameters are NULL or absent (RFC 4055 §2.1). */
function readHashAlgorithm(r: DerReader, what: string): string {
  const alg = r.enter(TAG.SEQUENCE, what);
  const o = alg.readOid(what);
  if (!alg.done) alg.read(TAG.NULL, `${what} parameters`);
  alg.finish(what);
  return o;
}

export interface CsrParams {
  /** The key pair, or (for a key held elsewhere: a TPM, an HSM) its public key as DER SPKI and a
   * `sign` that returns the signature over the request info in X.509's form (DER ECDSA-Sig-Value,
   * PKCS#1 v1.5). */
  privateKey?: KeyObject;
  publicKey: KeyObject | Buffer;
  sign?: (info: Buffer, hash: string) => Buffer;
  /** Chooses the signature algorithm, as for a CA key (ca/signer.ts). */
  keyAlgorithm: KeyAlgorithm;
  /** In DER order. */
  subject: readonly NameAttribute[];
  /** Requested through extensionRequest when any name is given. */
  sans?: SubjectAltNamesInput;
  challengePassword?: string;
}

/** A DER PKCS#10 request, for Signet's own clients (CLI, the server's TLS certificate). */
export function buildCsr(p: CsrParams): Buffer {
  const alg = signatureAlgorithmFor(p.keyAlgorithm);
  const spki = Buffer.isBuffer(p.publicKey) ? p.publicKey : p.publicKey.export({ type: "spki", format: "der" });
  const attributes: Buffer[] = [];
  const s = p.sans ?? {};
  const nameCount = (s.dns?.length ?? 0) + (s.ip?.length ?? 0) + (s.uri?.length ?? 0) + (s.email?.length ?? 0);
  if (p.challengePassword !== undefined)
    attributes.push(tlv(TAG.SEQUENCE, encodeOid(PKCS9_OIDS.challengePassword), tlv(TAG.SET, utf8String(p.challengePassword))));
  if (nameCount > 0) {
    const extensions = tlv(TAG.SEQUENCE, subjectAltName(s, p.subject.length === 0));
    attributes.push(tlv(TAG.SEQUENCE, encodeOid(PKCS9_OIDS.extensionRequest), tlv(TAG.SET, extensions)));
  }
  const info = tlv(
    TAG.SEQUENCE,
    Buffer.from([TAG.INTEGER, 1, 0]),
    encodeName(p.subject),
    spki,
    // [0] IMPLICIT SET OF Attribute: DER sorts the members.
    tlv(0xa0, ...attributes.sort(Buffer.compare)),
  );
  if (!p.sign && !p.privateKey) throw new TypeError("buildCsr needs privateKey or sign");
  const signature = p.sign ? p.sign(info, alg.hash ?? "sha256") : nodeSign(alg.hash, info, p.privateKey!);
  return tlv(TAG.SEQUENCE, info, alg.algorithmIdentifier, tlv(TAG.BIT_STRING, Buffer.from([0]), signature));
}
