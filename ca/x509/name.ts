// Distinguished names. Throughout Signet an attribute list is in DER order (most significant first,
// e.g. C, O, CN); only the RFC 4514 string form is reversed ("CN=foo,O=Bar,C=GB").
import { SignetError } from "../errors.js";
import {
  DerReader,
  TAG,
  type DerErrorCode,
  decodeOid,
  decodeString,
  ia5String,
  isIa5String,
  isPrintableString,
  oid,
  printableString,
  readOne,
  tlv,
  utf8String,
} from "./der.js";
import { ATTRIBUTE_NAMES, ATTRIBUTE_OIDS, type NameAttributeType } from "./oids.js";

export type { NameAttributeType };

export interface NameAttribute {
  type: NameAttributeType;
  value: string;
}

export interface ParsedName {
  /** In DER order. `type` is the short name when Signet knows it, else the dotted OID; `value` is
   * the decoded string, or "#" + hex of the DER value when it is not a string type. */
  attrs: Array<{ type: string; value: string }>;
  /** RFC 4514 string (RDNs reversed, values escaped). */
  text: string;
  /** The most specific (last in DER order) CN, if any. */
  commonName?: string;
}

const ALL_TYPES = Object.keys(ATTRIBUTE_OIDS).filter((t) => t !== "STREET") as NameAttributeType[];
const TYPE_SET: ReadonlySet<string> = new Set(ALL_TYPES);
const TYPE_BY_LOWER = new Map(ALL_TYPES.map((t) => [t.toLowerCase(), t]));

function badName(message: string, detail?: Record<string, unknown>): never {
  throw new SignetError("bad_request", message, detail === undefined ? undefined : { detail });
}

function encodeValue(type: NameAttributeType, value: string): Buffer {
  if (value.length === 0) badName(`${type} must not be empty`, { type });
  switch (type) {
    case "C":
      // X.520 CountryName is the two-letter ISO 3166 code.
      if (!/^[A-Za-z]{2}$/.test(value)) badName(`C must be a two-letter country code, got ${JSON.stringify(value)}`, { type });
      return printableString(value);
    case "serialNumber":
      if (!isPrintableString(value)) badName(`serialNumber must be a PrintableString, got ${JSON.stringify(value)}`, { type });
      return printableString(value);
    case "emailAddress":
    case "DC":
      if (!isIa5String(value)) badName(`${type} must be ASCII, got ${JSON.stringify(value)}`, { type });
      return ia5String(value);
    default:
      return utf8String(value);
  }
}

/** DER Name with one RDN per attribute, attributes in DER order. */
export function encodeName(attrs: ReadonlyArray<NameAttribute>): Buffer {
  const rdns = attrs.map((a) => {
    if (!TYPE_SET.has(a.type)) badName(`unsupported name attribute type ${String(a.type)}`);
    return tlv(TAG.SET, tlv(TAG.SEQUENCE, oid(ATTRIBUTE_OIDS[a.type]), encodeValue(a.type, a.value)));
  });
  return tlv(TAG.SEQUENCE, ...rdns);
}

