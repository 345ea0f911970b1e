// The one place Signet's OIDs are written down, standard and private alike, so a typo cannot hide in
// a second copy and a reviewer can see every arc Signet emits.

/** Signet's private arc: the ITU-T X.667 OID of UUID 07043473-af32-4a91-9e4c-6787cdad8c14. A
 * 2.25 arc is unique by construction and needs no registration with anyone. */
export const SIGNET_ARC = "2.25.9326429008687304599121987238294817812";

/** The first roles extension (`SEQUENCE OF UTF8String`), read but no longer written: Go's X.509
 * parser refuses any certificate with an OID arc over 2^31, and a 2.25 UUID arc is one. Roles now
 * travel in subjectDirectoryAttributes as id-at-role (see ROLE_ATTRIBUTE). */
export const SIGNET_ROLES_EXTENSION = `${SIGNET_ARC}.1`;

/** id-at-role (X.520, RFC 5755 §4.4.5): a role attribute, `RoleSyntax ::= SEQUENCE { roleAuthority
 * [0] GeneralNames OPTIONAL, roleName [1] GeneralName }`. Signet writes each role as a roleName of
 * type uniformResourceIdentifier, inside the subjectDirectoryAttributes extension (RFC 5280
 * §4.2.1.8, non-critical): standard OIDs with small arcs, which every X.509 parser accepts. */
export const ROLE_ATTRIBUTE = "2.5.4.72";

/** Attribute types in distinguished names. */
export const ATTRIBUTE_OIDS = {
  CN: "2.5.4.3",
  serialNumber: "2.5.4.5",
  C: "2.5.4.6",
  L: "2.5.4.7",
  ST: "2.5.4.8",
  STREET: "2.5.4.9",
  O: "2.5.4.10",
  OU: "2.5.4.11",
  emailAddress: "1.2.840.113549.1.9.1",
  DC: "0.9.2342.19200300.100.1.25",
  UID: "0.9.2342.19200300.100.1.1",
} as const;

/** Attribute types Signet will put into a name it encodes. */
export type NameAttributeType = Exclude<keyof typeof ATTRIBUTE_OIDS, "STREET">;

/** Short name by OID, for rendering parsed names. */
export const ATTRIBUTE_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(ATTRIBUTE_OIDS).map(([name, oid]) => [oid, name]),
);

export const EXTENSION_OIDS = {
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  issuerAltName: "2.5.29.18",
  basicConstraints: "2.5.29.19",
  cRLNumber: "2.5.29.20",
  cRLReason: "2.5.29.21",
  invalidityDate: "2.5.29.24",
  deltaCRLIndicator: "2.5.29.27",
  issuingDistributionPoint: "2.5.29.28",
  nameConstraints: "2.5.29.30",
  cRLDistributionPoints: "2.5.29.31",
  freshestCRL: "2.5.29.46",
  certificatePolicies: "2.5.29.32",
  authorityKeyIdentifier: "2.5.29.35",
  policyConstraints: "2.5.29.36",
  extKeyUsage: "2.5.29.37",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  ocspNoCheck: "1.3.6.1.5.5.7.48.1.5",
  ocspNonce: "1.3.6.1.5.5.7.48.1.2",
  signetRoles: SIGNET_ROLES_EXTENSION,
  subjectDirectoryAttributes: "2.5.29.9",
} as const;

export const EKU_OIDS = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  OCSPSigning: "1.3.6.1.5.5.7.3.9",
  /** id-kp-cmcRA (RFC 6402): a registration authority, here the SCEP RA. */
  cmcRA: "1.3.6.1.5.5.7.3.28",
  /** tcg-kp-AIKCertificate (TCG EK Credential Profile): an attestation key's certificate. */
  tcgAikCertificate: "2.23.133.8.3",
  /** tcg-kp-EKCertificate: an endorsement key's certificate, from the TPM's manufacturer. */
  tcgEkCertificate: "2.23.133.8.1",
  anyExtendedKeyUsage: "2.5.29.37.0",
} as const;

export const EKU_NAMES: ReadonlyMap<string, string> = new Map(Object.entries(EKU_OIDS).map(([n, o]) => [o, n]));

/** AccessDescription.accessMethod values (RFC 5280 §4.2.2.1). */
export const ACCESS_METHOD_OIDS = {
  ocsp: "1.3.6.1.5.5.7.48.1",
  caIssuers: "1.3.6.1.5.5.7.48.2",
} as const;

/** OCSP (RFC 6960 §4.2.1, §4.4.1). */
export const OCSP_OIDS = {
  basicResponse: "1.3.6.1.5.5.7.48.1.1",
  nonce: "1.3.6.1.5.5.7.48.1.2",
} as const;

/** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1). */
export const OCSP_NOCHECK = EXTENSION_OIDS.ocspNoCheck;

