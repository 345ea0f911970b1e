// The CMS (RFC 5652) subset SCEP needs, read and written directly as DER: SignedData with signed
// attributes, EnvelopedData with RSA key transport and AES-CBC (3DES-CBC in legacy mode), and
// degenerate certificates-only SignedData. Clients send BER as often as DER (indefinite lengths,
// constructed OCTET STRINGs), so input is first normalised to DER by toDer().
//
// RSA PKCS#1 v1.5 key transport is decrypted with implicit rejection: a ciphertext whose padding is
// wrong yields a pseudo-random key derived from it instead of an error, so the server answers a
// forged envelope exactly as it answers any envelope whose content does not decrypt, and offers no
// padding oracle (the Bleichenbacher/Marvin class of attacks; OpenSSL 3.2 does the same).
import { createCipheriv, createDecipheriv, createHash, createHmac, privateDecrypt, publicEncrypt, randomBytes, timingSafeEqual, verify, sign, constants, createPublicKey, type KeyObject } from "node:crypto";
import { SignetError } from "../ca/errors.js";
import { DerReader, TAG, readOne, readTlv, type Tlv } from "../ca/x509/der.js";
import { contextExplicit, contextImplicit, integer, nullValue, octetString, oid, seq, set, tlv, writeHeader, headerLength } from "../ca/x509/der.js";
import { CMS_OIDS, HASH_OIDS, MGF1, SIGNATURE_ALGORITHM_OIDS, parseCertificate, type CertificateInfo } from "../ca/x509/index.js";

const C = "bad_scep_message" as const;
const MAX_DEPTH = 24;

function bad(message: string): never {
  throw new SignetError(C, message);
}

function badAlg(message: string): never {
  throw new SignetError("bad_scep_algorithm", message);
}

// ---------------------------------------------------------------------------------------------
// BER → DER

/** Re-encodes BER as DER: definite minimal lengths, constructed OCTET STRINGs joined into one
 * primitive string (the implicitly tagged encryptedContent is joined by its parser). SET order is kept:
 * signatures are computed over the signer's own encoding. */
export function toDer(input: Buffer): Buffer {
  const budget = { elements: MAX_ELEMENTS };
  const { der, end } = encodeBer(input, 0, input.length, 0, budget);
  if (end !== input.length) bad("trailing bytes after the CMS message");
  return der;
}

/** SCEP messages hold a few hundred elements; more is an attempt to make parsing expensive. */
const MAX_ELEMENTS = 20_000;

/** Parses one BER element at `offset` and returns its DER encoding (one buffer: each level copies
 * its children's bytes once) and the offset after it. */
function encodeBer(buf: Buffer, offset: number, limit: number, depth: number, budget: { elements: number }): { der: Buffer; end: number } {
  if (depth > MAX_DEPTH) bad("the CMS message is nested too deeply");
  if (--budget.elements < 0) bad("the CMS message has too many elements");
  if (offset + 2 > limit) bad("truncated CMS element");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) bad("high-tag-number identifiers are not supported");
  const first = buf[offset + 1]!;
  let pos = offset + 2;
  const constructed = (tag & 0x20) !== 0;
  let contentEnd: number | null;
  if (first === 0x80) {
    if (!constructed) bad("indefinite length on a primitive element");
    contentEnd = null;
  } else if (first < 0x80) {
    contentEnd = pos + first;
  } else {
    const n = first & 0x7f;
    if (n > 4 || pos + n > limit) bad("bad CMS length");
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    pos += n;
    contentEnd = pos + len;
  }
  if (contentEnd !== null && contentEnd > limit) bad("CMS length runs past the end of the data");
  if (!constructed) {
    const content = buf.subarray(pos, contentEnd!);
    return { der: Buffer.concat([header(tag, content.length), content]), end: contentEnd! };
  }
  const children: Buffer[] = [];
  const stop = contentEnd ?? limit;
  while (true) {
    if (contentEnd === null) {
      if (pos + 2 > limit) bad("unterminated indefinite-length element");
      if (buf[pos] === 0 && buf[pos + 1] === 0) {
        pos += 2;
        break;
      }
    } else if (pos >= contentEnd) {
      break;
    }
    const child = encodeBer(buf, pos, stop, depth + 1, budget);
    children.push(child.der);
    pos = child.end;
  }
  if (tag === 0x24) {
    // A constructed OCTET STRING: its segments (now primitive) joined into one primitive string.
    const parts = children.map((c) => {
      if (c[0] !== TAG.OCTET_STRING) bad("a constructed OCTET STRING holds something other than OCTET STRINGs");
      return readTlv(c, 0, c.length, C).content;
    });
    const content = Buffer.concat(parts);
    return { der: Buffer.concat([header(TAG.OCTET_STRING, content.length), content]), end: pos };
  }
  const length = children.reduce((n, c) => n + c.length, 0);
  return { der: Buffer.concat([header(tag, length), ...children], headerLength(length) + length), end: pos };
}

