// CRLs (RFC 5280 §5). A CA with a million revoked certificates re-signs its CRL every few hours, so
// the TBSCertList is written like the TBSCertificate: one pass to validate and size every entry,
// then one Buffer filled in place, never a tree of small Buffers per entry. The parser is strict
// (tests, imports, monitoring): anything malformed is bad_crl.
import { SignetError } from "../errors.js";
import { REVOCATION_REASONS, reasonName } from "../revocation.js";
import { assembleCertificate } from "./certificate-builder.js";
import {
  DerReader,
  TAG,
  type Tlv,
  decodeBoolean,
  decodeTime,
  headerLength,
  integer,
  integerMagnitude,
  readOne,
  readSigned,
  timeLength,
  writeHeader,
  writeGeneralizedTime,
  writeTime,
  GENERALIZED_TIME_LENGTH,
} from "./der.js";
import { authorityKeyIdentifier, extension, freshestCrl } from "./extensions.js";
import { emptySans, readGeneralName } from "./general-names.js";
import { parseName } from "./name.js";
import { EXTENSION_OIDS } from "./oids.js";

export interface RevokedEntry {
  /** Lowercase hex of the serial's magnitude (as stored: e.g. "1a2b..."; positive integer). */
  serialHex: string;
  /** ms since epoch; encoded to whole seconds. */
  revokedAt: number;
  /** RFC 5280 CRLReason code; 0 (unspecified) or null => no reasonCode entry extension (RFC 5280 §5.3.1 SHOULD). */
  reason: number | null;
  /** ms since epoch, or null => no invalidityDate extension. */
  invalidityDate: number | null;
}

export interface TbsCertListParams {
  /** DER AlgorithmIdentifier (from ca/signer.ts); must equal the one passed to assembleCrl. */
  signatureAlgorithm: Buffer;
  /** DER Name of the issuer (the CA certificate's subject). */
  issuerDer: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
  /** May be empty: revokedCertificates is then omitted, as RFC 5280 §5.1.2.6 requires. */
  entries: readonly RevokedEntry[];
  /** CRL Number extension (non-critical), at most 20 octets. */
  crlNumber: bigint;
  /** AKI extension keyIdentifier (non-critical). */
  authorityKeyId: Buffer;
  /** Set for a delta CRL: the Delta CRL Indicator extension (critical), naming its base CRL. */
  deltaBaseCrlNumber?: bigint;
  /** Base CRLs only: the Freshest CRL extension (non-critical); an empty list adds nothing. */
  freshestCrlUrls?: readonly string[];
}

export interface ParsedCrl {
  /** The DER TBSCertList, as signed. Buffers share memory with the input. */
  tbs: Buffer;
  /** The whole DER AlgorithmIdentifier. */
  signatureAlgorithm: Buffer;
  signature: Buffer;
  issuerDer: Buffer;
  thisUpdate: Date;
  nextUpdate: Date | null;
  crlNumber: bigint | null;
  deltaBaseCrlNumber: bigint | null;
  authorityKeyId: Buffer | null;
  freshestCrlUrls: string[];
  /** In CRL order; `reason` is null when the entry has no reasonCode extension. */
  entries: RevokedEntry[];
}

const C = "bad_crl" as const;

// version INTEGER 1 (v2): required, since every CRL Signet writes has extensions.
const VERSION_V2 = Buffer.from([TAG.INTEGER, 1, 1]);
const ENUMERATED = 0x0a;

// The entry extensions, ready-made where they do not vary: one reasonCode Extension per code, and
// the invalidityDate Extension up to its GeneralizedTime.
const REASON_EXTENSIONS: ReadonlyMap<number, Buffer> = new Map(
  Object.values(REVOCATION_REASONS)
    .filter((code) => code !== 0)
    .map((code) => [code, extension(EXTENSION_OIDS.cRLReason, false, Buffer.from([ENUMERATED, 1, code]))]),
);
const INVALIDITY_DATE_PREFIX = extension(EXTENSION_OIDS.invalidityDate, false, Buffer.alloc(GENERALIZED_TIME_LENGTH)).subarray(
  0,
  -GENERALIZED_TIME_LENGTH,
);
const REASON_EXTENSION_LENGTH = REASON_EXTENSIONS.get(1)!.length;
const INVALIDITY_EXTENSION_LENGTH = INVALIDITY_DATE_PREFIX.length + GENERALIZED_TIME_LENGTH;

