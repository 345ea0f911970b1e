// Endorsement key certificates: the TPM manufacturer's statement that an RSA key lives in a genuine
// TPM (TCG EK Credential Profile). Signet trusts an EK when its certificate chains to a configured
// manufacturer root (or an intermediate operators pinned), and reads the TPM's manufacturer, model
// and firmware version from its subjectAltName directoryName (tcg-at-tpmManufacturer etc.).
import { createHash, X509Certificate, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { AttestationError } from "../attestation/errors.js";
import { OID } from "../x509/oids.js";

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const MAX_CHAIN = 5;

export interface EndorsementKey {
  /** sha256 hex of the EK's SubjectPublicKeyInfo: the device's permanent identifier in Signet. */
  permanentIdentifier: string;
  certificate: X509Certificate;
  /** The EK's public key (RSA), read once from the certificate. */
  publicKey: KeyObject;
  /** Subject of the manufacturer certificate the chain ended at. */
  issuer: string;
  tpmManufacturer: string | null;
  tpmModel: string | null;
  tpmVersion: string | null;
}

/** A set of trusted manufacturer certificates, loaded from a PEM bundle. */
export class EkRoots {
  readonly certificates: X509Certificate[];

  constructor(pem: string) {
    this.certificates = (pem.match(PEM) ?? []).map((p) => new X509Certificate(p)).filter((c) => c.ca);
  }


  static fromFile(path: string): EkRoots {
    return new EkRoots(readFileSync(path, "utf8"));
  }

  /** Verifies an EK certificate (DER) up to one of these certificates, `intermediates` (from the
   * device, untrusted) filling gaps. Throws AttestationError with the reason. */
  verify(ekDer: Buffer, intermediates: Buffer[], now: Date): EndorsementKey {
    let ek: X509Certificate;
    try {
      ek = new X509Certificate(ekDer);
    } catch (cause) {
      throw new AttestationError("malformed", "the EK certificate cannot be parsed", { cause });
    }
    if (ek.ca) throw new AttestationError("claim_mismatch", "the EK certificate is a CA certificate");
    // Some EK certificates name their key id-RSAES-OAEP, which OpenSSL will not import.
    let ekKey: KeyObject;
    try {
      ekKey = ek.publicKey;
    } catch (cause) {
      throw new AttestationError("unsupported_alg", "the EK certificate's public key cannot be read (only rsaEncryption RSA keys are supported)", { cause });
    }
    const eku = ek.keyUsage ?? [];
    if (eku.length > 0 && !eku.includes(OID.ekuTcgEk)) throw new AttestationError("claim_mismatch", "the EK certificate's extended key usage does not include tcg-kp-EKCertificate");
    if (ekKey.asymmetricKeyType !== "rsa") throw new AttestationError("unsupported_alg", "only RSA endorsement keys are supported");
    const pool = intermediates.slice(0, MAX_CHAIN).map((d) => {
      try {
        return new X509Certificate(d);
      } catch (cause) {
        throw new AttestationError("malformed", "an EK chain certificate cannot be parsed", { cause });
      }
    });
    let current = ek;
    for (let depth = 0; depth <= MAX_CHAIN; depth++) {
      within(current, now);
      const anchor = this.certificates.find((c) => issued(c, current));
      if (anchor) {
        within(anchor, now);
        const { manufacturer, model, version } = tpmAttributes(ek);
        return {
          permanentIdentifier: createHash("sha256").update(ekKey.export({ format: "der", type: "spki" })).digest("hex"),
          certificate: ek,
          publicKey: ekKey,
          issuer: anchor.subject,
          tpmManufacturer: manufacturer,
          tpmModel: model,
          tpmVersion: version,
        };
      }
      const next = pool.find((c) => c.ca && issued(c, current));
      if (!next) break;
      current = next;
    }
    throw new AttestationError("unknown_key", "the EK certificate does not chain to a trusted TPM manufacturer root");
  }
}

function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    // A certificate whose key OpenSSL cannot import issues nothing Signet can check.
    return false;
  }
}

function within(c: X509Certificate, now: Date): void {
  if (Date.parse(c.validFrom) > now.getTime()) throw new AttestationError("not_yet_valid", `a certificate of the EK chain (${c.subject.slice(0, 128)}) is not valid yet`);
  if (Date.parse(c.validTo) < now.getTime()) throw new AttestationError("expired", `a certificate of the EK chain (${c.subject.slice(0, 128)}) has expired`);
}

/** tcg-at-tpmManufacturer (2.23.133.2.1), tpmModel (.2) and tpmVersion (.3), from the SAN's
 * directoryName as Node prints it (values as #hex of their DER, a UTF8String or PrintableString). */
function tpmAttributes(ek: X509Certificate): { manufacturer: string | null; model: string | null; version: string | null } {
  const san = ek.subjectAltName ?? "";
  const read = (n: number): string | null => {
    const m = new RegExp(`2\\.23\\.133\\.2\\.${n}=(#[0-9A-Fa-f]+|[^,\\\\"+]+)`).exec(san);
    if (!m) return null;
    const v = m[1]!;
    if (!v.startsWith("#")) return v.slice(0, 128);
    const der = Buffer.from(v.slice(1), "hex");
    if (der.length < 2 || der[1]! >= 0x80 || der[1]! + 2 !== der.length) return null;
    return der.subarray(2).toString("utf8").slice(0, 128);
  };
  return { manufacturer: read(1), model: read(2), version: read(3) };
}