export const KEY_ALGORITHM_OIDS = {
  ecPublicKey: "1.2.840.10045.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  dsa: "1.2.840.10040.4.1",
  Ed25519: "1.3.101.112",
  Ed448: "1.3.101.113",
  X25519: "1.3.101.110",
  X448: "1.3.101.111",
} as const;

export const CURVE_OIDS = {
  "P-256": "1.2.840.10045.3.1.7",
  "P-384": "1.3.132.0.34",
  "P-521": "1.3.132.0.35",
  secp256k1: "1.3.132.0.10",
} as const;

export const SIGNATURE_ALGORITHM_OIDS = {
  "ecdsa-with-SHA1": "1.2.840.10045.4.1",
  "ecdsa-with-SHA256": "1.2.840.10045.4.3.2",
  "ecdsa-with-SHA384": "1.2.840.10045.4.3.3",
  "ecdsa-with-SHA512": "1.2.840.10045.4.3.4",
  sha1WithRSAEncryption: "1.2.840.113549.1.1.5",
  sha256WithRSAEncryption: "1.2.840.113549.1.1.11",
  sha384WithRSAEncryption: "1.2.840.113549.1.1.12",
  sha512WithRSAEncryption: "1.2.840.113549.1.1.13",
  "RSASSA-PSS": KEY_ALGORITHM_OIDS.rsassaPss,
  Ed25519: KEY_ALGORITHM_OIDS.Ed25519,
  Ed448: KEY_ALGORITHM_OIDS.Ed448,
} as const;

export const SIGNATURE_ALGORITHM_NAMES: ReadonlyMap<string, string> = new Map(
  Object.entries(SIGNATURE_ALGORITHM_OIDS).map(([n, o]) => [o, n]),
);

export const HASH_OIDS = {
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;

/** id-mgf1 (RFC 8017), the only mask generation function RSASSA-PSS uses in practice. */
export const MGF1 = "1.2.840.113549.1.1.8";

/** PKCS#9 attributes that appear in PKCS#10 requests (RFC 2985). */
export const PKCS9_OIDS = {
  challengePassword: "1.2.840.113549.1.9.7",
  extensionRequest: "1.2.840.113549.1.9.14",
} as const;

/** Password-based encryption of exported private keys (RFC 8018 PBES2, as EncryptedPrivateKeyInfo
 * in RFC 5958): PBKDF2 with HMAC-SHA256, then AES-256-CBC. */
export const PBES2_OIDS = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSHA256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
} as const;

/** CMS (RFC 5652) content types and attributes, and the content-encryption and key-transport
 * algorithms SCEP messages use (RFC 3565 AES-CBC, RFC 3370 3DES-CBC and rsaEncryption, RFC 8017 OAEP). */
export const CMS_OIDS = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsaesOaep: "1.2.840.113549.1.1.7",
  aes128Cbc: "2.16.840.1.101.3.4.1.2",
  aes192Cbc: "2.16.840.1.101.3.4.1.22",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
  desEde3Cbc: "1.2.840.113549.3.7",
  desCbc: "1.3.14.3.2.7",
} as const;

/** SCEP's authenticated attributes (RFC 8894 §3.2.1, Verisign's arc 2.16.840.1.113733.1.9). */
export const SCEP_OIDS = {
  messageType: "2.16.840.1.113733.1.9.2",
  pkiStatus: "2.16.840.1.113733.1.9.3",
  failInfo: "2.16.840.1.113733.1.9.4",
  senderNonce: "2.16.840.1.113733.1.9.5",
  recipientNonce: "2.16.840.1.113733.1.9.6",
  transactionID: "2.16.840.1.113733.1.9.7",
} as const;

/** Every OID above under one flat, prefixed name, for call sites that want a single import. */
export const OID = {
  ...EXTENSION_OIDS,
  ekuServerAuth: EKU_OIDS.serverAuth,
  ekuClientAuth: EKU_OIDS.clientAuth,
  ekuCodeSigning: EKU_OIDS.codeSigning,
  ekuEmailProtection: EKU_OIDS.emailProtection,
  ekuTimeStamping: EKU_OIDS.timeStamping,
  ekuOcspSigning: EKU_OIDS.OCSPSigning,
  ekuCmcRa: EKU_OIDS.cmcRA,
  ekuTcgAik: EKU_OIDS.tcgAikCertificate,
  ekuTcgEk: EKU_OIDS.tcgEkCertificate,
  ekuAny: EKU_OIDS.anyExtendedKeyUsage,
  adOcsp: ACCESS_METHOD_OIDS.ocsp,
  adCaIssuers: ACCESS_METHOD_OIDS.caIssuers,
  challengePassword: PKCS9_OIDS.challengePassword,
  extensionRequest: PKCS9_OIDS.extensionRequest,
  pbes2: PBES2_OIDS.pbes2,
  pbkdf2: PBES2_OIDS.pbkdf2,
  hmacWithSHA256: PBES2_OIDS.hmacWithSHA256,
  aes256Cbc: PBES2_OIDS.aes256Cbc,
  signetArc: SIGNET_ARC,
} as const;