// Time is UTCTime for these instants and GeneralizedTime outside them (RFC 5280 §5.1.2.4); timeLength()
// decides the same by year, this by number, which the per-entry loop can afford.
const UTC_TIME_FROM = Date.UTC(1950, 0, 1);
const UTC_TIME_UNTIL = Date.UTC(2050, 0, 1);
const timeLengthAt = (ms: number): number => (ms >= UTC_TIME_FROM && ms < UTC_TIME_UNTIL ? 15 : 17);

// Hex digit values by char code; -1 for anything else.
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
  HEX_VALUE["0123456789ABCDEF".charCodeAt(i)] = i;
}
const hexDigit = (s: string, i: number): number => HEX_VALUE[s.charCodeAt(i)] ?? -1;

/** Index of the first significant hex digit of a serial, after checking the whole string. */
function serialStart(serialHex: unknown): number {
  if (typeof serialHex !== "string" || serialHex.length === 0 || serialHex.length > 40)
    throw new TypeError(`serialHex must be 1-40 hex digits: ${JSON.stringify(serialHex)}`);
  let start = -1;
  for (let i = 0; i < serialHex.length; i++) {
    const d = hexDigit(serialHex, i);
    if (d < 0) throw new TypeError(`serialHex must be 1-40 hex digits: ${JSON.stringify(serialHex)}`);
    if (start < 0 && d !== 0) start = i;
  }
  if (start < 0) throw new RangeError("a serial number must be positive");
  return start;
}

/** Octets of the minimal INTEGER content for the serial whose significant digits start at `start`:
 * the magnitude, plus a 0x00 when its high bit is set. */
function serialContentLength(serialHex: string, start: number): number {
  const digits = serialHex.length - start;
  const highBit = digits % 2 === 0 && hexDigit(serialHex, start) >= 8 ? 1 : 0;
  return ((digits + 1) >> 1) + highBit;
}

/** Writes the INTEGER content for `serialHex` (already checked) at `off`; returns the end offset. */
function writeSerial(out: Buffer, off: number, serialHex: string, start: number, contentLength: number): number {
  const end = off + contentLength;
  let i = start;
  const digits = serialHex.length - start;
  if (digits % 2 === 1) {
    out[off++] = hexDigit(serialHex, i++);
  } else if (contentLength > digits >> 1) {
    out[off++] = 0;
  }
  for (; i < serialHex.length; i += 2) out[off++] = (hexDigit(serialHex, i) << 4) | hexDigit(serialHex, i + 1);
  return end;
}

function checkReason(reason: number | null, delta: boolean): number {
  if (reason === null || reason === 0) return 0;
  if (!Number.isInteger(reason) || reasonName(reason) === "unknown") throw new RangeError(`${reason} is not an RFC 5280 CRLReason`);
  if (reason === REVOCATION_REASONS.removeFromCRL && !delta) throw new RangeError("removeFromCRL may only appear in a delta CRL");
  return reason;
}

function checkInstant(ms: number, what: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new RangeError(`${what} must be a finite number of ms`);
  // Whole seconds, rounded down the way Date's fields are, so the length chosen here is the one written.
  return Math.floor(ms / 1000) * 1000;
}


/** A CRL Number or BaseCRLNumber value: INTEGER (0..MAX), at most 20 octets (RFC 5280 §5.2.3). */
function crlNumberValue(n: bigint, what: string): Buffer {
  if (typeof n !== "bigint" || n < 0n) throw new RangeError(`${what} must be a non-negative bigint`);
  const der = integer(n);
  if (der.length - 2 > 20) throw new RangeError(`${what} must fit in 20 octets`);
  return der;
}

function expectSequence(part: Buffer, what: string): void {
  if (!Buffer.isBuffer(part) || part.length < 2 || part[0] !== TAG.SEQUENCE) throw new TypeError(`${what} is not a DER SEQUENCE`);
}

function crlExtensions(p: TbsCertListParams): Buffer[] {
  if (!Buffer.isBuffer(p.authorityKeyId) || p.authorityKeyId.length === 0) throw new TypeError("authorityKeyId must be a non-empty Buffer");
  const exts = [authorityKeyIdentifier(p.authorityKeyId), extension(EXTENSION_OIDS.cRLNumber, false, crlNumberValue(p.crlNumber, "crlNumber"))];
  if (p.deltaBaseCrlNumber !== undefined) {
    // RFC 5280 §5.2.4: a delta names an earlier, complete CRL as its base.
    if (p.deltaBaseCrlNumber >= p.crlNumber) throw new RangeError("a delta CRL's base CRL number must be below its own CRL number");
    if (p.freshestCrlUrls?.length) throw new RangeError("the Freshest CRL extension must not appear in a delta CRL (RFC 5280 §5.2.6)");
    exts.push(extension(EXTENSION_OIDS.deltaCRLIndicator, true, crlNumberValue(p.deltaBaseCrlNumber, "deltaBaseCrlNumber")));
  }
  if (p.freshestCrlUrls?.length) exts.push(freshestCrl(p.freshestCrlUrls));
  return exts;
}

