// GeneralNames as Signet uses them in subjectAltName: DNS, IP, URI and email. Other GeneralName
// forms are reported, never silently dropped, so the pipeline can refuse a CSR that asks for them.
import { isIPv4, isIPv6 } from "node:net";
import { SignetError } from "../errors.js";
import { DerReader, TAG, Tlv, type DerErrorCode, decodeOid, readOne, tlv } from "./der.js";
import { parseName } from "./name.js";

export interface SubjectAltNames {
  dns: string[];
  /** Canonical text: dotted IPv4, RFC 5952 IPv6. */
  ip: string[];
  uri: string[];
  email: string[];
  /** GeneralName forms Signet cannot honour, e.g. "otherName:1.3.6.1.4.1.311.20.2.3",
   * "dirName:CN=x", "registeredID:1.2.3", "x400Address", "ediPartyName". */
  unsupported: string[];
}

export interface SubjectAltNamesInput {
  dns?: readonly string[];
  ip?: readonly string[];
  uri?: readonly string[];
  email?: readonly string[];
}

// Context tags of the GeneralName CHOICE (RFC 5280 §4.2.1.6).
const GN = {
  otherName: 0xa0,
  rfc822Name: 0x81,
  dNSName: 0x82,
  x400Address: 0xa3,
  directoryName: 0xa4,
  ediPartyName: 0xa5,
  uniformResourceIdentifier: 0x86,
  iPAddress: 0x87,
  registeredID: 0x88,
} as const;

// ---------------------------------------------------------------------------------------------
// IP addresses

/** IPv4 or IPv6 text to 4 or 16 octets. Zone IDs are refused: they mean nothing off-host. */
export function ipToBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip) || ip.includes("%")) throw new SignetError("bad_request", `not an IP address: ${JSON.stringify(ip)}`);
  let text = ip;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    tail = text.slice(lastColon + 1).split(".").map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(":").map((h) => parseInt(h, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  const groups = rest === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

/** 4 or 16 octets to canonical text: dotted IPv4; RFC 5952 IPv6 (lowercase, longest run of two or
 * more zero groups compressed, leftmost on a tie, IPv4-mapped addresses in mixed notation). */
export function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`IP address of ${bytes.length} octets`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(bytes.readUInt16BE(i));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff)
    return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (arr: number[]) => arr.map((x) => x.toString(16)).join(":");
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function ascii(kind: string, s: string): Buffer {
  // eslint-disable-next-line no-control-regex
  if (s.length === 0 || !/^[\x21-\x7e]*$/.test(s))
    throw new SignetError("bad_request", `${kind} SAN must be non-empty printable ASCII: ${JSON.stringify(s)}`);
  return Buffer.from(s, "latin1");
}

/** DER GeneralNames (a SEQUENCE), in the order DNS, IP, URI, email. */
export function encodeGeneralNames(names: SubjectAltNamesInput): Buffer {
  const parts: Buffer[] = [];
  for (const d of names.dns ?? []) parts.push(tlv(GN.dNSName, ascii("DNS", d)));
  for (const ip of names.ip ?? []) parts.push(tlv(GN.iPAddress, ipToBytes(ip)));
  for (const u of names.uri ?? []) parts.push(tlv(GN.uniformResourceIdentifier, ascii("URI", u)));
  for (const e of names.email ?? []) parts.push(tlv(GN.rfc822Name, ascii("email", e)));
  if (parts.length === 0) throw new SignetError("bad_request", "subjectAltName needs at least one name");
  return tlv(TAG.SEQUENCE, ...parts);
}

/** A GeneralName that is a URI, for AIA and CRL distribution points. */
export const uriGeneralName = (uri: string): Buffer => tlv(GN.uniformResourceIdentifier, ascii("URI", uri));

// ---------------------------------------------------------------------------------------------
// Decoding

function iaText(t: Tlv, kind: string, code: DerErrorCode): string {
  for (let i = t.start; i < t.end; i++) if (t.buf[i]! > 0x7f) throw new SignetError(code, `${kind} SAN is not ASCII`);
  return t.buf.toString("latin1", t.start, t.end);
}

/** Reads one GeneralName into `out`. */
export function readGeneralName(t: Tlv, out: SubjectAltNames, code: DerErrorCode): void {
  switch (t.tag) {
    case GN.dNSName:
      out.dns.push(iaText(t, "DNS", code));
      return;
    case GN.iPAddress:
      if (t.length !== 4 && t.length !== 16) throw new SignetError(code, `IP address SAN of ${t.length} octets`);
      out.ip.push(formatIp(t.content));
      return;
    case GN.uniformResourceIdentifier:
      out.uri.push(iaText(t, "URI", code));
      return;
    case GN.rfc822Name:
      out.email.push(iaText(t, "email", code));
      return;
    case GN.otherName: {
      const r = DerReader.of(t, code);
      out.unsupported.push(`otherName:${r.readOid("otherName type-id")}`);
      return;
    }
    case GN.directoryName:
      out.unsupported.push(`dirName:${parseName(t.content, code).text}`);
      return;
    case GN.registeredID:
      out.unsupported.push(`registeredID:${decodeOid(new Tlv(t.buf, TAG.OID, t.offset, t.headerLength, t.start, t.end), code)}`);
      return;
    case GN.x400Address:
      out.unsupported.push("x400Address");
      return;
    case GN.ediPartyName:
      out.unsupported.push("ediPartyName");
      return;
    default:
      throw new SignetError(code, `unknown GeneralName tag 0x${t.tag.toString(16)}`);
  }
}

export function emptySans(): SubjectAltNames {
  return { dns: [], ip: [], uri: [], email: [], unsupported: [] };
}

/** Parses a DER GeneralNames (the subjectAltName extnValue) into `into` (fresh if omitted). */
export function parseGeneralNames(der: Buffer, code: DerErrorCode, into: SubjectAltNames = emptySans()): SubjectAltNames {
  const r = DerReader.of(readOne(der, TAG.SEQUENCE, "GeneralNames", code), code);
  if (r.done) r.fail("GeneralNames must not be empty");
  while (!r.done) readGeneralName(r.read(undefined, "GeneralName"), into, code);
  return into;
}
