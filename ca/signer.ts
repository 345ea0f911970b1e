// The seam between the authority and its keys. The pipeline only ever calls `Signer.sign`, so a
// PKCS#11 HSM (SoftHSM2 in tests) or a cloud KMS can be added as another Signer without touching it.
import { hkdfSync, sign as nodeSign, type KeyObject } from "node:crypto";

/** Key algorithms Signet can hold as CA keys (and generate). */
export const CA_KEY_ALGORITHMS = ["P-256", "P-384", "Ed25519", "RSA-2048", "RSA-3072", "RSA-4096"] as const;
export type KeyAlgorithm = (typeof CA_KEY_ALGORITHMS)[number];

export interface SignatureAlgorithm {
  readonly name: "ecdsa-with-SHA256" | "ecdsa-with-SHA384" | "Ed25519" | "sha256WithRSAEncryption";
  /** Digest passed to crypto.sign (null for Ed25519, which hashes internally). */
  readonly hash: "sha256" | "sha384" | null;
  /** The DER AlgorithmIdentifier written into TBSCertificate.signature and Certificate.signatureAlgorithm. */
  readonly algorithmIdentifier: Buffer;
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

export const SIGNATURE_ALGORITHMS = {
  "ecdsa-with-SHA256": { name: "ecdsa-with-SHA256", hash: "sha256", algorithmIdentifier: hex("300a 0608 2a8648ce3d040302") },
  "ecdsa-with-SHA384": { name: "ecdsa-with-SHA384", hash: "sha384", algorithmIdentifier: hex("300a 0608 2a8648ce3d040303") },
  Ed25519: { name: "Ed25519", hash: null, algorithmIdentifier: hex("3005 0603 2b6570") },
  // RFC 4055: the parameters of sha256WithRSAEncryption are an explicit NULL.
  sha256WithRSAEncryption: { name: "sha256WithRSAEncryption", hash: "sha256", algorithmIdentifier: hex("300d 0609 2a864886f70d01010b 0500") },
} as const satisfies Record<string, SignatureAlgorithm>;

export function signatureAlgorithmFor(alg: KeyAlgorithm): SignatureAlgorithm {
  switch (alg) {
    case "P-256":
      return SIGNATURE_ALGORITHMS["ecdsa-with-SHA256"];
    case "P-384":
      return SIGNATURE_ALGORITHMS["ecdsa-with-SHA384"];
    case "Ed25519":
      return SIGNATURE_ALGORITHMS.Ed25519;
    default:
      return SIGNATURE_ALGORITHMS.sha256WithRSAEncryption;
  }
}

export interface Signer {
  /** The CA key's algorithm. */
  readonly keyAlgorithm: KeyAlgorithm;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly publicKey: KeyObject;
  /** Signs `data` (a DER TBSCertificate, TBSCertList, ResponseData...) and returns the signature
   * exactly as X.509 carries it: DER ECDSA-Sig-Value, raw Ed25519, PKCS#1 v1.5 for RSA. */
  sign(data: Buffer): Promise<Buffer>;
}

/** A signer over a private key held in memory, parsed once into a KeyObject. */
export class SoftwareSigner implements Signer {
  readonly keyAlgorithm: KeyAlgorithm;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly publicKey: KeyObject;
  readonly #key: KeyObject;

  constructor(privateKey: KeyObject, publicKey: KeyObject, keyAlgorithm: KeyAlgorithm) {
    if (privateKey.type !== "private") throw new TypeError("SoftwareSigner needs a private KeyObject");
    this.#key = privateKey;
    this.publicKey = publicKey;
    this.keyAlgorithm = keyAlgorithm;
    this.signatureAlgorithm = signatureAlgorithmFor(keyAlgorithm);
  }

  sign(data: Buffer): Promise<Buffer> {
    return Promise.resolve(this.signSync(data));
  }

  /** A 32-byte secret derived (HKDF-SHA256) from the private key: every replica holding this CA key
   * derives the same one, and nobody without it can. Used for keys that must be shared by replicas but
   * need not outlive the CA key (ACME nonce MACs, the EAB key wrapping). `info` separates uses. */
  deriveSecret(info: string): Buffer {
    const ikm = this.#key.export({ format: "der", type: "pkcs8" });
    return Buffer.from(hkdfSync("sha256", ikm, "signet", info, 32));
  }

  /** Synchronous form, for callers that sign in a tight loop on the hot path. */
  signSync(data: Buffer): Buffer {
    return nodeSign(this.signatureAlgorithm.hash, data, this.#key);
  }
}
