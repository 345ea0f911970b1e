// DER primitives for the issuance hot path. asn1js builds an object tree per element, which held
// @peculiar/x509 to ~465 certificates/s; these functions write bytes directly, and the reader only records offsets
// into the caller's Buffer, so parsing a CSR allocates little beyond the small Tlv records.
import { SignetError } from "../errors.js";

/** Universal and common tags, as the single identifier octet DER uses for them. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** The error codes a decoding failure may carry: the caller says which, since the same bytes are a
 * CSR problem on the issuance path and a PEM/DER problem when importing a certificate. */
export type DerErrorCode = "bad_csr" | "bad_pem" | "bad_ocsp_request" | "bad_crl" | "bad_scep_message";

function fail(code: DerErrorCode, message: string): never {
  throw new SignetError(code, message);
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** Number of octets the identifier + length header takes for content of `length` octets. */
export function headerLength(length: number): number {
  if (length < 0x80) return 2;
  if (length < 0x100) return 3;
  if (length < 0x10000) return 4;
  if (length < 0x1000000) return 5;
  return 6;
}

/** Writes tag and definite length at `offset`; returns the offset just past the header. */
export function writeHeader(out: Buffer, offset: number, tag: number, length: number): number {
  out[offset++] = tag;
  if (length < 0x80) {
    out[offset++] = length;
  } else if (length < 0x100) {
    out[offset++] = 0x81;
    out[offset++] = length;
  } else if (length < 0x10000) {
    out[offset++] = 0x82;
    out[offset++] = length >>> 8;
    out[offset++] = length & 0xff;
  } else if (length < 0x1000000) {
    out[offset++] = 0x83;
    out[offset++] = length >>> 16;
    out[offset++] = (length >>> 8) & 0xff;
    out[offset++] = length & 0xff;
  } else {
    out[offset++] = 0x84;
    out.writeUInt32BE(length, offset);
    offset += 4;
  }
  return offset;
}

/** The DER length octets alone. */
export function encodeLength(length: number): Buffer {
  const out = Buffer.allocUnsafe(headerLength(length));
  writeHeader(out, 0, 0, length);
  return out.subarray(1);
}

/** One TLV over already-encoded content parts, in a single allocation. */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafe(headerLength(length) + length);
  let off = writeHeader(out, 0, tag, length);
  for (const p of parts) off += p.copy(out, off);
  return out;
}

export const seq = (...parts: Buffer[]): Buffer => tlv(TAG.SEQUENCE, ...parts);

/** SET OF: DER wants the elements sorted by their encodings (X.690 11.6). */
export const set = (...parts: Buffer[]): Buffer => tlv(TAG.SET, ...[...parts].sort(Buffer.compare));

const oidCache = new Map<string, Buffer>();

/** Encodes a dotted OID. The result is cached and shared: callers must not mutate it. */
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached !== undefined) return cached;
  if (!/^[0-2](\.(0|[1-9]\d*))+$/.test(dotted)) throw new TypeError(`not a dotted OID: ${dotted}`);
  const arcs = dotted.split(".").map((a) => BigInt(a));
  const [a0, a1] = arcs as [bigint, bigint];
  if (a0 < 2n && a1 >= 40n) throw new TypeError(`not a valid OID: ${dotted}`);
  const bytes: number[] = [];
  for (const arc of [a0 * 40n + a1, ...arcs.slice(2)]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) group.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...group);
  }
  const encoded = tlv(TAG.OID, Buffer.from(bytes));
  oidCache.set(dotted, encoded);
  return encoded;
}

/** Minimal big-endian magnitude of a non-negative integer, with the 0x00 pad DER needs when the
 * high bit would otherwise make it negative. */
function integerContent(value: Buffer | bigint | number): Buffer {
  let mag: Buffer;
  if (Buffer.isBuffer(value)) {
    mag = value;
  } else {
    const big = BigInt(value);
    if (big < 0n) throw new RangeError("only non-negative INTEGERs are encoded");
    let hex = big.toString(16);
    if (hex.length % 2 === 1) hex = "0" + hex;
    mag = Buffer.from(hex, "hex");
  }
  if (mag.length === 0) return Buffer.from([0]);
  let start = 0;
  while (start < mag.length - 1 && mag[start] === 0) start++;
  const trimmed = mag.subarray(start);
  return trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}

/** INTEGER from a positive magnitude (Buffer, big-endian), a bigint or a number. */
export const integer = (value: Buffer | bigint | number): Buffer => tlv(TAG.INTEGER, integerContent(value));