function header(tag: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(headerLength(length));
  writeHeader(h, 0, tag, length);
  return h;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

export interface IssuerAndSerial {
  /** DER Name. */
  issuerDer: Buffer;
  /** Magnitude of the serial, lowercase hex. */
  serialHex: string;
}

export function readIssuerAndSerial(r: DerReader, what: string): IssuerAndSerial {
  const ias = r.enter(TAG.SEQUENCE, what);
  const issuer = ias.read(TAG.SEQUENCE, `${what} issuer`);
  const serial = ias.readIntegerBytes(`${what} serialNumber`);
  ias.finish(what);
  if (serial[0]! & 0x80) bad(`${what}: negative serial number`);
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return { issuerDer: Buffer.from(issuer.element), serialHex: serial.subarray(i).toString("hex") };
}

export function issuerAndSerialOf(cert: CertificateInfo): Buffer {
  return seq(cert.issuerDer, integer(Buffer.from(cert.serialHex.length % 2 ? "0" + cert.serialHex : cert.serialHex, "hex")));
}

function algorithmOid(t: Tlv): { oid: string; params: Tlv | undefined } {
  const r = DerReader.of(t, C);
  const id = r.readOid("AlgorithmIdentifier");
  const params = r.done ? undefined : r.read(undefined, "AlgorithmIdentifier parameters");
  r.finish("AlgorithmIdentifier");
  return { oid: id, params };
}

export type DigestName = "sha1" | "sha256" | "sha384" | "sha512";

const DIGESTS = new Map<string, DigestName>([
  [HASH_OIDS.sha1, "sha1"],
  [HASH_OIDS.sha256, "sha256"],
  [HASH_OIDS.sha384, "sha384"],
  [HASH_OIDS.sha512, "sha512"],
]);

const DIGEST_OIDS: Record<DigestName, string> = { sha1: HASH_OIDS.sha1, sha256: HASH_OIDS.sha256, sha384: HASH_OIDS.sha384, sha512: HASH_OIDS.sha512 };

/** Signature algorithms a SignerInfo may name, with the digest they imply (null: the digestAlgorithm's). */
const SIGNATURES = new Map<string, { family: "rsa" | "ec"; digest: DigestName | null }>([
  [CMS_OIDS.rsaEncryption, { family: "rsa", digest: null }],
  [SIGNATURE_ALGORITHM_OIDS.sha1WithRSAEncryption, { family: "rsa", digest: "sha1" }],
  [SIGNATURE_ALGORITHM_OIDS.sha256WithRSAEncryption, { family: "rsa", digest: "sha256" }],
  [SIGNATURE_ALGORITHM_OIDS.sha384WithRSAEncryption, { family: "rsa", digest: "sha384" }],
  [SIGNATURE_ALGORITHM_OIDS.sha512WithRSAEncryption, { family: "rsa", digest: "sha512" }],
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA1"], { family: "ec", digest: "sha1" }],
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA256"], { family: "ec", digest: "sha256" }],
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA384"], { family: "ec", digest: "sha384" }],
  [SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA512"], { family: "ec", digest: "sha512" }],
]);

// ---------------------------------------------------------------------------------------------
// SignedData

export interface Attribute {
  oid: string;
  /** The single value's whole element (SCEP attributes are single-valued). */
  value: Tlv;
}

export interface ParsedSignerInfo {
  sid: { issuerAndSerial: IssuerAndSerial } | { subjectKeyId: Buffer };
  digest: DigestName;
  /** The signed attributes, by OID. */
  attributes: Map<string, Attribute>;
  /** The signed attributes as a DER SET: what the signature covers. */
  signedAttrsDer: Buffer;
  signatureAlgorithmOid: string;
  signature: Buffer;
}

export interface ParsedSignedData {
  contentType: string;
  /** eContent, when present. */
  content: Buffer | undefined;
  certificates: Buffer[];
  crls: Buffer[];
  signerInfos: ParsedSignerInfo[];
}

/** Reads a ContentInfo of the given type and returns a reader over its [0] EXPLICIT content. */
function enterContentInfo(der: Buffer, expected: string, what: string): DerReader {
  const ci = DerReader.of(readOne(der, TAG.SEQUENCE, what, C), C);
  const type = ci.readOid(`${what} contentType`);
  if (type !== expected) bad(`${what}: expected content type ${expected}, found ${type}`);
  const explicit = ci.enter(0xa0, `${what} content`);
  ci.finish(what);
  const inner = explicit.enter(TAG.SEQUENCE, what);
  explicit.finish(`${what} content`);
  return inner;
}

/** Parses a DER ContentInfo holding SignedData (call toDer first on client input). */
export function parseSignedData(der: Buffer): ParsedSignedData {
  const sd = enterContentInfo(der, CMS_OIDS.signedData, "SignedData");
  const version = sd.readSmallInt("SignedData version");
  if (version > 5) bad(`SignedData version ${version} is not supported`);
  sd.enter(TAG.SET, "digestAlgorithms");
  const encap = sd.enter(TAG.SEQUENCE, "encapContentInfo");
  const contentType = encap.readOid("eContentType");
  let content: Buffer | undefined;
  if (!encap.done) {
    const e = encap.enter(0xa0, "eContent");
    content = Buffer.from(e.readOctetString("eContent"));
    e.finish("eContent");
  }
  encap.finish("encapContentInfo");
  const certificates: Buffer[] = [];
  const crls: Buffer[] = [];
  const certs = sd.readOptional(0xa0);
  if (certs) {
    const r = DerReader.of(certs, C);
    while (!r.done) {
      const t = r.read(undefined, "certificate");
      // Only X.509 certificates (SEQUENCE); other CertificateChoices are skipped.
      if (t.tag === TAG.SEQUENCE) certificates.push(Buffer.from(t.element));
    }
  }
  const crlSet = sd.readOptional(0xa1);
  if (crlSet) {
    const r = DerReader.of(crlSet, C);
    while (!r.done) {
      const t = r.read(undefined, "crl");
      if (t.tag === TAG.SEQUENCE) crls.push(Buffer.from(t.element));
    }
  }
  const infos = sd.enter(TAG.SET, "signerInfos");
  sd.finish("SignedData");
  const signerInfos: ParsedSignerInfo[] = [];
  while (!infos.done) signerInfos.push(parseSignerInfo(infos.enter(TAG.SEQUENCE, "SignerInfo")));
  return { contentType, content, certificates, crls, signerInfos };
}

function parseSignerInfo(r: DerReader): ParsedSignerInfo {
  const version = r.readSmallInt("SignerInfo version");
  let sid: ParsedSignerInfo["sid"];
  if (r.peekTag() === 0x80) {
    sid = { subjectKeyId: Buffer.from(r.read(0x80, "subjectKeyIdentifier").content) };
  } else {
    sid = { issuerAndSerial: readIssuerAndSerial(r, "SignerInfo sid") };
  }
  if (version !== 1 && version !== 3) bad(`SignerInfo version ${version} is not supported`);
  const digestOid = algorithmOid(r.read(TAG.SEQUENCE, "digestAlgorithm")).oid;
  const digest = DIGESTS.get(digestOid);
  if (!digest) badAlg(`digest algorithm ${digestOid} is not supported`);
  const attrs = r.readOptional(0xa0);
  if (!attrs) bad("SignerInfo without signed attributes (SCEP requires them)");
  const attributes = new Map<string, Attribute>();
  const ar = DerReader.of(attrs, C);
  while (!ar.done) {
    const a = ar.enter(TAG.SEQUENCE, "Attribute");
    const type = a.readOid("attrType");
    const values = a.enter(TAG.SET, `attribute ${type} values`);
    a.finish("Attribute");
    if (values.done) bad(`attribute ${type} has no value`);
    const value = values.read(undefined, `attribute ${type} value`);
    if (!values.done) bad(`attribute ${type} must be single-valued`);
    if (attributes.has(type)) bad(`attribute ${type} appears twice`);
    attributes.set(type, { oid: type, value });
  }
  // The signature covers the attributes encoded as a SET (RFC 5652 §5.4), not as [0] IMPLICIT.
  const signedAttrsDer = Buffer.from(attrs.element);
  signedAttrsDer[0] = TAG.SET;
  const sigAlg = algorithmOid(r.read(TAG.SEQUENCE, "signatureAlgorithm")).oid;
  const signature = Buffer.from(r.readOctetString("signature"));
  r.readOptional(0xa1);
  r.finish("SignerInfo");
  return { sid, digest, attributes, signedAttrsDer, signatureAlgorithmOid: sigAlg, signature };
}

/** Finds the signer's certificate among those the message carries. */
export function signerCertificate(sd: ParsedSignedData, si: ParsedSignerInfo): { der: Buffer; info: CertificateInfo } {
  for (const der of sd.certificates) {
    let info: CertificateInfo;
    try {
      info = parseCertificate(der);
    } catch {
      continue;
    }
    if ("issuerAndSerial" in si.sid) {
      if (info.serialHex === si.sid.issuerAndSerial.serialHex && info.issuerDer.equals(si.sid.issuerAndSerial.issuerDer)) return { der, info };
    } else if (info.subjectKeyId?.equals(si.sid.subjectKeyId)) {
      return { der, info };
    }
  }
  bad("the message does not carry its signer's certificate");
}

/** Checks messageDigest against the content and the signature over the signed attributes. Throws
 * bad_scep_signature when either fails. */
export function verifySignerInfo(sd: ParsedSignedData, si: ParsedSignerInfo, publicKey: KeyObject, allowSha1: boolean): void {
  if (si.digest === "sha1" && !allowSha1) badAlg("SHA-1 is accepted only by providers in legacy mode");
  const alg = SIGNATURES.get(si.signatureAlgorithmOid);
  if (!alg) badAlg(`signature algorithm ${si.signatureAlgorithmOid} is not supported`);
  if (alg.digest === "sha1" && !allowSha1) badAlg("SHA-1 signatures are accepted only by providers in legacy mode");
  const keyType = publicKey.asymmetricKeyType;
  if ((alg.family === "rsa" && keyType !== "rsa") || (alg.family === "ec" && keyType !== "ec")) {
    throw new SignetError("bad_scep_signature", "the signature algorithm does not match the signer's key");
  }
  const md = si.attributes.get(CMS_OIDS.messageDigest);
  if (!md || md.value.tag !== TAG.OCTET_STRING) bad("the messageDigest attribute is missing");
  const ct = si.attributes.get(CMS_OIDS.contentType);
  if (!ct || ct.value.tag !== TAG.OID) bad("the contentType attribute is missing");
  // RFC 5652 §11.1: the signed contentType must be the eContentType, which the signature does not cover.
  if (!ct.value.element.equals(oid(sd.contentType))) throw new SignetError("bad_scep_signature", "the signed contentType attribute does not match eContentType");
  const expected = createHash(si.digest).update(sd.content ?? Buffer.alloc(0)).digest();
  const got = md.value.content;
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw new SignetError("bad_scep_signature", "the messageDigest attribute does not match the content");
  }
  let ok = false;
  try {
    ok = verify(alg.digest ?? si.digest, si.signedAttrsDer, publicKey, si.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new SignetError("bad_scep_signature", "the signature over the signed attributes does not verify");
}

export interface SignerCredentials {
  /** DER certificate of the signer. */
  certDer: Buffer;
  key: KeyObject;
  /** The certificate already parsed (the RA's is parsed once, not per answer). */
  info?: CertificateInfo;
}

export interface SignedDataInput {
  /** eContent (id-data); undefined for none. */
  content?: Buffer | undefined;
  certificates?: Buffer[];
  crls?: Buffer[];
  signer?: SignerCredentials & { digest: DigestName; attributes: Buffer[] };
}

/** An Attribute element: SEQUENCE { OID, SET { value } }. */
export function attribute(type: string, value: Buffer): Buffer {
  return seq(oid(type), tlv(TAG.SET, value));
}

const algId = (o: string, params?: Buffer): Buffer => (params ? seq(oid(o), params) : seq(oid(o)));

/** Writes a ContentInfo holding SignedData; without a signer it is "degenerate" (certificates only). */
export function buildSignedData(input: SignedDataInput): Buffer {
  const certs = input.certificates ?? [];
  const crls = input.crls ?? [];
  const encap = seq(oid(CMS_OIDS.data), ...(input.content === undefined ? [] : [contextExplicit(0, octetString(input.content))]));
  const parts: Buffer[] = [integer(1)];
  let signerInfos: Buffer;
  if (input.signer) {
    const s = input.signer;
    const cert = s.info ?? parseCertificate(s.certDer);
    const digest = createHash(s.digest).update(input.content ?? Buffer.alloc(0)).digest();
    const signedAttrs = set(attribute(CMS_OIDS.contentType, oid(CMS_OIDS.data)), attribute(CMS_OIDS.messageDigest, octetString(digest)), ...s.attributes);
    const family = s.key.asymmetricKeyType;
    const signature = sign(s.digest, signedAttrs, s.key);
    const sigAlg = family === "rsa" ? algId(CMS_OIDS.rsaEncryption, nullValue()) : algId(ecdsaOid(s.digest));
    const implicitAttrs = Buffer.from(signedAttrs);
    implicitAttrs[0] = 0xa0;
    signerInfos = tlv(TAG.SET, seq(integer(1), issuerAndSerialOf(cert), algId(DIGEST_OIDS[s.digest]), implicitAttrs, sigAlg, octetString(signature)));
    parts.push(tlv(TAG.SET, algId(DIGEST_OIDS[s.digest])));
  } else {
    signerInfos = tlv(TAG.SET);
    parts.push(tlv(TAG.SET));
  }
  parts.push(encap);
  if (certs.length > 0) parts.push(tlv(0xa0, ...certs));
  if (crls.length > 0) parts.push(tlv(0xa1, ...crls));
  parts.push(signerInfos);
  return seq(oid(CMS_OIDS.signedData), contextExplicit(0, seq(...parts)));
}

function ecdsaOid(d: DigestName): string {
  if (d === "sha1") return SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA1"];
  if (d === "sha384") return SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA384"];
  if (d === "sha512") return SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA512"];
  return SIGNATURE_ALGORITHM_OIDS["ecdsa-with-SHA256"];
}

/** The certificates (and CRLs) of a degenerate SignedData, as GetCACert and CertRep carry them. */
export function degenerate(certificates: Buffer[], crls: Buffer[] = []): Buffer {
  return buildSignedData({ certificates, crls });
}

// ---------------------------------------------------------------------------------------------
// EnvelopedData

export type ContentCipher = "aes-128-cbc" | "aes-192-cbc" | "aes-256-cbc" | "des-ede3-cbc";
/** What a request may be encrypted with: the above, and single DES (read only, legacy mode), which
 * micromdm's scepclient uses whatever GetCACaps says. */
export type RequestCipher = ContentCipher | "des-cbc";

const CIPHERS = new Map<string, { name: RequestCipher; keyLength: number; ivLength: number }>([
  [CMS_OIDS.aes128Cbc, { name: "aes-128-cbc", keyLength: 16, ivLength: 16 }],
  [CMS_OIDS.aes192Cbc, { name: "aes-192-cbc", keyLength: 24, ivLength: 16 }],
  [CMS_OIDS.aes256Cbc, { name: "aes-256-cbc", keyLength: 32, ivLength: 16 }],
  [CMS_OIDS.desEde3Cbc, { name: "des-ede3-cbc", keyLength: 24, ivLength: 8 }],
  [CMS_OIDS.desCbc, { name: "des-cbc", keyLength: 8, ivLength: 8 }],
]);

const CIPHER_OIDS: Record<ContentCipher, string> = {
  "aes-128-cbc": CMS_OIDS.aes128Cbc,
  "aes-192-cbc": CMS_OIDS.aes192Cbc,
  "aes-256-cbc": CMS_OIDS.aes256Cbc,
  "des-ede3-cbc": CMS_OIDS.desEde3Cbc,
};

export interface KeyTransRecipient {
  rid: { issuerAndSerial: IssuerAndSerial } | { subjectKeyId: Buffer };
  keyEncryptionOid: string;
  /** RSAES-OAEP: the hash of RSAES-OAEP-params (RFC 4055 §4.1; SHA-1 when absent), null if unsupported. */
  oaepHash?: DigestName | null;
  encryptedKey: Buffer;
}

export interface ParsedEnvelopedData {
  recipients: KeyTransRecipient[];
  cipher: RequestCipher;
  /** The OID as sent, for error messages when the cipher is unsupported. */
  cipherOid: string;
  iv: Buffer;
  encryptedContent: Buffer;
}

/** Parses a DER ContentInfo holding EnvelopedData. An unknown content cipher is bad_scep_algorithm. */
export function parseEnvelopedData(der: Buffer): ParsedEnvelopedData {
  const ed = enterContentInfo(der, CMS_OIDS.envelopedData, "EnvelopedData");
  ed.readSmallInt("EnvelopedData version");
  ed.readOptional(0xa0); // originatorInfo
  const ris = ed.enter(TAG.SET, "recipientInfos");
  const recipients: KeyTransRecipient[] = [];
  while (!ris.done) {
    const t = ris.read(undefined, "RecipientInfo");
    // Only KeyTransRecipientInfo (a plain SEQUENCE); kari [1], kekri [2], pwri [3], ori [4] are skipped.
    if (t.tag !== TAG.SEQUENCE) continue;
    const r = DerReader.of(t, C);
    r.readSmallInt("KeyTransRecipientInfo version");
    const rid: KeyTransRecipient["rid"] = r.peekTag() === 0x80 ? { subjectKeyId: Buffer.from(r.read(0x80, "rid").content) } : { issuerAndSerial: readIssuerAndSerial(r, "rid") };
    const kea = algorithmOid(r.read(TAG.SEQUENCE, "keyEncryptionAlgorithm"));
    const encryptedKey = Buffer.from(r.readOctetString("encryptedKey"));
    r.finish("KeyTransRecipientInfo");
    recipients.push({ rid, keyEncryptionOid: kea.oid, encryptedKey, ...(kea.oid === CMS_OIDS.rsaesOaep ? { oaepHash: oaepHashOf(kea.params) } : {}) });
  }
  const eci = ed.enter(TAG.SEQUENCE, "encryptedContentInfo");
  eci.readOid("contentType");
  const alg = algorithmOid(eci.read(TAG.SEQUENCE, "contentEncryptionAlgorithm"));
  // [0] IMPLICIT OCTET STRING: primitive in DER, constructed from segments in BER.
  let encrypted: Buffer | undefined;
  const prim = eci.readOptional(0x80);
  if (prim) encrypted = Buffer.from(prim.content);
  else {
    const cons = eci.readOptional(0xa0);
    if (cons) {
      const segs = DerReader.of(cons, C);
      const parts: Buffer[] = [];
      while (!segs.done) parts.push(segs.readOctetString("encryptedContent segment"));
      encrypted = Buffer.concat(parts);
    }
  }
  eci.finish("encryptedContentInfo");
  ed.readOptional(0xa1); // unprotectedAttrs
  ed.finish("EnvelopedData");
  if (!encrypted) bad("EnvelopedData without encryptedContent");
  const cipher = CIPHERS.get(alg.oid);
  if (!cipher) badAlg(`content encryption algorithm ${alg.oid} is not supported (AES-128/192/256-CBC, or 3DES-CBC in legacy mode)`);
  if (!alg.params || alg.params.tag !== TAG.OCTET_STRING || alg.params.length !== cipher.ivLength) bad("the content encryption IV is missing or has the wrong length");
  if (encrypted.length === 0 || encrypted.length % cipher.ivLength !== 0) bad("the encrypted content is not a whole number of cipher blocks");
  return { recipients, cipher: cipher.name, cipherOid: alg.oid, iv: Buffer.from(alg.params.content), encryptedContent: encrypted };
}

/** RSAES-OAEP-params ::= SEQUENCE { hashFunc [0] AlgorithmIdentifier DEFAULT sha1, maskGenFunc [1]
 * DEFAULT mgf1SHA1, pSourceFunc [2] DEFAULT pSpecifiedEmpty }. Supported: any SHA hash, MGF1 with the
 * same hash, no label. */
function oaepHashOf(params: Tlv | undefined): DigestName | null {
  if (!params || params.tag === TAG.NULL) return "sha1";
  if (params.tag !== TAG.SEQUENCE) return null;
  const r = DerReader.of(params, C);
  let hash: DigestName = "sha1";
  const h = r.readOptional(0xa0);
  if (h) {
    const d = DIGESTS.get(algorithmOid(DerReader.of(h, C).read(TAG.SEQUENCE, "hashFunc")).oid);
    if (!d) return null;
    hash = d;
  }
  const m = r.readOptional(0xa1);
  if (m) {
    const mgf = algorithmOid(DerReader.of(m, C).read(TAG.SEQUENCE, "maskGenFunc"));
    if (mgf.oid !== MGF1 || !mgf.params || DIGESTS.get(algorithmOid(mgf.params).oid) !== hash) return null;
  }
  if (r.readOptional(0xa2)) return null;
  return r.done ? hash : null;
}

export interface RecipientKey {
  key: KeyObject;
  /** Secret for implicit rejection (per key, never sent). */
  rejectionSecret: Buffer;
}

/** The recipient entry addressed to `r`, if any. */
export function recipientFor(env: ParsedEnvelopedData, r: CertificateInfo): KeyTransRecipient | undefined {
  return env.recipients.find((k) =>
    "issuerAndSerial" in k.rid
      ? k.rid.issuerAndSerial.serialHex === r.serialHex && k.rid.issuerAndSerial.issuerDer.equals(r.issuerDer)
      : r.subjectKeyId !== undefined && k.rid.subjectKeyId.equals(r.subjectKeyId),
  );
}

/** Decrypts the envelope for `recipient`. Every failure after the key transport (a wrong key, bad
 * padding, garbage) is the same bad_scep_message, so nothing tells a forged key from a real one. */
export function decryptEnvelope(env: ParsedEnvelopedData, entry: KeyTransRecipient, recipient: RecipientKey): Buffer {
  const { keyLength } = [...CIPHERS.values()].find((c) => c.name === env.cipher)!;
  let cek: Buffer;
  if (entry.keyEncryptionOid === CMS_OIDS.rsaEncryption) {
    cek = rsaPkcs1DecryptImplicit(recipient, entry.encryptedKey, keyLength);
  } else if (entry.keyEncryptionOid === CMS_OIDS.rsaesOaep) {
    if (!entry.oaepHash) badAlg("RSAES-OAEP parameters other than a SHA-1/2 hash with MGF1 of the same hash are not supported");
    try {
      cek = privateDecrypt({ key: recipient.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: entry.oaepHash }, entry.encryptedKey);
    } catch {
      cek = Buffer.alloc(0);
    }
    if (cek.length !== keyLength) throw new SignetError(C, "the pkcsPKIEnvelope does not decrypt");
  } else {
    badAlg(`key encryption algorithm ${entry.keyEncryptionOid} is not supported (rsaEncryption or RSAES-OAEP)`);
  }
  try {
    // OpenSSL 3 keeps single DES in its legacy provider; EDE with K1 = K2 = K3 is single DES.
    const d = env.cipher === "des-cbc" ? createDecipheriv("des-ede3-cbc", Buffer.concat([cek, cek, cek]), env.iv) : createDecipheriv(env.cipher, cek, env.iv);
    return Buffer.concat([d.update(env.encryptedContent), d.final()]);
  } catch {
    throw new SignetError(C, "the pkcsPKIEnvelope does not decrypt");
  }
}

/** RSAES-PKCS1-v1_5 decryption with implicit rejection: returns the key, or when the padding is not a
 * valid encryption of a `keyLength`-byte key, a key derived from the ciphertext, chosen without a
 * branch on the padding check. */
function rsaPkcs1DecryptImplicit(recipient: RecipientKey, ciphertext: Buffer, keyLength: number): Buffer {
  const k = modulusBytes(recipient.key);
  const synthetic = createHmac("sha256", recipient.rejectionSecret).update(ciphertext).digest().subarray(0, keyLength);
  if (ciphertext.length !== k) return synthetic;
  let em: Buffer;
  try {
    em = privateDecrypt({ key: recipient.key, padding: constants.RSA_NO_PADDING }, ciphertext);
  } catch {
    return synthetic;
  }
  // EM = 0x00 || 0x02 || PS (>= 8 non-zero octets) || 0x00 || M, with |M| = keyLength.
  const sep = k - keyLength - 1;
  let good = (em[0]! ^ 0x00) | (em[1]! ^ 0x02) | em[sep]!;
  for (let i = 2; i < sep; i++) good |= em[i] === 0 ? 1 : 0;
  const ok = sep >= 10 && good === 0 ? 0xff : 0x00;
  const out = Buffer.allocUnsafe(keyLength);
  for (let i = 0; i < keyLength; i++) out[i] = (em[sep + 1 + i]! & ok) | (synthetic[i]! & ~ok);
  return out;
}

const modulusCache = new WeakMap<KeyObject, number>();
function modulusBytes(key: KeyObject): number {
  let n = modulusCache.get(key);
  if (n === undefined) {
    n = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    modulusCache.set(key, n);
  }
  return n;
}

/** Writes a ContentInfo holding EnvelopedData for one RSA recipient (PKCS#1 v1.5 key transport, as
 * every SCEP client expects). */
export function buildEnvelopedData(content: Buffer, recipientCertDer: Buffer, cipher: ContentCipher): Buffer {
  const cert = parseCertificate(recipientCertDer);
  const publicKey = createPublicKey({ key: cert.spki, format: "der", type: "spki" });
  if (publicKey.asymmetricKeyType !== "rsa") badAlg("the recipient's key is not RSA, so the response cannot be encrypted to it");
  const c = CIPHERS.get(CIPHER_OIDS[cipher])!;
  const cek = randomBytes(c.keyLength);
  const iv = randomBytes(c.ivLength);
  const e = createCipheriv(cipher, cek, iv);
  const encrypted = Buffer.concat([e.update(content), e.final()]);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, cek);
  const ktri = seq(integer(0), issuerAndSerialOf(cert), algId(CMS_OIDS.rsaEncryption, nullValue()), octetString(encryptedKey));
  const eci = seq(oid(CMS_OIDS.data), algId(CIPHER_OIDS[cipher], octetString(iv)), contextImplicit(0, encrypted));
  return seq(oid(CMS_OIDS.envelopedData), contextExplicit(0, seq(integer(0), tlv(TAG.SET, ktri), eci)));
}

/** Peeks at the outer content type of a ContentInfo without parsing the rest. */
export function contentTypeOf(der: Buffer): string {
  const ci = DerReader.of(readTlv(der, 0, der.length, C), C);
  return ci.readOid("contentType");
}
