// The CA's certificates and signers once loaded, and the consistency checks applied to material
// brought in from outside (imports) before Signet trusts it.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate as NodeX509Certificate, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import { SignetError } from "./errors.js";
import { keyAlgorithmOf } from "./keys/generate.js";
import { signatureAlgorithmFor, type SoftwareSigner } from "./signer.js";

export interface CaMaterial {
  readonly root: {
    readonly certDer: Buffer;
    /** Absent when the root key is kept offline. */
    readonly signer?: SoftwareSigner;
  };
  readonly intermediate: {
    readonly certDer: Buffer;
    readonly signer: SoftwareSigner;
  };
}

function nodeCertificate(der: Buffer, role: string): NodeX509Certificate {
  try {
    return new NodeX509Certificate(der);
  } catch (err) {
    throw new SignetError("bad_pem", `the ${role} certificate cannot be parsed`, { cause: err });
  }
}

/** Proves possession rather than comparing public numbers: a key that cannot produce a signature the
 * certificate's key accepts is useless as a CA key, whatever its encoding says. */
export function checkKeyMatchesCertificate(certDer: Buffer, privateKey: KeyObject): void {
  const cert = nodeCertificate(certDer, "CA");
  const publicKey = cert.publicKey;
  const alg = keyAlgorithmOf(privateKey);
  if (keyAlgorithmOf(publicKey) !== alg) {
    throw new SignetError("bad_pem", "the key does not match the certificate");
  }
  const challenge = randomBytes(32);
  const { hash } = signatureAlgorithmFor(alg);
  let ok = false;
  try {
    ok = verify(hash, challenge, publicKey, sign(hash, challenge, privateKey));
  } catch {
    ok = false;
  }
  if (!ok) throw new SignetError("bad_pem", "the key does not match the certificate");
}

/** Checks that `childDer` is a CA certificate (basicConstraints CA, keyCertSign) whose signature
 * verifies under `parentDer`'s key and whose issuer is `parentDer`'s subject, and that the parent
 * is a CA allowed to have it below. Pass the same certificate twice for a self-signed root. */
export function checkIssuedBy(childDer: Buffer, parentDer: Buffer): void {
  const child = nodeCertificate(childDer, "CA");
  const parent = nodeCertificate(parentDer, "issuer");
  const selfSigned = childDer.equals(parentDer);
  const what = selfSigned ? "the root certificate" : "the certificate";
  checkIsCa(childDer, what);
  if (!selfSigned) checkIsCa(parentDer, "the issuer certificate");

  // checkIssued compares names and key identifiers (OpenSSL's X509_check_issued).
  if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
    throw new SignetError(
      "bad_pem",
      selfSigned ? "the root certificate is not self-signed" : "the certificate is not issued by the given issuer",
    );
  }
  if (!selfSigned) {
    const parentPathLength = basicConstraints(parentDer)?.pathLength;
    if (parentPathLength === 0) {
      throw new SignetError("bad_pem", "the issuer's path length constraint (0) allows no CA certificate below it");
    }
  }
}

function checkIsCa(der: Buffer, what: string): void {
  const bc = basicConstraints(der);
  if (!bc?.ca) throw new SignetError("bad_pem", `${what} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  const ku = extension(der, "2.5.29.15");
  // RFC 5280 §4.2.1.3: without keyCertSign a CA certificate cannot be used to verify certificates.
  if (ku && (new x509.KeyUsagesExtension(ku.rawData).usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new SignetError("bad_pem", `${what} does not allow certificate signing (keyUsage keyCertSign)`);
  }
}

function basicConstraints(der: Buffer): x509.BasicConstraintsExtension | undefined {
  const ext = extension(der, "2.5.29.19");
  return ext ? new x509.BasicConstraintsExtension(ext.rawData) : undefined;
}

// Looked up by OID: getExtension(Class) is unreliable in @peculiar/x509 2.x.
function extension(der: Buffer, oid: string): x509.Extension | undefined {
  return new x509.X509Certificate(der).extensions.find((e) => e.type === oid);
}
