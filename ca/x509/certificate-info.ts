// Reading certificates: CA certificates on import, any certificate for display, and tests. Not on
// the hot path, so it favours completeness; malformed input is bad_pem throughout.
import { SignetError } from "../errors.js";
import {
  DerReader,
  TAG,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeString,
  integerMagnitude,
  readOne,
  readSigned,
} from "./der.js";
import { KEY_USAGE_BITS } from "./extensions.js";
import { type SubjectAltNames, emptySans, parseGeneralNames } from "./general-names.js";
import { type ParsedName, parseName } from "./name.js";
import { EKU_NAMES, EXTENSION_OIDS, ROLE_ATTRIBUTE } from "./oids.js";
import { derOrPem } from "./pem.js";

const P = "bad_pem" as const;

export interface CertificateExtension {
  oid: string;
  critical: boolean;
  /** extnValue contents (the DER inside the OCTET STRING). */
  value: Buffer;
}

export interface CertificateInfo {
  der: Buffer;
  /** Lowercase hex of the serial's magnitude, without the sign pad. */
  serialHex: string;
  /** 1 or 3 (v2 certificates are read as-is and report 2). */
  version: number;
  issuerDer: Buffer;
  subjectDer: Buffer;
  issuer: ParsedName;
  subject: ParsedName;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  tbs: Buffer;
  signatureAlgorithmOid: string;
  /** The whole DER AlgorithmIdentifier. */
  signatureAlgorithm: Buffer;
  signature: Buffer;
  extensions: CertificateExtension[];
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  sans: SubjectAltNames;
  roles: string[];
  isCa: boolean;
  pathLen?: number;
  keyUsage: string[];
  /** EKU short names (serverAuth, clientAuth, OCSPSigning...) or dotted OIDs. */
  extKeyUsage: string[];
}

const KEY_USAGE_NAMES = Object.entries(KEY_USAGE_BITS)
  .sort((a, b) => a[1] - b[1])
  .map(([n]) => n);

/** Parses an X.509 certificate given as DER, PEM or base64 DER. */
export function parseCertificate(input: Buffer | string): CertificateInfo {
  const der = derOrPem(input, ["CERTIFICATE"]);
  const { toBeSigned: tbsTlv, algorithm: sigAlgTlv, signature } = readSigned(der, "Certificate", P);

  const tbs = DerReader.of(tbsTlv, P);
  let version = 1;
  const versionTlv = tbs.readOptional(0xa0);
  if (versionTlv !== undefined) {
    const v = DerReader.of(versionTlv, P);
    version = v.readSmallInt("version") + 1;
    v.finish("version");
    // DER omits DEFAULT v1, so an explicit v1 is not DER.
    if (version < 2 || version > 3) tbs.fail(`unsupported certificate version ${version}`);
  }
  const serialHex = integerMagnitude(tbs.read(TAG.INTEGER, "serialNumber"), "serialNumber", P).toString("hex");
  const innerSigAlg = tbs.read(TAG.SEQUENCE, "signature");
  const issuerTlv = tbs.read(TAG.SEQUENCE, "issuer");
  const validity = tbs.enter(TAG.SEQUENCE, "validity");
  const notBefore = validity.readTime("notBefore");
  const notAfter = validity.readTime("notAfter");
  validity.finish("validity");
  const subjectTlv = tbs.read(TAG.SEQUENCE, "subject");
  const spkiTlv = tbs.read(TAG.SEQUENCE, "subjectPublicKeyInfo");
  tbs.readOptional(0x81); // issuerUniqueID
  tbs.readOptional(0x82); // subjectUniqueID
  const extsTlv = tbs.readOptional(0xa3);
  tbs.finish("tbsCertificate");
  if (extsTlv !== undefined && version !== 3) tbs.fail("extensions in a certificate that is not v3");

  // RFC 5280 §4.1.1.2: the two AlgorithmIdentifiers must be identical.
  if (!innerSigAlg.element.equals(sigAlgTlv.element))
    throw new SignetError(P, "the certificate's signatureAlgorithm differs from tbsCertificate.signature");
  const sigAlg = DerReader.of(sigAlgTlv, P);
  const signatureAlgorithmOid = sigAlg.readOid("signatureAlgorithm");

  const info: CertificateInfo = {
    der,
    serialHex,
    version,
    issuerDer: issuerTlv.element,
    subjectDer: subjectTlv.element,
    issuer: parseName(issuerTlv.element, P),
    subject: parseName(subjectTlv.element, P),
    notBefore,
    notAfter,
    spki: spkiTlv.element,
    tbs: tbsTlv.element,
    signatureAlgorithmOid,
    signatureAlgorithm: sigAlgTlv.element,
    signature,
    extensions: [],
    sans: emptySans(),
    roles: [],
    isCa: false,
    keyUsage: [],
    extKeyUsage: [],
  };
  if (extsTlv !== undefined) readExtensions(DerReader.of(extsTlv, P), info);
  return info;
}