export function bitString(content: Buffer, unusedBits = 0): Buffer {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (content.length === 0 && unusedBits !== 0))
    throw new RangeError(`invalid unused-bits count ${unusedBits}`);
  return tlv(TAG.BIT_STRING, Buffer.from([unusedBits]), content);
}

export const octetString = (content: Buffer): Buffer => tlv(TAG.OCTET_STRING, content);
export const utf8String = (s: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(s, "utf8"));

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
// eslint-disable-next-line no-control-regex
const IA5 = /^[\x00-\x7f]*$/;

export function isPrintableString(s: string): boolean {
  return PRINTABLE.test(s);
}
export function isIa5String(s: string): boolean {
  return IA5.test(s);
}

export function printableString(s: string): Buffer {
  if (!PRINTABLE.test(s)) throw new RangeError(`not a PrintableString: ${JSON.stringify(s)}`);
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, "latin1"));
}

export function ia5String(s: string): Buffer {
  if (!IA5.test(s)) throw new RangeError(`not an IA5String: ${JSON.stringify(s)}`);
  return tlv(TAG.IA5_STRING, Buffer.from(s, "latin1"));
}

const TRUE = Buffer.from([TAG.BOOLEAN, 1, 0xff]);
const FALSE = Buffer.from([TAG.BOOLEAN, 1, 0x00]);
const NULL = Buffer.from([TAG.NULL, 0]);
export const boolean = (v: boolean): Buffer => Buffer.from(v ? TRUE : FALSE);
export const nullValue = (): Buffer => Buffer.from(NULL);

/** Octets of the Time encoding of `date` (13 for UTCTime, 15 for GeneralizedTime). */
export function timeLength(date: Date): number {
  const y = date.getUTCFullYear();
  return y >= 1950 && y < 2050 ? 15 : 17;
}

function put2(out: Buffer, off: number, n: number): void {
  out[off] = 0x30 + ((n / 10) | 0);
  out[off + 1] = 0x30 + (n % 10);
}

/** Octets of a GeneralizedTime YYYYMMDDHHMMSSZ: tag, length and 15. */
export const GENERALIZED_TIME_LENGTH = 17;

/** Writes the RFC 5280 §4.1.2.5 Time for `date` at `offset` (UTCTime for 1950-2049, else
 * GeneralizedTime; seconds precision, 'Z'); returns the offset just past it. */
export function writeTime(out: Buffer, offset: number, date: Date): number {
  const y = date.getUTCFullYear();
  return writeTimeAs(out, offset, date, !(y >= 1950 && y < 2050));
}

/** Writes a GeneralizedTime whatever the year (OCSP times, RFC 6960 §4.2.1; invalidity dates, RFC
 * 5280 §5.3.2); fractional seconds are truncated. Returns the offset just past it. */
export function writeGeneralizedTime(out: Buffer, offset: number, date: Date): number {
  return writeTimeAs(out, offset, date, true);
}

function writeTimeAs(out: Buffer, offset: number, date: Date, generalized: boolean): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new RangeError("invalid date");
  const y = date.getUTCFullYear();
  if (y < 0 || y > 9999) throw new RangeError(`year ${y} cannot be encoded`);
  let off = offset;
  if (!generalized) {
    out[off++] = TAG.UTC_TIME;
    out[off++] = 13;
    put2(out, off, y % 100);
    off += 2;
  } else {
    out[off++] = TAG.GENERALIZED_TIME;
    out[off++] = 15;
    put2(out, off, (y / 100) | 0);
    put2(out, off + 2, y % 100);
    off += 4;
  }
  put2(out, off, date.getUTCMonth() + 1);
  put2(out, off + 2, date.getUTCDate());
  put2(out, off + 4, date.getUTCHours());
  put2(out, off + 6, date.getUTCMinutes());
  put2(out, off + 8, date.getUTCSeconds());
  out[off + 10] = 0x5a; // 'Z'
  return off + 11;
}

export function utcOrGeneralizedTime(date: Date): Buffer {
  const out = Buffer.allocUnsafe(timeLength(date));
  writeTime(out, 0, date);
  return out;
}

export const contextExplicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | checkTagNumber(n), inner);
export const contextImplicit = (n: number, content: Buffer, constructed = false): Buffer =>
  tlv((constructed ? 0xa0 : 0x80) | checkTagNumber(n), content);

