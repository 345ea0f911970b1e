// Certificate profiles: what a certificate may be used for. Key usage depends on the key type (RSA
// keys also get keyEncipherment, which TLS 1.2 RSA key exchange needs). The extensions that do not
// depend on the request (KU, EKU, basic constraints, AKI, AIA, CRL DP) are encoded once per
// (issuer, profile, key family) and reused, so a leaf costs only its own SAN/SKI/roles encoding.
import { SignetError } from "./errors.js";
import * as ext from "./x509/extensions.js";
import { OID } from "./x509/oids.js";

export const PROFILE_NAMES = ["client", "server", "client-server", "intermediate", "ocsp-responder", "scep-ra", "tpm-ak"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export function isProfileName(v: unknown): v is ProfileName {
  return typeof v === "string" && (PROFILE_NAMES as readonly string[]).includes(v);
}

export function assertProfileName(v: unknown): ProfileName {
  if (!isProfileName(v)) {
    throw new SignetError("bad_request", `unknown profile ${JSON.stringify(v)}; profiles are ${PROFILE_NAMES.join(", ")}`);
  }
  return v;
}

type KeyFamily = "rsa" | "other";

interface ProfileShape {
  ca: boolean;
  extKeyUsage: string[];
  keyUsage(family: KeyFamily): ext.KeyUsageBit[];
  /** A delegated OCSP responder (RFC 6960 §4.2.2.2): id-pkix-ocsp-nocheck instead of revocation
   * pointers, since a client must not ask the responder about its own certificate. */
  ocspResponder?: boolean;
}

const PROFILES: Record<ProfileName, ProfileShape> = {
  client: {
    ca: false,
    extKeyUsage: [OID.ekuClientAuth],
    keyUsage: (f) => (f === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"]),
  },
  server: {
    ca: false,
    extKeyUsage: [OID.ekuServerAuth],
    keyUsage: (f) => (f === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"]),
  },
  "client-server": {
    ca: false,
    extKeyUsage: [OID.ekuServerAuth, OID.ekuClientAuth],
    keyUsage: (f) => (f === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"]),
  },
  intermediate: {
    ca: true,
    extKeyUsage: [],
    keyUsage: () => ["digitalSignature", "keyCertSign", "cRLSign"],
  },
  "ocsp-responder": {
    ca: false,
    extKeyUsage: [OID.ekuOcspSigning],
    keyUsage: () => ["digitalSignature"],
    ocspResponder: true,
  },
  // The SCEP registration authority: clients encrypt requests to its key and it signs the answers
  // (RFC 8894 §2.1.1). id-kp-cmcRA (RFC 6402) and nothing else, so the key is good for no TLS use.
  "scep-ra": {
    ca: false,
    extKeyUsage: [OID.ekuCmcRa],
    keyUsage: () => ["digitalSignature", "keyEncipherment"],
  },
  // A TPM attestation key, after credential activation proved it shares a TPM with a trusted
  // endorsement key: tcg-kp-AIKCertificate only, so it is good for vouching for TPM keys
  // (device-attest-01) and for no TLS use.
  "tpm-ak": {
    ca: false,
    extKeyUsage: [OID.ekuTcgAik],
    keyUsage: () => ["digitalSignature"],
  },
};

export interface IssuerUrls {
  /** OCSP responder URL (AIA id-ad-ocsp). */
  ocsp: string;
  /** Where the issuer's certificate can be fetched as DER (AIA id-ad-caIssuers). */
  caIssuers: string;
  /** The issuer's full CRL (CRL distribution point). */
  crl: string;
  /** The issuer's delta CRL (Freshest CRL extension). */
  deltaCrl: string;
}

/** The static part of a profile's extensions for one issuer, encoded once. */
export class ProfileExtensions {
  readonly #cache = new Map<string, Buffer[]>();

  constructor(
    private readonly issuerKeyId: Buffer,
    private readonly urls: IssuerUrls,
  ) {}

  static(profile: ProfileName, keyType: string): Buffer[] {
    const family: KeyFamily = keyType === "rsa" ? "rsa" : "other";
    const key = `${profile}/${family}`;
    let exts = this.#cache.get(key);
    if (!exts) {
      const shape = PROFILES[profile];
      exts = [
        ext.keyUsage(shape.keyUsage(family)),
        ...(shape.extKeyUsage.length > 0 ? [ext.extKeyUsage(shape.extKeyUsage)] : []),
        shape.ca ? ext.basicConstraints(true, 0) : ext.basicConstraints(false),
        ext.authorityKeyIdentifier(this.issuerKeyId),
        ...(shape.ocspResponder
          ? [ext.authorityInfoAccess({ caIssuers: [this.urls.caIssuers] }), ext.ocspNoCheck()]
          : [
              ext.authorityInfoAccess({ ocsp: [this.urls.ocsp], caIssuers: [this.urls.caIssuers] }),
              ext.crlDistributionPoints([this.urls.crl]),
              ext.freshestCrl([this.urls.deltaCrl]),
            ]),
      ];
      this.#cache.set(key, exts);
    }
    return exts;
  }
}