/** DER TBSCertList (v2). Bad parameters are programming errors here (the entries come from the
 * ledger), so they throw TypeError or RangeError rather than a SignetError. */
export function buildTbsCertList(p: TbsCertListParams): Buffer {
  expectSequence(p.signatureAlgorithm, "signatureAlgorithm");
  expectSequence(p.issuerDer, "issuer name");
  if (!(p.nextUpdate.getTime() >= p.thisUpdate.getTime())) throw new RangeError("nextUpdate is before thisUpdate");
  const delta = p.deltaBaseCrlNumber !== undefined;
  const exts = crlExtensions(p);

  // Pass 1: check and size every entry. An entry's content is at most 23 + 17 + 40 = 80 octets, so
  // its SEQUENCE header is always two.
  const entries = p.entries;
  const n = entries.length;
  const serialStarts = new Uint8Array(n);
  const serialLengths = new Uint8Array(n);
  const entryLengths = new Uint8Array(n);
  let listContent = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    const start = serialStart(e.serialHex);
    const serialLength = serialContentLength(e.serialHex, start);
    const hasReason = checkReason(e.reason, delta) !== 0;
    const invalidityDate = e.invalidityDate;
    if (invalidityDate !== null) checkInstant(invalidityDate, "invalidityDate");
    const hasInvalidity = invalidityDate !== null;
    const extsContent = (hasReason ? REASON_EXTENSION_LENGTH : 0) + (hasInvalidity ? INVALIDITY_EXTENSION_LENGTH : 0);
    const content = 2 + serialLength + timeLengthAt(checkInstant(e.revokedAt, "revokedAt")) + (extsContent > 0 ? 2 + extsContent : 0);
    serialStarts[i] = start;
    serialLengths[i] = serialLength;
    entryLengths[i] = content;
    listContent += 2 + content;
  }

  let extsContent = 0;
  for (const e of exts) extsContent += e.length;
  const extsSeq = headerLength(extsContent) + extsContent;
  const listTotal = n > 0 ? headerLength(listContent) + listContent : 0;
  const content =
    VERSION_V2.length +
    p.signatureAlgorithm.length +
    p.issuerDer.length +
    timeLength(p.thisUpdate) +
    timeLength(p.nextUpdate) +
    listTotal +
    headerLength(extsSeq) + extsSeq;

  // Pass 2: write.
  const out = Buffer.allocUnsafe(headerLength(content) + content);
  let off = writeHeader(out, 0, TAG.SEQUENCE, content);
  off += VERSION_V2.copy(out, off);
  off += p.signatureAlgorithm.copy(out, off);
  off += p.issuerDer.copy(out, off);
  off = writeTime(out, off, p.thisUpdate);
  off = writeTime(out, off, p.nextUpdate);
  if (n > 0) {
    off = writeHeader(out, off, TAG.SEQUENCE, listContent);
    const date = new Date(0); // reused: one Date per entry would be a million allocations
    for (let i = 0; i < n; i++) {
      const e = entries[i]!;
      const entryEnd = off + 2 + entryLengths[i]!;
      out[off++] = TAG.SEQUENCE;
      out[off++] = entryLengths[i]!;
      out[off++] = TAG.INTEGER;
      out[off++] = serialLengths[i]!;
      off = writeSerial(out, off, e.serialHex, serialStarts[i]!, serialLengths[i]!);
      date.setTime(checkInstant(e.revokedAt, "revokedAt"));
      off = writeTime(out, off, date);
      if (off === entryEnd) continue;
      out[off++] = TAG.SEQUENCE;
      out[off] = entryEnd - off - 1;
      off++;
      const reason = e.reason ?? 0;
      if (reason !== 0) off += REASON_EXTENSIONS.get(reason)!.copy(out, off);
      if (e.invalidityDate !== null) {
        off += INVALIDITY_DATE_PREFIX.copy(out, off);
        date.setTime(checkInstant(e.invalidityDate, "invalidityDate"));
        off = writeGeneralizedTime(out, off, date);
      }
    }
  }
  off = writeHeader(out, off, 0xa0, extsSeq);
  off = writeHeader(out, off, TAG.SEQUENCE, extsContent);
  for (const e of exts) off += e.copy(out, off);
  if (off !== out.length) throw new SignetError("internal", "TBSCertList length mismatch");
  return out;
}

/** CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }: the
 * same SIGNED envelope as a certificate. */
export const assembleCrl = (tbs: Buffer, signatureAlgorithm: Buffer, signature: Buffer): Buffer =>
  assembleCertificate(tbs, signatureAlgorithm, signature);

// ---------------------------------------------------------------------------------------------
// Parsing

/** A Time in the form RFC 5280 §5.1.2.4 requires: UTCTime for 1950-2049, GeneralizedTime otherwise. */
function readTime(r: DerReader, what: string): Date {
  const t = r.read(undefined, what);
  const d = decodeTime(t, what, C);
  if (t.end - t.offset !== timeLength(d)) r.fail(`${what}: dates in 1950-2049 must be UTCTime and others GeneralizedTime`);
  return d;
}

const isTimeTag = (tag: number | undefined): boolean => tag === TAG.UTC_TIME || tag === TAG.GENERALIZED_TIME;

/** Walks an Extensions SEQUENCE, handing each extension to `known`, which returns false for OIDs
 * it does not understand; those must not be critical. */
function readExtensions(t: Tlv, what: string, known: (oid: string, critical: boolean, value: Buffer) => boolean): void {
  const r = DerReader.of(t, C);
  if (r.done) r.fail(`${what} must not be empty`);
  const seen: string[] = [];
  while (!r.done) {
    const ext = r.enter(TAG.SEQUENCE, "Extension");
    const oid = ext.readOid("extnID");
    const critTlv = ext.readOptional(TAG.BOOLEAN);
    const critical = critTlv !== undefined && decodeBoolean(critTlv, "critical", C);
    if (critTlv !== undefined && !critical) ext.fail(`extension ${oid}: DER omits critical FALSE, its DEFAULT`);
    const value = ext.readOctetString("extnValue");
    ext.finish("Extension");
    if (seen.includes(oid)) r.fail(`extension ${oid} appears twice in ${what}`);
    seen.push(oid);
    if (!known(oid, critical, value) && critical) r.fail(`unknown critical extension ${oid} in ${what}`);
  }
}

/** CRLNumber and BaseCRLNumber: INTEGER (0..MAX), at most 20 octets. */
function readCrlNumber(value: Buffer, what: string): bigint {
  const mag = integerMagnitude(readOne(value, TAG.INTEGER, what, C), what, C);
  if (mag.length > 20) throw new SignetError(C, `${what} is longer than 20 octets`);
  return BigInt(`0x${mag.toString("hex")}`);
}

/** The fullName URIs of a CRLDistributionPoints-syntax value; other names are skipped. */
function readDistributionPointUris(value: Buffer, what: string): string[] {
  const points = DerReader.of(readOne(value, TAG.SEQUENCE, what, C), C);
  if (points.done) points.fail(`${what} must not be empty`);
  const names = emptySans();
  while (!points.done) {
    const dp = points.enter(TAG.SEQUENCE, "DistributionPoint");
    const dpName = dp.readOptional(0xa0);
    dp.readOptional(0x81); // reasons
    dp.readOptional(0xa2); // cRLIssuer
    dp.finish("DistributionPoint");
    if (dpName === undefined) continue;
    const choice = DerReader.of(dpName, C);
    const fullName = choice.readOptional(0xa0);
    if (fullName === undefined) choice.read(0xa1, "nameRelativeToCRLIssuer");
    choice.finish("DistributionPointName");
    if (fullName === undefined) continue;
    const generalNames = DerReader.of(fullName, C);
    if (generalNames.done) generalNames.fail("fullName must not be empty");
    while (!generalNames.done) readGeneralName(generalNames.read(undefined, "GeneralName"), names, C);
  }
  return names.uri;
}

function readEntry(r: DerReader, crl: { v2: boolean }): RevokedEntry {
  const serial = integerMagnitude(r.read(TAG.INTEGER, "userCertificate"), "userCertificate", C);
  if (serial.length > 20) r.fail("userCertificate: serial number longer than 20 octets");
  if (serial.length === 1 && serial[0] === 0) r.fail("userCertificate: serial number zero");
  const entry: RevokedEntry = { serialHex: serial.toString("hex"), revokedAt: readTime(r, "revocationDate").getTime(), reason: null, invalidityDate: null };
  const exts = r.readOptional(TAG.SEQUENCE);
  r.finish("revoked certificate");
  if (exts === undefined) return entry;
  if (!crl.v2) r.fail("crlEntryExtensions in a v1 CRL");
  readExtensions(exts, "crlEntryExtensions", (oid, _critical, value) => {
    switch (oid) {
      case EXTENSION_OIDS.cRLReason: {
        const t = readOne(value, ENUMERATED, "reasonCode", C);
        const code = t.length === 1 ? t.buf[t.start]! : -1;
        if (reasonName(code) === "unknown") throw new SignetError(C, "reasonCode: not an RFC 5280 CRLReason");
        entry.reason = code;
        return true;
      }
      case EXTENSION_OIDS.invalidityDate: {
        const t = readOne(value, TAG.GENERALIZED_TIME, "invalidityDate", C);
        entry.invalidityDate = decodeTime(t, "invalidityDate", C).getTime();
        return true;
      }
      default:
        return false;
    }
  });
  return entry;
}