function checkTagNumber(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 30) throw new RangeError(`context tag ${n} out of range`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Decoder

/** One decoded element: offsets into `buf`, with the element and its content as lazy subarrays. */
export class Tlv {
  constructor(
    readonly buf: Buffer,
    readonly tag: number,
    /** Offset of the identifier octet. */
    readonly offset: number,
    readonly headerLength: number,
    /** Content start (offset + headerLength). */
    readonly start: number,
    /** Content end, exclusive; also the element's end. */
    readonly end: number,
  ) {}
  get length(): number {
    return this.end - this.start;
  }
  /** The whole element (header and content), sharing memory with the input. */
  get element(): Buffer {
    return this.buf.subarray(this.offset, this.end);
  }
  get content(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }
  get constructed(): boolean {
    return (this.tag & 0x20) !== 0;
  }
}

/** Decodes the element at `offset`, which must lie entirely before `limit`. Strict DER: definite,
 * minimal lengths only; single-octet tags only (X.509 has no high tag numbers). */
export function readTlv(buf: Buffer, offset: number, limit: number = buf.length, code: DerErrorCode = "bad_pem"): Tlv {
  if (offset + 2 > limit) fail(code, offset >= limit ? "unexpected end of DER data" : "truncated DER header");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) fail(code, "high-tag-number DER identifiers are not supported");
  const first = buf[offset + 1]!;
  let length: number;
  let hlen: number;
  if (first < 0x80) {
    length = first;
    hlen = 2;
  } else if (first === 0x80) {
    fail(code, "indefinite-length encoding is not DER");
  } else {
    const n = first & 0x7f;
    if (n > 4) fail(code, "DER length too large");
    if (offset + 2 + n > limit) fail(code, "truncated DER length");
    if (buf[offset + 2] === 0) fail(code, "non-minimal DER length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset + 2 + i]!;
    if (length < 0x80) fail(code, "non-minimal DER length");
    hlen = 2 + n;
  }
  const start = offset + hlen;
  if (start + length > limit) fail(code, "DER length runs past the end of the data");
  return new Tlv(buf, tag, offset, hlen, start, start + length);
}

/** Decodes `buf` as exactly one element of tag `tag`, with nothing after it. */
export function readOne(buf: Buffer, tag: number, what: string, code: DerErrorCode = "bad_pem"): Tlv {
  const t = readTlv(buf, 0, buf.length, code);
  if (t.tag !== tag) fail(code, `${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(t.tag)}`);
  if (t.end !== buf.length) fail(code, `${what}: trailing bytes after the DER element`);
  return t;
}

const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** The SIGNED{} envelope certificates, CRLs and PKCS#10 requests share:
 * SEQUENCE { toBeSigned SEQUENCE, algorithm AlgorithmIdentifier, signature BIT STRING }. */
export function readSigned(der: Buffer, what: string, code: DerErrorCode): { toBeSigned: Tlv; algorithm: Tlv; signature: Buffer } {
  const outer = DerReader.of(readOne(der, TAG.SEQUENCE, what, code), code);
  const toBeSigned = outer.read(TAG.SEQUENCE, `${what} signed part`);
  const algorithm = outer.read(TAG.SEQUENCE, `${what} signatureAlgorithm`);
  const { unusedBits, bytes } = outer.readBitString(`${what} signature`);
  outer.finish(what);
  if (unusedBits !== 0) fail(code, `${what} signature BIT STRING has unused bits`);
  return { toBeSigned, algorithm, signature: bytes };
}

/** A forward cursor over the elements inside [pos, end) of a Buffer. */
export class DerReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    readonly code: DerErrorCode = "bad_pem",
    start = 0,
    readonly end: number = buf.length,
  ) {
    this.pos = start;
  }

  /** A reader over the content of `t`. */
  static of(t: Tlv, code: DerErrorCode): DerReader {
    return new DerReader(t.buf, code, t.start, t.end);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  peekTag(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  fail(message: string): never {
    fail(this.code, message);
  }

  /** Reads the next element; if `tag` is given it must match. */
  read(tag?: number, what = "element"): Tlv {
    if (this.pos >= this.end) this.fail(`${what}: missing`);
    const t = readTlv(this.buf, this.pos, this.end, this.code);
    if (tag !== undefined && t.tag !== tag) this.fail(`${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(t.tag)}`);
    this.pos = t.end;
    return t;
  }

  /** Reads the next element only if it carries `tag` (OPTIONAL / DEFAULT fields). */
  readOptional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.read(tag) : undefined;
  }

  /** Reads a constructed element and returns a reader over its content. */
  enter(tag: number, what: string): DerReader {
    return DerReader.of(this.read(tag, what), this.code);
  }

  /** Asserts everything was consumed. */
  finish(what: string): void {
    if (this.pos !== this.end) this.fail(`${what}: unexpected trailing data`);
  }

  readOid(what = "OBJECT IDENTIFIER"): string {
    return decodeOid(this.read(TAG.OID, what), this.code);
  }

  /** INTEGER content as a minimal two's-complement Buffer (shared memory). */
  readIntegerBytes(what = "INTEGER"): Buffer {
    return checkInteger(this.read(TAG.INTEGER, what), what, this.code).content;
  }

  /** A small non-negative INTEGER as a number. */
  readSmallInt(what = "INTEGER"): number {
    const c = this.readIntegerBytes(what);
    if (c[0]! & 0x80) this.fail(`${what}: negative`);
    if (c.length > 6) this.fail(`${what}: too large`);
    return c.readUIntBE(0, c.length);
  }

  readBoolean(what = "BOOLEAN"): boolean {
    return decodeBoolean(this.read(TAG.BOOLEAN, what), what, this.code);
  }

  readBitString(what = "BIT STRING"): { unusedBits: number; bytes: Buffer } {
    return decodeBitString(this.read(TAG.BIT_STRING, what), what, this.code);
  }

  readOctetString(what = "OCTET STRING"): Buffer {
    return this.read(TAG.OCTET_STRING, what).content;
  }

  /** Any of the character-string types X.509 names use. */
  readString(what = "string"): string {
    return decodeString(this.read(undefined, what), what, this.code);
  }

  readTime(what = "Time"): Date {
    return decodeTime(this.read(undefined, what), what, this.code);
  }
}

