// The public surface of Signet's X.509 layer. Everything outside ca/x509/ imports from here.
export * as der from "./der.js";
export { DerReader, Tlv, readTlv, readOne, type DerErrorCode } from "./der.js";
export * from "./oids.js";
export { pemDecode, toPem, derOrPem } from "./pem.js";
export {
  encodeName,
  parseName,
  parseDistinguishedNameString,
  escapeDnValue,
  type NameAttribute,
  type NameAttributeType,
  type ParsedName,
} from "./name.js";
export {
  describePublicKey,
  subjectKeyIdentifier,
  subjectKeyIdentifier as keyIdentifier,
  subjectPublicKeyBytes,
  type DescribedPublicKey,
} from "./spki.js";
export { assertKeyAllowed, ALLOWED_KEYS_TEXT } from "./key-policy.js";
export {
  formatIp,
  ipToBytes,
  encodeGeneralNames,
  parseGeneralNames,
  type SubjectAltNames,
  type SubjectAltNamesInput,
} from "./general-names.js";
export { parseCsr, verifyCsrSignature, buildCsr, type ParsedCsr, type CsrParams } from "./csr.js";
export {
  extension,
  keyUsage,
  extKeyUsage,
  basicConstraints,
  // Named apart from spki's subjectKeyIdentifier(spki), which computes the identifier itself.
  subjectKeyIdentifier as subjectKeyIdentifierExtension,
  authorityKeyIdentifier,
  subjectAltName,
  authorityInfoAccess,
  crlDistributionPoints,
  signetRoles,
  ocspNoCheck,
  KEY_USAGE_BITS,
  type KeyUsageBit,
  type KeyUsageName,
} from "./extensions.js";
export { buildTbsCertificate, assembleCertificate, type TbsCertificateParams } from "./certificate-builder.js";
export { parseCertificate, type CertificateInfo, type CertificateExtension } from "./certificate-info.js";
export * as ocsp from "./ocsp.js";
export * as crl from "./crl.js";
