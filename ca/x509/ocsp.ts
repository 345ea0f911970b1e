// OCSP (RFC 6960) in the RFC 5019 profile the responder serves. The request parser and the response
// encoders are on the responder's hot path (>20,000 responses/s), so they follow certificate-builder.ts:
// the parser records offsets into the caller's Buffer and hands back subarrays, and each encoder sizes
// its output up front and writes it into one Buffer. What the responder echoes (CertIDs, the nonce
// extension) is copied verbatim rather than re-encoded: OpenSSL matches a SingleResponse to its
// request by comparing the CertID's AlgorithmIdentifier parameters too, so a re-encoding that swaps
// a NULL for an absent parameter would make a correct answer look like a missing one.
import { createHash } from "node:crypto";
import { SignetError } from "../errors.js";
import {
  DerReader,
  TAG,
  type DerErrorCode,
  type Tlv,
  decodeBoolean,
  decodeOid,
  decodeTime,
  headerLength,
  integer,
  integerMagnitude,
  oid,
  readOne,
  tlv,
  writeGeneralizedTime,
  writeHeader,
  GENERALIZED_TIME_LENGTH,
} from "./der.js";
import { HASH_OIDS, OCSP_OIDS } from "./oids.js";
import { subjectKeyIdentifier } from "./spki.js";

const Q = "bad_ocsp_request" as const;
/** Responses come from another responder (the proxy is an OCSP client): "the DER cannot be parsed". */
const R = "bad_pem" as const;

/** The most CertIDs one request may ask about. RFC 5019 §2.1.1 clients send one; the bound keeps a
 * single request from costing the responder more than a few dozen lookups. */
export const MAX_OCSP_REQUESTS = 64;
/** RFC 8954 §2.1 limits a nonce to 1..32 octets; older clients send more, so Signet takes up to 128. */
export const MAX_OCSP_NONCE_LENGTH = 128;

export type CertIdHash = "sha1" | "sha256" | "sha384" | "sha512";

export interface OcspCertId {
  /** the CertID element exactly as received (DER bytes, a subarray of the request): echoed verbatim in the response */
  der: Buffer;
  hash: CertIdHash;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** lowercase hex of the serial magnitude without leading zero bytes (e.g. "1a2b"), "" never; negative serials => bad_ocsp_request */
  serialHex: string;
}

export interface OcspRequest {
  /** At least one, at most MAX_OCSP_REQUESTS. */
  certIds: OcspCertId[];
  /** the nonce Extension (id-pkix-ocsp-nonce) element exactly as received in requestExtensions, to echo in responseExtensions; null if none */
  nonceExtension: Buffer | null;
  /** optionalSignature present (Signet does not require or verify it). */
  signed: boolean;
}

export type OcspCertStatus = { kind: "good" } | { kind: "revoked"; revokedAt: Date; reason: number | null } | { kind: "unknown" };

export type OcspErrorStatus = "malformedRequest" | "internalError" | "tryLater" | "sigRequired" | "unauthorized";