function checkInteger(t: Tlv, what: string, code: DerErrorCode): Tlv {
  const b = t.buf;
  if (t.length === 0) fail(code, `${what}: empty INTEGER`);
  if (t.length > 1) {
    const a = b[t.start]!;
    const n = b[t.start + 1]!;
    if ((a === 0 && !(n & 0x80)) || (a === 0xff && n & 0x80)) fail(code, `${what}: non-minimal INTEGER`);
  }
  return t;
}

/** Positive INTEGER content without the sign pad, e.g. for serial numbers. */
export function integerMagnitude(t: Tlv, what: string, code: DerErrorCode): Buffer {
  const c = checkInteger(t, what, code).content;
  if (c[0]! & 0x80) fail(code, `${what}: negative INTEGER`);
  return c[0] === 0 && c.length > 1 ? c.subarray(1) : c;
}

export function decodeBoolean(t: Tlv, what: string, code: DerErrorCode): boolean {
  if (t.tag !== TAG.BOOLEAN || t.length !== 1) fail(code, `${what}: malformed BOOLEAN`);
  const v = t.buf[t.start];
  if (v === 0xff) return true;
  if (v === 0x00) return false;
  fail(code, `${what}: BOOLEAN must be 0x00 or 0xff in DER`);
}

export function decodeBitString(t: Tlv, what: string, code: DerErrorCode): { unusedBits: number; bytes: Buffer } {
  if (t.tag !== TAG.BIT_STRING || t.length === 0) fail(code, `${what}: malformed BIT STRING`);
  const unusedBits = t.buf[t.start]!;
  if (unusedBits > 7 || (t.length === 1 && unusedBits !== 0)) fail(code, `${what}: bad unused-bits count`);
  const bytes = t.buf.subarray(t.start + 1, t.end);
  if (unusedBits && bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) fail(code, `${what}: unused bits must be zero`);
  return { unusedBits, bytes };
}

// Decoded OIDs are cached by their content octets: the same dozen OIDs recur in every CSR. The
// cache is bounded because the input is attacker-controlled.
const oidDecodeCache = new Map<string, string>();

/** Longest OID accepted: real ones are under 32 octets; a long one costs quadratic BigInt work. */
const MAX_OID_OCTETS = 64;

