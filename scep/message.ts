// SCEP pkiMessages (RFC 8894 §3): a SignedData whose signed attributes say what the message is
// (messageType, transactionID, senderNonce...) and whose content is an EnvelopedData encrypted to the
// RA. This module reads requests and writes CertRep answers; what a request means is decided in
// enrol.ts.
import { createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { SignetError } from "../ca/errors.js";
import { DerReader, TAG, readOne, type Tlv } from "../ca/x509/der.js";
import { decodeString, octetString, printableString } from "../ca/x509/der.js";
import { CMS_OIDS, SCEP_OIDS, type CertificateInfo } from "../ca/x509/index.js";
import {
  attribute,
  buildEnvelopedData,
  buildSignedData,
  contentTypeOf,
  parseEnvelopedData,
  parseSignedData,
  readIssuerAndSerial,
  signerCertificate,
  toDer,
  verifySignerInfo,
  type ContentCipher,
  type DigestName,
  type IssuerAndSerial,
  type ParsedEnvelopedData,
  type SignerCredentials,
} from "./cms.js";

const C = "bad_scep_message" as const;

/** messageType values (RFC 8894 §3.2.1.2). */
export const MESSAGE_TYPES = {
  CertRep: 3,
  RenewalReq: 17,
  UpdateReq: 18,
  PKCSReq: 19,
  CertPoll: 20,
  GetCert: 21,
  GetCRL: 22,
} as const;
export type MessageTypeName = keyof typeof MESSAGE_TYPES;
const TYPE_NAMES = new Map<number, MessageTypeName>(Object.entries(MESSAGE_TYPES).map(([n, v]) => [v, n as MessageTypeName]));

/** failInfo values (RFC 8894 §3.2.1.4). */
export const FAIL_INFO = { badAlg: 0, badMessageCheck: 1, badRequest: 2, badTime: 3, badCertId: 4 } as const;
export type FailInfo = keyof typeof FAIL_INFO;

export const PKI_STATUS = { SUCCESS: 0, FAILURE: 2, PENDING: 3 } as const;
export type PkiStatus = keyof typeof PKI_STATUS;

/** A request whose signature verified. The envelope is still encrypted. */
export interface PkiRequest {
  messageType: MessageTypeName;
  transactionId: string;
  /** The transactionID attribute value as sent (echoed verbatim in the answer). */
  transactionIdElement: Buffer;
  senderNonce: Buffer;
  digest: DigestName;
  signer: { der: Buffer; info: CertificateInfo; publicKey: KeyObject };
  envelope: ParsedEnvelopedData;
}

/** What can be answered with a CertRep even when the request is refused: enough to address it. */
export interface ReplyTo {
  transactionIdElement: Buffer;
  senderNonce: Buffer;
  digest: DigestName;
}

/** A request that could be read but not accepted: answered with CertRep FAILURE. */
export class ScepFailure extends Error {
  constructor(
    readonly failInfo: FailInfo,
    message: string,
    readonly replyTo: ReplyTo,
  ) {
    super(message);
  }
}

function attrString(t: Tlv, what: string): string {
  return decodeString(t, what, C);
}

/**
 * Reads a PKIOperation message. Throws SignetError(bad_scep_message) when it cannot even be
 * addressed (no transactionID or senderNonce: the HTTP layer answers 400), and ScepFailure when it
 * can be answered but fails a check (signature, algorithm).
 */
export function parsePkiMessage(raw: Buffer, opts: { sha1Signatures: boolean; legacy: boolean }): PkiRequest {
  const der = toDer(raw);
  const sd = parseSignedData(der);
  if (sd.signerInfos.length !== 1) throw new SignetError(C, `a SCEP message has exactly one signer (found ${sd.signerInfos.length})`);
  const si = sd.signerInfos[0]!;
  const txAttr = si.attributes.get(SCEP_OIDS.transactionID);
  const nonceAttr = si.attributes.get(SCEP_OIDS.senderNonce);
  const typeAttr = si.attributes.get(SCEP_OIDS.messageType);
  if (!txAttr || !nonceAttr || !typeAttr) throw new SignetError(C, "the message lacks transactionID, senderNonce or messageType");
  const transactionId = attrString(txAttr.value, "transactionID");
  if (transactionId.length === 0 || transactionId.length > 256) throw new SignetError(C, "transactionID must be 1-256 characters");
  if (nonceAttr.value.tag !== TAG.OCTET_STRING) throw new SignetError(C, "senderNonce must be an OCTET STRING");
  const senderNonce = Buffer.from(nonceAttr.value.content);
  if (senderNonce.length < 8 || senderNonce.length > 64) throw new SignetError(C, "senderNonce must be 8-64 octets");
  const replyTo: ReplyTo = { transactionIdElement: Buffer.from(txAttr.value.element), senderNonce, digest: si.digest === "sha1" && !opts.legacy ? "sha256" : si.digest };
  const fail = (info: FailInfo, message: string): never => {
    throw new ScepFailure(info, message, replyTo);
  };
  const typeText = attrString(typeAttr.value, "messageType");
  const messageType = /^\d{1,3}$/.test(typeText) ? TYPE_NAMES.get(Number(typeText)) : undefined;
  if (!messageType || messageType === "CertRep") fail("badRequest", `messageType ${JSON.stringify(typeText.slice(0, 16))} is not a request Signet answers`);
  let signer: ReturnType<typeof signerCertificate>;
  try {
    signer = signerCertificate(sd, si);
  } catch (err) {
    return fail("badMessageCheck", err instanceof Error ? err.message : "no signer certificate");
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: signer.info.spki, format: "der", type: "spki" });
  } catch {
    return fail("badMessageCheck", "the signer certificate's public key cannot be read");
  }
  try {
    verifySignerInfo(sd, si, publicKey, opts.sha1Signatures || opts.legacy);
  } catch (err) {
    if (err instanceof SignetError && err.code === "bad_scep_algorithm") fail("badAlg", err.message);
    return fail("badMessageCheck", err instanceof Error ? err.message : "the signature does not verify");
  }
  if (!sd.content) fail("badRequest", "the message carries no pkcsPKIEnvelope");
  let envelope: ParsedEnvelopedData;
  try {
    const envDer = toDer(sd.content!);
    if (contentTypeOf(envDer) !== CMS_OIDS.envelopedData) fail("badRequest", "the pkcsPKIEnvelope is not EnvelopedData");
    envelope = parseEnvelopedData(envDer);
  } catch (err) {
    if (err instanceof ScepFailure) throw err;
    if (err instanceof SignetError && err.code === "bad_scep_algorithm") fail("badAlg", err.message);
    return fail("badRequest", err instanceof Error ? err.message : "the pkcsPKIEnvelope cannot be read");
  }
  if ((envelope.cipher === "des-ede3-cbc" || envelope.cipher === "des-cbc") && !opts.legacy) fail("badAlg", `${envelope.cipher === "des-cbc" ? "DES" : "3DES"} is accepted only by providers in legacy mode; use AES`);
  return { messageType: messageType!, transactionId, transactionIdElement: replyTo.transactionIdElement, senderNonce, digest: replyTo.digest, signer: { ...signer, publicKey }, envelope };
}

