// The CBOR (RFC 8949) that WebAuthn attestation objects use: maps with text keys, byte and text
// strings, arrays, integers. Definite lengths only, no tags, no floats (WebAuthn's CTAP2 canonical
// form has none); nesting and sizes are bounded, so hostile input costs little. The encoder writes the
// canonical form (shortest lengths; map keys in the order given, callers sort them).
import { AttestationError } from "../attestation/errors.js";

export type CborValue = number | string | Buffer | boolean | null | CborValue[] | Map<string | number, CborValue>;

const MAX_DEPTH = 8;
const MAX_ITEMS = 1024;

/** Decodes exactly one CBOR item spanning all of `buf`. */
export function decodeCbor(buf: Buffer, what = "CBOR"): CborValue {
  let pos = 0;
  let items = 0;
  const fail = (why: string): never => {
    throw new AttestationError("malformed", `${what} is not valid: ${why}`);
  };
  const length = (info: number): number => {
    if (info < 24) return info;
    const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (n === 0) fail(info === 31 ? "indefinite lengths are not accepted" : "reserved length encoding");
    if (pos + n > buf.length) fail("truncated length");
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[pos + i]!;
    pos += n;
    if (!Number.isSafeInteger(v)) fail("a length or integer beyond 2^53");
    // Canonical form: the shortest encoding.
    if ((n === 1 && v < 24) || (n === 2 && v < 0x100) || (n === 4 && v < 0x10000) || (n === 8 && v < 0x100000000)) fail("a length that is not in its shortest form");
    return v;
  };
  const item = (depth: number): CborValue => {
    if (depth > MAX_DEPTH) fail("nested too deeply");
    if (++items > MAX_ITEMS) fail("too many items");
    if (pos >= buf.length) fail("truncated");
    const head = buf[pos++]!;
    const major = head >> 5;
    const info = head & 31;
    switch (major) {
      case 0:
        return length(info);
      case 1:
        return -1 - length(info);
      case 2:
      case 3: {
        const n = length(info);
        if (pos + n > buf.length) fail("a string runs past the end");
        const bytes = buf.subarray(pos, pos + n);
        pos += n;
        if (major === 2) return bytes;
        const text = bytes.toString("utf8");
        if (!Buffer.from(text, "utf8").equals(bytes)) fail("a text string is not UTF-8");
        return text;
      }
      case 4: {
        const n = length(info);
        if (n > MAX_ITEMS) fail("an array is too long");
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(item(depth + 1));
        return out;
      }
      case 5: {
        const n = length(info);
        if (n > MAX_ITEMS) fail("a map is too long");
        const out = new Map<string | number, CborValue>();
        for (let i = 0; i < n; i++) {
          const k = item(depth + 1);
          if (typeof k !== "string" && typeof k !== "number") fail("a map key is neither text nor an integer");
          if (out.has(k as string | number)) fail("a map has a duplicate key");
          out.set(k as string | number, item(depth + 1));
        }
        return out;
      }
      case 7:
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22) return null;
        return fail("floats and simple values other than true, false and null are not accepted");
      default:
        return fail("tags are not accepted");
    }
  };
  const v = item(0);
  if (pos !== buf.length) fail("trailing data after the item");
  return v;
}

function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function encodeCbor(v: CborValue): Buffer {
  if (v === null) return Buffer.from([0xf6]);
  if (v === true) return Buffer.from([0xf5]);
  if (v === false) return Buffer.from([0xf4]);
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || Math.abs(v) > 0xffffffff) throw new RangeError("only 32-bit integers are encoded");
    return v >= 0 ? head(0, v) : head(1, -1 - v);
  }
  if (typeof v === "string") {
    const b = Buffer.from(v, "utf8");
    return Buffer.concat([head(3, b.length), b]);
  }
  if (Buffer.isBuffer(v)) return Buffer.concat([head(2, v.length), v]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(encodeCbor)]);
  return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [encodeCbor(k), encodeCbor(x)])]);
}