/** Parses a DER CertificateList. Strict: DER only, RFC 5280 §5 structure; unknown critical
 * extensions (including indirect-CRL and issuing-distribution-point ones) are refused. The
 * signature is not checked here. */
export function parseCrl(der: Buffer): ParsedCrl {
  const { toBeSigned, algorithm, signature } = readSigned(der, "CertificateList", C);
  const tbs = DerReader.of(toBeSigned, C);
  const crl = { v2: false };
  if (tbs.peekTag() === TAG.INTEGER) {
    // Version is OPTIONAL, not DEFAULT: absent means v1, present it must be v2.
    if (tbs.readSmallInt("version") !== 1) tbs.fail("a CRL version, when present, must be v2");
    crl.v2 = true;
  }
  const innerAlgorithm = tbs.read(TAG.SEQUENCE, "signature");
  // RFC 5280 §5.1.1.2: the two AlgorithmIdentifiers must be identical.
  if (!innerAlgorithm.element.equals(algorithm.element)) tbs.fail("signatureAlgorithm differs from tbsCertList.signature");
  const issuer = tbs.read(TAG.SEQUENCE, "issuer");
  parseName(issuer.element, C);
  const thisUpdate = readTime(tbs, "thisUpdate");
  const nextUpdate = isTimeTag(tbs.peekTag()) ? readTime(tbs, "nextUpdate") : null;
  const list = tbs.readOptional(TAG.SEQUENCE);
  const extsTlv = tbs.readOptional(0xa0);
  tbs.finish("tbsCertList");

  const parsed: ParsedCrl = {
    tbs: toBeSigned.element,
    signatureAlgorithm: algorithm.element,
    signature,
    issuerDer: issuer.element,
    thisUpdate,
    nextUpdate,
    crlNumber: null,
    deltaBaseCrlNumber: null,
    authorityKeyId: null,
    freshestCrlUrls: [],
    entries: [],
  };
  if (list !== undefined) {
    const r = DerReader.of(list, C);
    // RFC 5280 §5.1.2.6: no revoked certificates means no list, not an empty one.
    if (r.done) r.fail("revokedCertificates must be absent rather than empty");
    while (!r.done) parsed.entries.push(readEntry(r.enter(TAG.SEQUENCE, "revoked certificate"), crl));
  }
  if (extsTlv !== undefined) {
    if (!crl.v2) tbs.fail("crlExtensions in a v1 CRL");
    const explicit = DerReader.of(extsTlv, C);
    const exts = explicit.read(TAG.SEQUENCE, "crlExtensions");
    explicit.finish("crlExtensions");
    readExtensions(exts, "crlExtensions", (oid, critical, value) => {
      switch (oid) {
        case EXTENSION_OIDS.authorityKeyIdentifier: {
          const r = DerReader.of(readOne(value, TAG.SEQUENCE, "authorityKeyIdentifier", C), C);
          parsed.authorityKeyId = r.readOptional(0x80)?.content ?? null;
          r.readOptional(0xa1); // authorityCertIssuer
          r.readOptional(0x82); // authorityCertSerialNumber
          r.finish("authorityKeyIdentifier");
          return true;
        }
        case EXTENSION_OIDS.cRLNumber:
          if (critical) throw new SignetError(C, "the CRL Number extension must not be critical");
          parsed.crlNumber = readCrlNumber(value, "cRLNumber");
          return true;
        case EXTENSION_OIDS.deltaCRLIndicator:
          if (!critical) throw new SignetError(C, "the Delta CRL Indicator extension must be critical");
          parsed.deltaBaseCrlNumber = readCrlNumber(value, "BaseCRLNumber");
          return true;
        case EXTENSION_OIDS.freshestCRL:
          parsed.freshestCrlUrls = readDistributionPointUris(value, "freshestCRL");
          return true;
        default:
          return false;
      }
    });
  }
  return parsed;
}
