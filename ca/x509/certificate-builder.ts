// The issuance hot path: a TBSCertificate written into one Buffer whose size is computed up front.
// Everything that does not change per certificate (issuer name, AlgorithmIdentifier, profile
// extensions) arrives pre-encoded, so building a leaf is a handful of copies.
import { SignetError } from "../errors.js";
import { TAG, headerLength, timeLength, writeHeader, writeTime } from "./der.js";

export interface TbsCertificateParams {
  /** Positive serial magnitude, big-endian; leading zero octets are ignored. At most 20 octets
   * once encoded (RFC 5280 §4.1.2.2). */
  serial: Buffer;
  /** DER AlgorithmIdentifier (from ca/signer.ts); must equal the one passed to assembleCertificate. */
  signatureAlgorithm: Buffer;
  issuerNameDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  subjectNameDer: Buffer;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  /** Pre-encoded DER Extension elements, in the order they should appear. */
  extensions: readonly Buffer[];
}

// version [0] EXPLICIT INTEGER 2 (v3)
const VERSION_V3 = Buffer.from([0xa0, 0x03, TAG.INTEGER, 0x01, 0x02]);

function expectSequence(part: Buffer, what: string): void {
  if (part.length < 2 || part[0] !== TAG.SEQUENCE) throw new SignetError("internal", `${what} is not a DER SEQUENCE`);
}

/** DER TBSCertificate (v3). Extensions are omitted entirely when the list is empty. */
export function buildTbsCertificate(p: TbsCertificateParams): Buffer {
  const serial = p.serial;
  let first = 0;
  while (first < serial.length && serial[first] === 0) first++;
  if (first === serial.length) throw new SignetError("bad_serial", "the serial number must be positive");
  const pad = serial[first]! & 0x80 ? 1 : 0;
  const serialContent = serial.length - first + pad;
  if (serialContent > 20) throw new SignetError("bad_serial", "the serial number must fit in 20 octets");
  if (p.notAfter.getTime() < p.notBefore.getTime())
    throw new SignetError("bad_lifetime", "notAfter is before notBefore");
  expectSequence(p.signatureAlgorithm, "signatureAlgorithm");
  expectSequence(p.issuerNameDer, "issuer name");
  expectSequence(p.subjectNameDer, "subject name");
  expectSequence(p.spki, "subjectPublicKeyInfo");

  const validityContent = timeLength(p.notBefore) + timeLength(p.notAfter);
  let extsContent = 0;
  for (const e of p.extensions) {
    expectSequence(e, "extension");
    extsContent += e.length;
  }
  const extsSeq = headerLength(extsContent) + extsContent;
  const extsTotal = p.extensions.length > 0 ? headerLength(extsSeq) + extsSeq : 0;
  const content =
    VERSION_V3.length +
    2 + serialContent +
    p.signatureAlgorithm.length +
    p.issuerNameDer.length +
    2 + validityContent +
    p.subjectNameDer.length +
    p.spki.length +
    extsTotal;

  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  off += VERSION_V3.copy(out, off);
  out[off++] = TAG.INTEGER;
  out[off++] = serialContent;
  if (pad) out[off++] = 0;
  off += serial.copy(out, off, first);
  off += p.signatureAlgorithm.copy(out, off);
  off += p.issuerNameDer.copy(out, off);
  out[off++] = TAG.SEQUENCE;
  out[off++] = validityContent;
  off = writeTime(out, off, p.notBefore);
  off = writeTime(out, off, p.notAfter);
  off += p.subjectNameDer.copy(out, off);
  off += p.spki.copy(out, off);
  if (extsTotal > 0) {
    off = writeHeader(out, off, 0xa3, extsSeq);
    off = writeHeader(out, off, TAG.SEQUENCE, extsContent);
    for (const e of p.extensions) off += e.copy(out, off);
  }
  if (off !== out.length) throw new SignetError("internal", "TBSCertificate length mismatch");
  return out;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
export function assembleCertificate(tbs: Buffer, signatureAlgorithm: Buffer, signature: Buffer): Buffer {
  const bitContent = signature.length + 1;
  const bitTotal = headerLength(bitContent) + bitContent;
  const content = tbs.length + signatureAlgorithm.length + bitTotal;
  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  off += tbs.copy(out, off);
  off += signatureAlgorithm.copy(out, off);
  off = writeHeader(out, off, TAG.BIT_STRING, bitContent);
  out[off++] = 0;
  signature.copy(out, off);
  return out;
}