function readExtensions(explicit: DerReader, info: CertificateInfo): void {
  const exts = explicit.enter(TAG.SEQUENCE, "extensions");
  explicit.finish("extensions");
  if (exts.done) exts.fail("extensions must not be empty");
  const seen = new Set<string>();
  while (!exts.done) {
    const ext = exts.enter(TAG.SEQUENCE, "Extension");
    const oid = decodeOid(ext.read(TAG.OID, "extnID"), P);
    const critTlv = ext.readOptional(TAG.BOOLEAN);
    const critical = critTlv === undefined ? false : decodeBoolean(critTlv, "critical", P);
    const value = ext.readOctetString("extnValue");
    ext.finish("Extension");
    if (seen.has(oid)) exts.fail(`extension ${oid} appears twice`);
    seen.add(oid);
    info.extensions.push({ oid, critical, value });
    readKnownExtension(oid, value, info);
  }
}

function readKnownExtension(oid: string, value: Buffer, info: CertificateInfo): void {
  switch (oid) {
    case EXTENSION_OIDS.subjectKeyIdentifier:
      info.subjectKeyId = readOne(value, TAG.OCTET_STRING, "subjectKeyIdentifier", P).content;
      return;
    case EXTENSION_OIDS.authorityKeyIdentifier: {
      const r = DerReader.of(readOne(value, TAG.SEQUENCE, "authorityKeyIdentifier", P), P);
      const keyId = r.readOptional(0x80);
      r.readOptional(0xa1); // authorityCertIssuer
      r.readOptional(0x82); // authorityCertSerialNumber
      r.finish("authorityKeyIdentifier");
      if (keyId !== undefined) info.authorityKeyId = keyId.content;
      return;
    }
    case EXTENSION_OIDS.subjectAltName:
      parseGeneralNames(value, P, info.sans);
      return;
    case EXTENSION_OIDS.basicConstraints: {
      const r = DerReader.of(readOne(value, TAG.SEQUENCE, "basicConstraints", P), P);
      const caTlv = r.readOptional(TAG.BOOLEAN);
      info.isCa = caTlv !== undefined && decodeBoolean(caTlv, "cA", P);
      if (!r.done) info.pathLen = r.readSmallInt("pathLenConstraint");
      r.finish("basicConstraints");
      return;
    }
    case EXTENSION_OIDS.keyUsage: {
      const { bytes } = decodeBitString(readOne(value, TAG.BIT_STRING, "keyUsage", P), "keyUsage", P);
      KEY_USAGE_NAMES.forEach((name, n) => {
        if ((bytes[n >> 3] ?? 0) & (0x80 >> (n & 7))) info.keyUsage.push(name);
      });
      return;
    }
    case EXTENSION_OIDS.extKeyUsage: {
      const r = DerReader.of(readOne(value, TAG.SEQUENCE, "extKeyUsage", P), P);
      while (!r.done) {
        const o = r.readOid("KeyPurposeId");
        info.extKeyUsage.push(EKU_NAMES.get(o) ?? o);
      }
      return;
    }
    case EXTENSION_OIDS.signetRoles: {
      // The first roles extension, in certificates issued before roles moved (see oids.ts).
      const r = DerReader.of(readOne(value, TAG.SEQUENCE, "signetRoles", P), P);
      while (!r.done) {
        info.roles.push(decodeString(r.read(TAG.UTF8_STRING, "role"), "role", P));
      }
      return;
    }
    case EXTENSION_OIDS.subjectDirectoryAttributes: {
      const attrs = DerReader.of(readOne(value, TAG.SEQUENCE, "subjectDirectoryAttributes", P), P);
      while (!attrs.done) {
        const a = attrs.enter(TAG.SEQUENCE, "Attribute");
        const type = a.readOid("attribute type");
        const values = a.enter(TAG.SET, "attribute values");
        a.finish("Attribute");
        if (type !== ROLE_ATTRIBUTE) continue;
        while (!values.done) {
          // RoleSyntax ::= SEQUENCE { roleAuthority [0] GeneralNames OPTIONAL, roleName [1] GeneralName }
          const role = values.enter(TAG.SEQUENCE, "RoleSyntax");
          role.readOptional(0xa0);
          const name = role.enter(0xa1, "roleName");
          const gn = name.read(undefined, "roleName GeneralName");
          name.finish("roleName");
          role.finish("RoleSyntax");
          // Signet writes uniformResourceIdentifier [6]; other GeneralName forms are not roles it reads.
          if (gn.tag === 0x86) info.roles.push(gn.content.toString("latin1"));
        }
      }
      return;
    }
  }
}