export function decodeOid(t: Tlv, code: DerErrorCode = "bad_pem"): string {
  if (t.tag !== TAG.OID || t.length === 0) fail(code, "malformed OBJECT IDENTIFIER");
  if (t.length > MAX_OID_OCTETS) fail(code, `OBJECT IDENTIFIER longer than ${MAX_OID_OCTETS} octets`);
  const key = t.buf.toString("latin1", t.start, t.end);
  const cached = oidDecodeCache.get(key);
  if (cached !== undefined) return cached;
  const b = t.buf;
  const arcs: string[] = [];
  let value = 0n;
  let small = 0;
  let useBig = false;
  let startOfArc = true;
  for (let i = t.start; i < t.end; i++) {
    const byte = b[i]!;
    if (startOfArc && byte === 0x80) fail(code, "non-minimal OBJECT IDENTIFIER arc");
    startOfArc = false;
    if (!useBig && small > 0x3ffffffffff) {
      useBig = true;
      value = BigInt(small);
    }
    if (useBig) value = (value << 7n) | BigInt(byte & 0x7f);
    else small = small * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      const v: bigint | number = useBig ? value : small;
      if (arcs.length === 0) {
        if (v < 40) arcs.push("0", String(v));
        else if (v < 80) arcs.push("1", String(Number(v) - 40));
        else arcs.push("2", useBig ? String((v as bigint) - 80n) : String((v as number) - 80));
      } else {
        arcs.push(String(v));
      }
      value = 0n;
      small = 0;
      useBig = false;
      startOfArc = true;
    }
  }
  if (!startOfArc) fail(code, "truncated OBJECT IDENTIFIER");
  const dotted = arcs.join(".");
  if (oidDecodeCache.size < 4096) oidDecodeCache.set(key, dotted);
  return dotted;
}

/** Decodes the DirectoryString-like types. TeletexString is read as Latin-1, which is what every
 * real-world encoder meant by it. */
export function decodeString(t: Tlv, what: string, code: DerErrorCode): string {
  const b = t.buf;
  switch (t.tag) {
    case TAG.UTF8_STRING: {
      const s = b.toString("utf8", t.start, t.end);
      // Decoding replaces invalid sequences with U+FFFD; a round trip catches them.
      if (s.includes("\ufffd") && !b.subarray(t.start, t.end).equals(Buffer.from(s, "utf8")))
        fail(code, `${what}: invalid UTF-8`);
      return s;
    }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.NUMERIC_STRING:
    case TAG.VISIBLE_STRING: {
      for (let i = t.start; i < t.end; i++) if (b[i]! > 0x7f) fail(code, `${what}: non-ASCII octet in an ASCII string type`);
      return b.toString("latin1", t.start, t.end);
    }
    case TAG.TELETEX_STRING:
      return b.toString("latin1", t.start, t.end);
    case TAG.BMP_STRING: {
      if (t.length % 2) fail(code, `${what}: odd-length BMPString`);
      const swapped = Buffer.from(b.subarray(t.start, t.end)).swap16();
      return swapped.toString("utf16le");
    }
    case TAG.UNIVERSAL_STRING: {
      if (t.length % 4) fail(code, `${what}: bad UniversalString length`);
      let s = "";
      for (let i = t.start; i < t.end; i += 4) {
        const cp = b.readUInt32BE(i);
        if (cp > 0x10ffff) fail(code, `${what}: bad UniversalString code point`);
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      fail(code, `${what}: tag 0x${hex2(t.tag)} is not a string type`);
  }
}

const digit = (b: Buffer, i: number, code: DerErrorCode, what: string): number => {
  const d = b[i]! - 0x30;
  if (d < 0 || d > 9) fail(code, `${what}: malformed time`);
  return d;
};

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), the only forms RFC 5280 allows. */
export function decodeTime(t: Tlv, what: string, code: DerErrorCode): Date {
  const b = t.buf;
  let i = t.start;
  let year: number;
  const two = () => {
    const v = digit(b, i, code, what) * 10 + digit(b, i + 1, code, what);
    i += 2;
    return v;
  };
  if (t.tag === TAG.UTC_TIME) {
    if (t.length !== 13) fail(code, `${what}: UTCTime must be YYMMDDHHMMSSZ`);
    const yy = two();
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (t.tag === TAG.GENERALIZED_TIME) {
    if (t.length !== 15) fail(code, `${what}: GeneralizedTime must be YYYYMMDDHHMMSSZ`);
    year = two() * 100;
    year += two();
  } else {
    fail(code, `${what}: expected UTCTime or GeneralizedTime`);
  }
  const month = two();
  const day = two();
  const hour = two();
  const minute = two();
  const second = two();
  if (b[i] !== 0x5a) fail(code, `${what}: time must end in Z`);
  // Date.UTC maps years 0-99 to 1900-1999, so set the fields one by one.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  // Date rolls 31 February over to March; a round trip catches out-of-range fields.
  if (
    month < 1 ||
    d.getUTCMonth() !== month - 1 ||
    d.getUTCDate() !== day ||
    d.getUTCHours() !== hour ||
    d.getUTCMinutes() !== minute ||
    d.getUTCSeconds() !== second
  )
    fail(code, `${what}: time out of range`);
  return d;
}