/** CertPoll (GetCertInitial) content: IssuerAndSubject. */
export function parseIssuerAndSubject(der: Buffer): { issuerDer: Buffer; subjectDer: Buffer } {
  const r = DerReader.of(readOne(der, TAG.SEQUENCE, "IssuerAndSubject", C), C);
  const issuer = r.read(TAG.SEQUENCE, "issuer");
  const subject = r.read(TAG.SEQUENCE, "subject");
  r.finish("IssuerAndSubject");
  return { issuerDer: Buffer.from(issuer.element), subjectDer: Buffer.from(subject.element) };
}

/** GetCert and GetCRL content: IssuerAndSerialNumber. */
export function parseIssuerAndSerial(der: Buffer): IssuerAndSerial {
  const outer = new DerReader(der, C);
  const ias = readIssuerAndSerial(outer, "IssuerAndSerialNumber");
  outer.finish("IssuerAndSerialNumber");
  return ias;
}

export interface CertRepInput {
  replyTo: ReplyTo;
  status: PkiStatus;
  failInfo?: FailInfo;
  /** SUCCESS: the degenerate SignedData to encrypt (certificates, or a CRL). */
  payload?: Buffer;
  /** SUCCESS: the request's signer certificate, which the payload is encrypted to. */
  recipientCertDer?: Buffer;
  cipher?: ContentCipher;
  /** Who signs the answer: the RA (or the CA itself when it has an RSA key). */
  signer: SignerCredentials;
  /** Certificates the answer carries: the signer's, so the client can verify it. */
  certificates: Buffer[];
}

/** Writes a CertRep (RFC 8894 §3.3.2). */
export function buildCertRep(input: CertRepInput): Buffer {
  const attrs = [
    attribute(SCEP_OIDS.messageType, printableString(String(MESSAGE_TYPES.CertRep))),
    attribute(SCEP_OIDS.transactionID, input.replyTo.transactionIdElement),
    attribute(SCEP_OIDS.pkiStatus, printableString(String(PKI_STATUS[input.status]))),
    attribute(SCEP_OIDS.senderNonce, octetString(randomBytes(16))),
    attribute(SCEP_OIDS.recipientNonce, octetString(input.replyTo.senderNonce)),
  ];
  if (input.status === "FAILURE") attrs.push(attribute(SCEP_OIDS.failInfo, printableString(String(FAIL_INFO[input.failInfo ?? "badRequest"]))));
  let content: Buffer | undefined;
  if (input.status === "SUCCESS") {
    if (!input.payload || !input.recipientCertDer) throw new Error("a SUCCESS CertRep needs a payload and a recipient");
    content = buildEnvelopedData(input.payload, input.recipientCertDer, input.cipher ?? "aes-256-cbc");
  }
  return buildSignedData({
    content,
    certificates: input.certificates,
    signer: { ...input.signer, digest: input.replyTo.digest, attributes: attrs },
  });
}