export interface ParsedOcspResponse {
  status: "successful" | OcspErrorStatus;
  producedAt?: Date;
  /** responderID byKey. */
  responderKeyHash?: Buffer;
  /** responderID byName: the Name DER. */
  responderName?: Buffer;
  responses?: Array<{ certId: OcspCertId; status: OcspCertStatus; thisUpdate: Date; nextUpdate: Date | null }>;
  nonceExtension?: Buffer | null;
  certs?: Buffer[];
  /** The signed ResponseData element. */
  responseData?: Buffer;
  signatureAlgorithm?: Buffer;
  signature?: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Constants

const ENUMERATED = 0x0a;

interface HashInfo {
  name: CertIdHash;
  length: number;
  /** The OID element, for a byte comparison that allocates nothing. */
  oidDer: Buffer;
  /** AlgorithmIdentifier with NULL parameters, as Signet and OpenSSL send it. */
  algorithmIdentifier: Buffer;
}

const HASHES: readonly HashInfo[] = (
  [
    ["sha1", 20],
    ["sha256", 32],
    ["sha384", 48],
    ["sha512", 64],
  ] as const
).map(([name, length]) => {
  const oidDer = oid(HASH_OIDS[name]);
  const content = oidDer.length + 2;
  const algorithmIdentifier = Buffer.allocUnsafe(2 + content);
  writeHeader(algorithmIdentifier, 0, TAG.SEQUENCE, content);
  oidDer.copy(algorithmIdentifier, 2);
  algorithmIdentifier[2 + oidDer.length] = TAG.NULL;
  algorithmIdentifier[3 + oidDer.length] = 0;
  return { name, length, oidDer, algorithmIdentifier };
});
const HASH_BY_NAME = new Map(HASHES.map((h) => [h.name, h]));

const NONCE_OID = oid(OCSP_OIDS.nonce);
const BASIC_RESPONSE_OID = oid(OCSP_OIDS.basicResponse);

/** OCSPResponseStatus (RFC 6960 §4.2.1); 4 is unused. */
const RESPONSE_STATUS = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const satisfies Record<ParsedOcspResponse["status"], number>;
const STATUS_BY_CODE = new Map<number, ParsedOcspResponse["status"]>(
  Object.entries(RESPONSE_STATUS).map(([k, v]) => [v, k as ParsedOcspResponse["status"]]),
);

// OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } with no responseBytes.
const ERROR_RESPONSES = new Map<OcspErrorStatus, Buffer>(
  (Object.keys(RESPONSE_STATUS) as Array<keyof typeof RESPONSE_STATUS>)
    .filter((s): s is OcspErrorStatus => s !== "successful")
    .map((s) => [s, Buffer.from([TAG.SEQUENCE, 3, ENUMERATED, 1, RESPONSE_STATUS[s]])]),
);

/** CRLReason values (RFC 5280 §5.3.1): 0-10 without 7. */
const isCrlReason = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 10 && n !== 7;

// responderID byKey: [2] { OCTET STRING (20) }
const RESPONDER_ID_LENGTH = 24;

// ---------------------------------------------------------------------------------------------
// Requests

/** Parses a DER OCSPRequest. Strict DER; anything malformed throws SignetError("bad_ocsp_request"),
 * which the front end answers with the malformedRequest response. */
export function parseOcspRequest(der: Buffer): OcspRequest {
  const outer = DerReader.of(readOne(der, TAG.SEQUENCE, "OCSPRequest", Q), Q);
  const tbs = outer.enter(TAG.SEQUENCE, "tbsRequest");
  const signature = outer.readOptional(0xa0);
  outer.finish("OCSPRequest");
  if (signature !== undefined) checkRequestSignature(signature);

  const versionTlv = tbs.readOptional(0xa0);
  // DER omits the DEFAULT v1; an explicit v1 is accepted because it is unambiguous and some
  // encoders write it.
  if (versionTlv !== undefined) {
    const v = DerReader.of(versionTlv, Q);
    if (v.readSmallInt("version") !== 0) v.fail("OCSPRequest version must be v1");
    v.finish("version");
  }
  const requestorName = tbs.readOptional(0xa1);
  if (requestorName !== undefined) {
    const r = DerReader.of(requestorName, Q);
    const name = r.read(undefined, "requestorName");
    if ((name.tag & 0xc0) !== 0x80) r.fail("requestorName must be a GeneralName");
    r.finish("requestorName");
  }
  const list = tbs.enter(TAG.SEQUENCE, "requestList");
  const extensions = tbs.readOptional(0xa2);
  tbs.finish("tbsRequest");

  const certIds: OcspCertId[] = [];
  while (!list.done) {
    if (certIds.length === MAX_OCSP_REQUESTS) list.fail(`an OCSP request may ask about at most ${MAX_OCSP_REQUESTS} certificates`);
    const request = list.enter(TAG.SEQUENCE, "Request");
    const certId = readCertId(request.read(TAG.SEQUENCE, "reqCert"), Q);
    const single = request.readOptional(0xa0);
    request.finish("Request");
    // Nothing Signet understands lives in singleRequestExtensions (a nonce there means nothing).
    if (single !== undefined) readExtensions(single, "singleRequestExtensions", Q, false);
    certIds.push(certId);
  }
  if (certIds.length === 0) list.fail("requestList is empty");

  const nonce = extensions === undefined ? undefined : readExtensions(extensions, "requestExtensions", Q, true);
  return { certIds, nonceExtension: nonce?.element ?? null, signed: signature !== undefined };
}

/** optionalSignature [0] EXPLICIT Signature: checked for shape only, since Signet answers
 * unsigned requests and so gains nothing by verifying signed ones. */
function checkRequestSignature(explicit: Tlv): void {
  const wrapper = DerReader.of(explicit, Q);
  const sig = wrapper.enter(TAG.SEQUENCE, "optionalSignature");
  wrapper.finish("optionalSignature");
  sig.read(TAG.SEQUENCE, "optionalSignature.signatureAlgorithm");
  sig.readBitString("optionalSignature.signature");
  const certs = sig.readOptional(0xa0);
  sig.finish("optionalSignature");
  if (certs !== undefined) {
    const w = DerReader.of(certs, Q);
    const list = w.enter(TAG.SEQUENCE, "optionalSignature.certs");
    w.finish("optionalSignature.certs");
    while (!list.done) list.read(TAG.SEQUENCE, "optionalSignature certificate");
  }
}

/** CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING,
 * serialNumber INTEGER }. */
function readCertId(t: Tlv, code: DerErrorCode): OcspCertId {
  const r = DerReader.of(t, code);
  const alg = r.enter(TAG.SEQUENCE, "CertID.hashAlgorithm");
  const oidTlv = alg.read(TAG.OID, "CertID.hashAlgorithm");
  // Parameters absent or NULL (RFC 5754 §2 allows both for the SHA-2 family).
  if (!alg.done && alg.read(TAG.NULL, "CertID.hashAlgorithm parameters").length !== 0)
    alg.fail("CertID.hashAlgorithm parameters: malformed NULL");
  alg.finish("CertID.hashAlgorithm");
  const hash = hashOf(oidTlv);
  if (hash === undefined)
    throw new SignetError(code, `CertID hash algorithm ${decodeOid(oidTlv, code)} is not supported (use SHA-1 or SHA-2)`);
  const issuerNameHash = r.readOctetString("CertID.issuerNameHash");
  const issuerKeyHash = r.readOctetString("CertID.issuerKeyHash");
  const serial = integerMagnitude(r.read(TAG.INTEGER, "CertID.serialNumber"), "CertID.serialNumber", code);
  r.finish("CertID");
  // RFC 5280 §4.1.2.2: at most 20 octets. Longer ones name no certificate and would let a client
  // make the responder cache (and key maps on) arbitrarily large serials.
  if (serial.length > 20) r.fail("CertID.serialNumber is longer than 20 octets");
  if (issuerNameHash.length !== hash.length || issuerKeyHash.length !== hash.length)
    r.fail(`CertID hashes must be ${hash.length} octets for ${hash.name}`);
  return { der: t.element, hash: hash.name, issuerNameHash, issuerKeyHash, serialHex: serial.toString("hex") };
}

function hashOf(oidTlv: Tlv): HashInfo | undefined {
  for (const h of HASHES) if (h.oidDer.compare(oidTlv.buf, oidTlv.offset, oidTlv.end) === 0) return h;
  return undefined;
}

/** Reads `[n] EXPLICIT Extensions`; returns the nonce Extension when `nonceAllowed`. An extension
 * Signet does not act on is ignored unless it is critical (RFC 5280 §4.2). */
function readExtensions(explicit: Tlv, what: string, code: DerErrorCode, nonceAllowed: boolean): Tlv | undefined {
  const wrapper = DerReader.of(explicit, code);
  const exts = wrapper.enter(TAG.SEQUENCE, what);
  wrapper.finish(what);
  if (exts.done) exts.fail(`${what} must not be empty`);
  let nonce: Tlv | undefined;
  const seen: string[] = [];
  while (!exts.done) {
    const extTlv = exts.read(TAG.SEQUENCE, "Extension");
    const ext = DerReader.of(extTlv, code);
    const oidTlv = ext.read(TAG.OID, "extnID");
    const extnId = decodeOid(oidTlv, code); // bounded: decodeOid refuses OIDs over 64 octets
    const critTlv = ext.readOptional(TAG.BOOLEAN);
    const critical = critTlv !== undefined && decodeBoolean(critTlv, "critical", code);
    const value = ext.read(TAG.OCTET_STRING, "extnValue");
    ext.finish("Extension");
    if (seen.includes(extnId)) exts.fail(`${what}: extension ${extnId} appears twice`);
    seen.push(extnId);
    if (nonceAllowed && NONCE_OID.compare(oidTlv.buf, oidTlv.offset, oidTlv.end) === 0) {
      checkNonce(value, code);
      nonce = extTlv;
    } else if (critical) {
      exts.fail(`${what}: unsupported critical extension ${extnId}`);
    }
  }
  return nonce;
}

/** RFC 8954 §2.1: extnValue holds the DER of Nonce ::= OCTET STRING. Clients written against RFC
 * 2560 put the raw octets there instead; both are echoed verbatim, so both are accepted, and the
 * length limit applies to the nonce octets either way. */
function checkNonce(value: Tlv, code: DerErrorCode): void {
  const b = value.buf;
  const s = value.start;
  let n = value.length;
  if (n >= 2 && b[s] === TAG.OCTET_STRING) {
    const l1 = b[s + 1]!;
    if (l1 < 0x80 && s + 2 + l1 === value.end) n = l1;
    else if (l1 === 0x81 && n >= 3 && b[s + 2]! >= 0x80 && s + 3 + b[s + 2]! === value.end) n = b[s + 2]!;
  }
  if (n === 0) throw new SignetError(code, "the OCSP nonce is empty");
  if (n > MAX_OCSP_NONCE_LENGTH) throw new SignetError(code, `the OCSP nonce is longer than ${MAX_OCSP_NONCE_LENGTH} octets`);
}

// ---------------------------------------------------------------------------------------------
// Responses


function expectSequence(part: Buffer, what: string): void {
  if (part.length < 2 || part[0] !== TAG.SEQUENCE) throw new SignetError("internal", `${what} is not a DER SEQUENCE`);
}

/** DER SingleResponse { certID (verbatim), certStatus, thisUpdate, nextUpdate [0] }; the revocation
 * reason ([0] EXPLICIT CRLReason) is omitted when null. */
export function encodeSingleResponse(certIdDer: Buffer, status: OcspCertStatus, thisUpdate: Date, nextUpdate: Date): Buffer {
  expectSequence(certIdDer, "CertID");
  if (nextUpdate.getTime() < thisUpdate.getTime()) throw new SignetError("internal", "OCSP nextUpdate is before thisUpdate");
  let statusLength: number;
  switch (status.kind) {
    case "good":
    case "unknown":
      statusLength = 2;
      break;
    case "revoked":
      if (status.reason !== null && !isCrlReason(status.reason))
        throw new SignetError("internal", `${status.reason} is not a CRLReason`);
      // [1] { revocationTime GeneralizedTime, revocationReason [0] { ENUMERATED } }
      statusLength = 2 + GENERALIZED_TIME_LENGTH + (status.reason === null ? 0 : 5);
      break;
    default:
      throw new SignetError("internal", "unknown OCSP certificate status");
  }
  const content = certIdDer.length + statusLength + GENERALIZED_TIME_LENGTH + 2 + GENERALIZED_TIME_LENGTH;
  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  off += certIdDer.copy(out, off);
  if (status.kind === "revoked") {
    out[off++] = 0xa1;
    out[off++] = statusLength - 2;
    off = writeGeneralizedTime(out, off, status.revokedAt);
    if (status.reason !== null) {
      out[off++] = 0xa0;
      out[off++] = 3;
      out[off++] = ENUMERATED;
      out[off++] = 1;
      out[off++] = status.reason;
    }
  } else {
    // good [0] IMPLICIT NULL, unknown [2] IMPLICIT UnknownInfo (NULL)
    out[off++] = status.kind === "good" ? 0x80 : 0x82;
    out[off++] = 0;
  }
  off = writeGeneralizedTime(out, off, thisUpdate);
  out[off++] = 0xa0;
  out[off++] = GENERALIZED_TIME_LENGTH;
  off = writeGeneralizedTime(out, off, nextUpdate);
  if (off !== out.length) throw new SignetError("internal", "SingleResponse length mismatch");
  return out;
}

/** KeyHash for responderID byKey (RFC 6960 §4.2.1): SHA-1 of the responder key's subjectPublicKey
 * BIT STRING contents, which is the RFC 5280 method-1 key identifier. Compute it once per key. */
export function responderKeyHash(spkiDer: Buffer): Buffer {
  return subjectKeyIdentifier(spkiDer);
}

/** DER ResponseData: version omitted (v1 default), responderID byKey, producedAt, responses
 * (already-encoded SingleResponses), responseExtensions [1] holding the echoed nonce when given. */
export function buildResponseData(p: { responderKeyHash: Buffer; producedAt: Date; responses: readonly Buffer[]; nonceExtension?: Buffer | null }): Buffer {
  if (p.responderKeyHash.length !== 20) throw new SignetError("internal", "the responder key hash must be 20 octets (SHA-1)");
  if (p.responses.length === 0) throw new SignetError("internal", "an OCSP response needs at least one SingleResponse");
  let responsesContent = 0;
  for (const r of p.responses) {
    expectSequence(r, "SingleResponse");
    responsesContent += r.length;
  }
  const nonce = p.nonceExtension ?? null;
  let extsSeq = 0;
  if (nonce !== null) {
    expectSequence(nonce, "nonce extension");
    extsSeq = headerLength(nonce.length) + nonce.length;
  }
  const extsTotal = nonce === null ? 0 : headerLength(extsSeq) + extsSeq;
  const content = RESPONDER_ID_LENGTH + GENERALIZED_TIME_LENGTH + headerLength(responsesContent) + responsesContent + extsTotal;
  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  out[off++] = 0xa2;
  out[off++] = 22;
  out[off++] = TAG.OCTET_STRING;
  out[off++] = 20;
  off += p.responderKeyHash.copy(out, off);
  off = writeGeneralizedTime(out, off, p.producedAt);
  off = writeHeader(out, off, TAG.SEQUENCE, responsesContent);
  for (const r of p.responses) off += r.copy(out, off);
  if (nonce !== null) {
    off = writeHeader(out, off, 0xa1, extsSeq);
    off = writeHeader(out, off, TAG.SEQUENCE, nonce.length);
    off += nonce.copy(out, off);
  }
  if (off !== out.length) throw new SignetError("internal", "ResponseData length mismatch");
  return out;
}

/** OCSPResponse { successful, responseBytes [0] { id-pkix-ocsp-basic, OCTET STRING (BasicOCSPResponse
 * { tbsResponseData, signatureAlgorithm, signature, certs [0] (omitted when empty) }) } }. */
export function assembleOcspResponse(p: { responseData: Buffer; signatureAlgorithm: Buffer; signature: Buffer; certs: readonly Buffer[] }): Buffer {
  expectSequence(p.responseData, "ResponseData");
  expectSequence(p.signatureAlgorithm, "signatureAlgorithm");
  let certsContent = 0;
  for (const c of p.certs) {
    expectSequence(c, "certificate");
    certsContent += c.length;
  }
  const certsSeq = headerLength(certsContent) + certsContent;
  const certsTotal = p.certs.length === 0 ? 0 : headerLength(certsSeq) + certsSeq;
  const bitContent = p.signature.length + 1;
  const basicContent = p.responseData.length + p.signatureAlgorithm.length + headerLength(bitContent) + bitContent + certsTotal;
  const basic = headerLength(basicContent) + basicContent;
  const bytesContent = BASIC_RESPONSE_OID.length + headerLength(basic) + basic;
  const bytesSeq = headerLength(bytesContent) + bytesContent;
  const content = 3 + headerLength(bytesSeq) + bytesSeq;

  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  out[off++] = ENUMERATED;
  out[off++] = 1;
  out[off++] = RESPONSE_STATUS.successful;
  off = writeHeader(out, off, 0xa0, bytesSeq);
  off = writeHeader(out, off, TAG.SEQUENCE, bytesContent);
  off += BASIC_RESPONSE_OID.copy(out, off);
  off = writeHeader(out, off, TAG.OCTET_STRING, basic);
  off = writeHeader(out, off, TAG.SEQUENCE, basicContent);
  off += p.responseData.copy(out, off);
  off += p.signatureAlgorithm.copy(out, off);
  off = writeHeader(out, off, TAG.BIT_STRING, bitContent);
  out[off++] = 0;
  off += p.signature.copy(out, off);
  if (p.certs.length > 0) {
    off = writeHeader(out, off, 0xa0, certsSeq);
    off = writeHeader(out, off, TAG.SEQUENCE, certsContent);
    for (const c of p.certs) off += c.copy(out, off);
  }
  if (off !== out.length) throw new SignetError("internal", "OCSPResponse length mismatch");
  return out;
}

/** The fixed OCSPResponse carrying only an error responseStatus. The Buffer is shared: do not
 * mutate it. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  const r = ERROR_RESPONSES.get(status);
  if (r === undefined) throw new SignetError("internal", `unknown OCSP response status ${String(status)}`);
  return r;
}

/** The CertID DER Signet itself would send for a certificate with `serialHex` issued by the CA
 * with this subject and key: hashAlgorithm with NULL parameters (as OpenSSL writes it),
 * issuerNameHash = H(issuer subject Name DER), issuerKeyHash = H(issuer subjectPublicKey contents). */
export function buildCertId(hash: CertIdHash, issuerSubjectDer: Buffer, issuerPublicKeyBytes: Buffer, serialHex: string): Buffer {
  const h = HASH_BY_NAME.get(hash);
  if (h === undefined) throw new SignetError("internal", `unsupported CertID hash ${String(hash)}`);
  if (!/^[0-9a-fA-F]+$/.test(serialHex)) throw new SignetError("bad_serial", `serial ${JSON.stringify(serialHex)} is not hex`);
  const serial = integer(Buffer.from(serialHex.length % 2 ? `0${serialHex}` : serialHex, "hex"));
  const content = h.algorithmIdentifier.length + 2 * (2 + h.length) + serial.length;
  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  off += h.algorithmIdentifier.copy(out, off);
  for (const input of [issuerSubjectDer, issuerPublicKeyBytes]) {
    out[off++] = TAG.OCTET_STRING;
    out[off++] = h.length;
    off += createHash(h.name).update(input).digest().copy(out, off);
  }
  off += serial.copy(out, off);
  if (off !== out.length) throw new SignetError("internal", "CertID length mismatch");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Response parsing (tests and OCSP clients; not the responder's hot path)

/** Strict parse of a DER OCSPResponse. Does not verify the signature: the caller holds the
 * responder's key and decides whom to trust. Malformed input throws SignetError("bad_pem"). */
export function parseOcspResponse(der: Buffer): ParsedOcspResponse {
  const outer = DerReader.of(readOne(der, TAG.SEQUENCE, "OCSPResponse", R), R);
  const code = readEnumerated(outer, "responseStatus");
  const status = STATUS_BY_CODE.get(code);
  if (status === undefined) throw new SignetError(R, `unknown OCSP responseStatus ${code}`);
  const bytesTlv = outer.readOptional(0xa0);
  outer.finish("OCSPResponse");
  if (status !== "successful") {
    if (bytesTlv !== undefined) outer.fail(`an OCSP ${status} response must not carry responseBytes`);
    return { status };
  }
  if (bytesTlv === undefined) throw new SignetError(R, "a successful OCSP response must carry responseBytes");

  const wrapper = DerReader.of(bytesTlv, R);
  const responseBytes = wrapper.enter(TAG.SEQUENCE, "responseBytes");
  wrapper.finish("responseBytes");
  const typeTlv = responseBytes.read(TAG.OID, "responseType");
  if (BASIC_RESPONSE_OID.compare(typeTlv.buf, typeTlv.offset, typeTlv.end) !== 0)
    responseBytes.fail(`unsupported OCSP responseType ${decodeOid(typeTlv, R)}`);
  const basicDer = responseBytes.readOctetString("response");
  responseBytes.finish("responseBytes");

  const basic = DerReader.of(readOne(basicDer, TAG.SEQUENCE, "BasicOCSPResponse", R), R);
  const dataTlv = basic.read(TAG.SEQUENCE, "tbsResponseData");
  const algTlv = basic.read(TAG.SEQUENCE, "signatureAlgorithm");
  const { unusedBits, bytes: signature } = basic.readBitString("signature");
  if (unusedBits !== 0) basic.fail("signature BIT STRING has unused bits");
  const certsTlv = basic.readOptional(0xa0);
  basic.finish("BasicOCSPResponse");
  const certs: Buffer[] = [];
  if (certsTlv !== undefined) {
    const w = DerReader.of(certsTlv, R);
    const list = w.enter(TAG.SEQUENCE, "certs");
    w.finish("certs");
    while (!list.done) certs.push(list.read(TAG.SEQUENCE, "certificate").element);
  }

  const data = DerReader.of(dataTlv, R);
  const versionTlv = data.readOptional(0xa0);
  if (versionTlv !== undefined) {
    const v = DerReader.of(versionTlv, R);
    if (v.readSmallInt("version") !== 0) v.fail("ResponseData version must be v1");
    v.finish("version");
  }
  const parsed: ParsedOcspResponse = { status, nonceExtension: null, certs, responseData: dataTlv.element, signatureAlgorithm: algTlv.element, signature };
  const rid = data.read(undefined, "responderID");
  const ridReader = DerReader.of(rid, R);
  if (rid.tag === 0xa1) {
    parsed.responderName = ridReader.read(TAG.SEQUENCE, "responderID byName").element;
  } else if (rid.tag === 0xa2) {
    const keyHash = ridReader.readOctetString("responderID byKey");
    if (keyHash.length !== 20) ridReader.fail("responderID byKey must be a 20-octet SHA-1 hash");
    parsed.responderKeyHash = keyHash;
  } else {
    data.fail("responderID must be byName [1] or byKey [2]");
  }
  ridReader.finish("responderID");
  parsed.producedAt = readGeneralizedTime(data, "producedAt");
  const list = data.enter(TAG.SEQUENCE, "responses");
  const extensions = data.readOptional(0xa1);
  data.finish("ResponseData");

  parsed.responses = [];
  while (!list.done) {
    const single = list.enter(TAG.SEQUENCE, "SingleResponse");
    const certId = readCertId(single.read(TAG.SEQUENCE, "certID"), R);
    const certStatus = readCertStatus(single.read(undefined, "certStatus"));
    const thisUpdate = readGeneralizedTime(single, "thisUpdate");
    let nextUpdate: Date | null = null;
    const next = single.readOptional(0xa0);
    if (next !== undefined) {
      const n = DerReader.of(next, R);
      nextUpdate = readGeneralizedTime(n, "nextUpdate");
      n.finish("nextUpdate");
    }
    const singleExtensions = single.readOptional(0xa1);
    single.finish("SingleResponse");
    if (singleExtensions !== undefined) readExtensions(singleExtensions, "singleExtensions", R, false);
    parsed.responses.push({ certId, status: certStatus, thisUpdate, nextUpdate });
  }
  if (parsed.responses.length === 0) list.fail("responses is empty");
  const nonce = extensions === undefined ? undefined : readExtensions(extensions, "responseExtensions", R, true);
  parsed.nonceExtension = nonce?.element ?? null;
  return parsed;
}

function readCertStatus(t: Tlv): OcspCertStatus {
  const r = DerReader.of(t, R);
  switch (t.tag) {
    case 0x80:
    case 0x82:
      if (t.length !== 0) r.fail("certStatus good/unknown must be an empty NULL");
      return { kind: t.tag === 0x80 ? "good" : "unknown" };
    case 0xa1: {
      const revokedAt = readGeneralizedTime(r, "revocationTime");
      let reason: number | null = null;
      const reasonTlv = r.readOptional(0xa0);
      r.finish("RevokedInfo");
      if (reasonTlv !== undefined) {
        const e = DerReader.of(reasonTlv, R);
        reason = readEnumerated(e, "revocationReason");
        e.finish("revocationReason");
        if (!isCrlReason(reason)) e.fail(`revocationReason ${reason} is not a CRLReason`);
      }
      return { kind: "revoked", revokedAt, reason };
    }
    default:
      throw new SignetError(R, `certStatus: unexpected tag 0x${t.tag.toString(16)}`);
  }
}

/** A small ENUMERATED (OCSPResponseStatus, CRLReason): one content octet, non-negative. */
function readEnumerated(r: DerReader, what: string): number {
  const t = r.read(ENUMERATED, what);
  if (t.length !== 1 || t.buf[t.start]! & 0x80) r.fail(`${what}: malformed ENUMERATED`);
  return t.buf[t.start]!;
}

function readGeneralizedTime(r: DerReader, what: string): Date {
  return decodeTime(r.read(TAG.GENERALIZED_TIME, what), what, r.code);
}

// ---------------------------------------------------------------------------------------------
// Request building (OCSP clients: the proxy, benchmarks, tests)

/** A DER OCSPRequest for the given CertIDs (from buildCertId), unsigned, with a nonce extension
 * (RFC 8954: an OCTET STRING of 1-32 octets) when `nonce` is given. */
export function buildOcspRequest(certIds: readonly Buffer[], nonce?: Buffer): Buffer {
  if (certIds.length === 0 || certIds.length > MAX_OCSP_REQUESTS) throw new SignetError("internal", `an OCSP request carries 1-${MAX_OCSP_REQUESTS} CertIDs`);
  const requests = tlv(TAG.SEQUENCE, ...certIds.map((id) => tlv(TAG.SEQUENCE, id)));
  const extensions = nonce
    ? [tlv(0xa2, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, oid(OCSP_OIDS.nonce), tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, nonce)))))]
    : [];
  return tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, requests, ...extensions));
}
