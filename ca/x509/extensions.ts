// Extension encoders. Each returns a complete DER Extension so profiles can encode the constant ones
// once per issuer and hand the builder a list of ready Buffers.
import { SignetError } from "../errors.js";
import { TAG, integer, oid, tlv, utf8String } from "./der.js";
import { type SubjectAltNamesInput, encodeGeneralNames, uriGeneralName } from "./general-names.js";
import { ACCESS_METHOD_OIDS, EXTENSION_OIDS, ROLE_ATTRIBUTE } from "./oids.js";

const CRITICAL = Buffer.from([TAG.BOOLEAN, 1, 0xff]);

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }.
 * DER forbids encoding a DEFAULT value, so `critical` is omitted when false. */
export function extension(extnId: string, critical: boolean, valueDer: Buffer): Buffer {
  const value = tlv(TAG.OCTET_STRING, valueDer);
  return critical ? tlv(TAG.SEQUENCE, oid(extnId), CRITICAL, value) : tlv(TAG.SEQUENCE, oid(extnId), value);
}

export const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

export type KeyUsageName = keyof typeof KEY_USAGE_BITS;
/** The key usages Signet issues (encipherOnly/decipherOnly only qualify keyAgreement, unused here). */
export type KeyUsageBit = Exclude<KeyUsageName, "encipherOnly" | "decipherOnly">;

/** keyUsage (critical), as a named BIT STRING: DER drops trailing zero bits (X.690 11.2.2), so the
 * length and unused-bits count follow the highest bit set. */
export function keyUsage(bits: readonly KeyUsageBit[]): Buffer {
  if (bits.length === 0) throw new SignetError("bad_request", "keyUsage needs at least one bit");
  let mask = 0;
  let highest = 0;
  for (const b of bits) {
    const n = KEY_USAGE_BITS[b];
    if (n === undefined) throw new SignetError("bad_request", `unknown key usage ${String(b)}`);
    mask |= 1 << n;
    highest = Math.max(highest, n);
  }
  const octets = (highest >> 3) + 1;
  const content = Buffer.alloc(octets + 1);
  content[0] = 7 - (highest & 7);
  for (let n = 0; n <= highest; n++) if (mask & (1 << n)) content[1 + (n >> 3)]! |= 0x80 >> (n & 7);
  return extension(EXTENSION_OIDS.keyUsage, true, tlv(TAG.BIT_STRING, content));
}

/** extKeyUsage (non-critical: a relying party that does not understand an EKU may still use the
 * certificate for what it does understand). */
export function extKeyUsage(oids: readonly string[]): Buffer {
  if (oids.length === 0) throw new SignetError("bad_request", "extKeyUsage needs at least one purpose");
  return extension(EXTENSION_OIDS.extKeyUsage, false, tlv(TAG.SEQUENCE, ...oids.map((o) => oid(o))));
}

/** basicConstraints (critical). For an end entity the value is an empty SEQUENCE, since cA
 * DEFAULT FALSE must not be encoded. */
export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  if (pathLen !== undefined && (!ca || !Number.isInteger(pathLen) || pathLen < 0))
    throw new SignetError("bad_request", "pathLenConstraint needs cA true and a non-negative integer");
  const parts: Buffer[] = ca ? [Buffer.from([TAG.BOOLEAN, 1, 0xff])] : [];
  if (pathLen !== undefined) parts.push(integer(pathLen));
  return extension(EXTENSION_OIDS.basicConstraints, true, tlv(TAG.SEQUENCE, ...parts));
}

export const subjectKeyIdentifier = (keyId: Buffer): Buffer =>
  extension(EXTENSION_OIDS.subjectKeyIdentifier, false, tlv(TAG.OCTET_STRING, keyId));

/** authorityKeyIdentifier with keyIdentifier [0] only: issuer+serial would pin the issuer's own
 * certificate and break chains across CA certificate re-issuance. */
export const authorityKeyIdentifier = (keyId: Buffer): Buffer =>
  extension(EXTENSION_OIDS.authorityKeyIdentifier, false, tlv(TAG.SEQUENCE, tlv(0x80, keyId)));

/** subjectAltName. RFC 5280 §4.2.1.6: it must be critical when the subject is empty. */
export const subjectAltName = (names: SubjectAltNamesInput, critical = false): Buffer =>
  extension(EXTENSION_OIDS.subjectAltName, critical, encodeGeneralNames(names));

export function authorityInfoAccess(p: { ocsp?: readonly string[]; caIssuers?: readonly string[] }): Buffer {
  const descriptions = [
    ...(p.ocsp ?? []).map((u) => tlv(TAG.SEQUENCE, oid(ACCESS_METHOD_OIDS.ocsp), uriGeneralName(u))),
    ...(p.caIssuers ?? []).map((u) => tlv(TAG.SEQUENCE, oid(ACCESS_METHOD_OIDS.caIssuers), uriGeneralName(u))),
  ];
  if (descriptions.length === 0) throw new SignetError("bad_request", "authorityInfoAccess needs at least one URL");
  return extension(EXTENSION_OIDS.authorityInfoAccess, false, tlv(TAG.SEQUENCE, ...descriptions));
}

/** CRLDistributionPoints syntax: one DistributionPoint per URL, each with distributionPoint
 * [0] { fullName [0] { URI } }. */
function distributionPoints(name: string, urls: readonly string[]): Buffer {
  if (urls.length === 0) throw new SignetError("bad_request", `${name} needs at least one URL`);
  const points = urls.map((u) => tlv(TAG.SEQUENCE, tlv(0xa0, tlv(0xa0, uriGeneralName(u)))));
  return tlv(TAG.SEQUENCE, ...points);
}

/** cRLDistributionPoints (non-critical), in certificates: where the full CRL is. */
export const crlDistributionPoints = (urls: readonly string[]): Buffer =>
  extension(EXTENSION_OIDS.cRLDistributionPoints, false, distributionPoints("cRLDistributionPoints", urls));

/** freshestCRL (non-critical, RFC 5280 §5.2.6), in base CRLs: where the delta CRLs are. Same
 * syntax as cRLDistributionPoints. */
export const freshestCrl = (urls: readonly string[]): Buffer =>
  extension(EXTENSION_OIDS.freshestCRL, false, distributionPoints("freshestCRL", urls));

/** Signet roles: subjectDirectoryAttributes (non-critical) with an id-at-role attribute per role,
 * each RoleSyntax { roleName [1] uniformResourceIdentifier } (see ROLE_ATTRIBUTE). Roles are ASCII
 * (validateRoles), so IA5String holds them. */
export const signetRoles = (roles: readonly string[]): Buffer =>
  extension(
    EXTENSION_OIDS.subjectDirectoryAttributes,
    false,
    // One id-at-role attribute per role, so the order the roles were given in is kept (a SET OF
    // values would be sorted by encoding).
    tlv(TAG.SEQUENCE, ...roles.map((r) => tlv(TAG.SEQUENCE, oid(ROLE_ATTRIBUTE), tlv(TAG.SET, tlv(TAG.SEQUENCE, tlv(0xa1, tlv(0x86, Buffer.from(r, "ascii")))))))),
  );

/** id-pkix-ocsp-nocheck for OCSP responder certificates; the value is NULL (RFC 6960 §4.2.2.2.1). */
export const ocspNoCheck = (): Buffer => extension(EXTENSION_OIDS.ocspNoCheck, false, Buffer.from([TAG.NULL, 0]));