const SPECIAL = /["+,;<>\\\0]|^[ #]| $/g;

/** RFC 4514 §2.4 value escaping. */
export function escapeDnValue(value: string): string {
  return value.replace(SPECIAL, (c) => (c === "\0" ? "\\00" : "\\" + c));
}

/** Parses a DER Name. `code` chooses the error code for malformed input (bad_csr on the issuance
 * path, bad_pem when importing). */
export function parseName(der: Buffer, code: DerErrorCode = "bad_pem"): ParsedName {
  const top = readOne(der, TAG.SEQUENCE, "Name", code);
  const r = DerReader.of(top, code);
  const attrs: ParsedName["attrs"] = [];
  const rdnTexts: string[] = [];
  let commonName: string | undefined;
  while (!r.done) {
    const rdn = r.enter(TAG.SET, "RelativeDistinguishedName");
    if (rdn.done) r.fail("empty RelativeDistinguishedName");
    const parts: string[] = [];
    while (!rdn.done) {
      const atv = rdn.enter(TAG.SEQUENCE, "AttributeTypeAndValue");
      const typeOid = decodeOid(atv.read(TAG.OID, "attribute type"), code);
      const valueTlv = atv.read(undefined, "attribute value");
      atv.finish("AttributeTypeAndValue");
      const short = ATTRIBUTE_NAMES.get(typeOid);
      const isString = isStringTag(valueTlv.tag);
      const hexForm = "#" + valueTlv.element.toString("hex");
      const value = isString ? decodeString(valueTlv, `${short ?? typeOid} value`, code) : hexForm;
      attrs.push({ type: short ?? typeOid, value });
      if (short === "CN") commonName = value;
      // RFC 4514 §2.4: a dotted-OID type, or a value that is not a string, is written as #hex.
      parts.push(`${short ?? typeOid}=${short !== undefined && isString ? escapeDnValue(value) : hexForm}`);
    }
    rdnTexts.push(parts.join("+"));
  }
  const parsed: ParsedName = { attrs, text: rdnTexts.reverse().join(",") };
  if (commonName !== undefined) parsed.commonName = commonName;
  return parsed;
}

function isStringTag(tag: number): boolean {
  return (
    tag === TAG.UTF8_STRING ||
    tag === TAG.PRINTABLE_STRING ||
    tag === TAG.IA5_STRING ||
    tag === TAG.TELETEX_STRING ||
    tag === TAG.BMP_STRING ||
    tag === TAG.UNIVERSAL_STRING ||
    tag === TAG.NUMERIC_STRING ||
    tag === TAG.VISIBLE_STRING
  );
}

/** Parses "CN=foo,O=Bar Inc" (RFC 4514 syntax, as typed on a command line or in config) into
 * attributes in DER order, so `encodeName(parseDistinguishedNameString(s))` renders back as `s`.
 * Backslash escapes (`\,`, `\+`, `\\`, `\XX` hex UTF-8 octets) are honoured; spaces around
 * separators are ignored; multi-valued RDNs and #hex values are refused. */
export function parseDistinguishedNameString(text: string): NameAttribute[] {
  const attrs: NameAttribute[] = [];
  let i = 0;
  const n = text.length;
  const skipSpaces = () => {
    while (i < n && text[i] === " ") i++;
  };
  skipSpaces();
  if (i === n) return attrs;
  for (;;) {
    skipSpaces();
    const eq = text.indexOf("=", i);
    if (eq < 0) badName(`distinguished name ${JSON.stringify(text)}: expected TYPE=value at position ${i}`);
    const typeText = text.slice(i, eq).trim();
    const type = TYPE_BY_LOWER.get(typeText.toLowerCase());
    if (type === undefined)
      badName(`unsupported attribute type ${JSON.stringify(typeText)}; use one of ${ALL_TYPES.join(", ")}`, {
        type: typeText,
      });
    i = eq + 1;
    skipSpaces();
    if (text[i] === "#") badName(`#hex attribute values are not supported (${typeText})`);
    const bytes: number[] = [];
    // Bytes up to `keep` are content; unescaped spaces after it are trailing padding.
    let keep = 0;
    while (i < n) {
      const c = text[i]!;
      if (c === ",") break;
      if (c === "+") badName(`multi-valued RDNs are not supported; escape '+' as '\\+' (${typeText})`);
      if (c === "\\") {
        const next = text[i + 1];
        if (next === undefined) badName(`distinguished name ends with a lone backslash`);
        if (/[0-9a-fA-F]/.test(next) && /[0-9a-fA-F]/.test(text[i + 2] ?? "")) {
          bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
          i += 3;
        } else {
          if (!/[ "#+,;<=>\\]/.test(next)) badName(`invalid escape \\${next} in distinguished name`);
          bytes.push(next.charCodeAt(0));
          i += 2;
        }
        keep = bytes.length;
        continue;
      }
      const cp = text.codePointAt(i)!;
      const enc = Buffer.from(String.fromCodePoint(cp), "utf8");
      for (const b of enc) bytes.push(b);
      i += cp > 0xffff ? 2 : 1;
      if (c !== " ") keep = bytes.length;
    }
    const raw = Buffer.from(bytes.slice(0, keep));
    const value = raw.toString("utf8");
    if (!Buffer.from(value, "utf8").equals(raw)) badName(`${typeText} value is not valid UTF-8`);
    attrs.push({ type, value });
    if (i >= n) break;
    i++; // past ','
  }
  return attrs.reverse();
}
