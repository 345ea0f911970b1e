// Root and intermediate CA certificates. Issued a handful of times in a CA's life, so they are built
// with @peculiar/x509 rather than the fast issuance encoder; the TBSCertificate is signed through the
// Signer seam like every other certificate, so an HSM-held root works the same way.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto, type KeyObject } from "node:crypto";
import { SignetError } from "./errors.js";
import { keyAlgorithmOf, type KeyPair } from "./keys/generate.js";
import { SoftwareSigner, type KeyAlgorithm, type SignatureAlgorithm, type Signer } from "./signer.js";

export interface RootCertificateOptions {
  /** RFC 4514-style string, e.g. "CN=Signet Root CA,O=Signet". */
  readonly subject: string;
  readonly keys: KeyPair;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly lifetimeSeconds: number;
  /** basicConstraints pathLenConstraint; default 1 (one intermediate below the root). */
  readonly pathLength?: number;
  /** Clock for tests. */
  readonly now?: Date;
}

export interface IntermediateCertificateOptions {
  readonly subject: string;
  readonly publicKey: KeyObject;
  readonly issuerCertDer: Buffer;
  readonly issuerSigner: Signer;
  readonly lifetimeSeconds: number;
  /** Default 0: the intermediate issues end-entity certificates only. */
  readonly pathLength?: number;
  readonly now?: Date;
}

/** Clock skew allowance: a certificate used the second it is made must not be "not yet valid" on a
 * peer whose clock is a little behind. */
const BACKDATE_MS = 60_000;
const SERIAL_BYTES = 16;

// @peculiar/x509 turns a dotted-OID algorithm name into an AlgorithmIdentifier with the given
// parameters, and leaves the signature of an algorithm it does not know untouched, which is exactly
// what Signer.sign returns (a DER ECDSA-Sig-Value, not WebCrypto's r||s).
const SIGNATURE_ALGORITHM_IDS: Record<SignatureAlgorithm["name"], { name: string; parameters?: ArrayBuffer }> = {
  "ecdsa-with-SHA256": { name: "1.2.840.10045.4.3.2" },
  "ecdsa-with-SHA384": { name: "1.2.840.10045.4.3.3" },
  Ed25519: { name: "1.3.101.112" },
  // RFC 4055 §5: the parameters are an explicit NULL.
  sha256WithRSAEncryption: { name: "1.2.840.113549.1.1.11", parameters: new Uint8Array([0x05, 0x00]).buffer },
};

const KEY_USAGE =
  x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;

export async function createRootCertificate(opts: RootCertificateOptions): Promise<Buffer> {
  const actual = keyAlgorithmOf(opts.keys.publicKey);
  if (actual !== opts.keyAlgorithm) {
    throw new SignetError("config_invalid", `the root key is ${actual}, not ${opts.keyAlgorithm}`);
  }
  const name = parseName(opts.subject);
  const { notBefore, notAfter } = validity(opts.now, opts.lifetimeSeconds);
  return issueCaCertificate({
    subject: name,
    issuer: name,
    subjectPublicKey: opts.keys.publicKey,
    authorityKeyId: undefined,
    pathLength: pathLength(opts.pathLength, 1),
    notBefore,
    notAfter,
    signer: new SoftwareSigner(opts.keys.privateKey, opts.keys.publicKey, opts.keyAlgorithm),
  });
}

export async function createIntermediateCertificate(opts: IntermediateCertificateOptions): Promise<Buffer> {
  keyAlgorithmOf(opts.publicKey);
  const issuer = parseCertificate(opts.issuerCertDer, "issuer");
  if (!spkiOf(opts.issuerSigner.publicKey).equals(spkiOf(new NodeX509Certificate(opts.issuerCertDer).publicKey))) {
    throw new SignetError("config_invalid", "the issuer signer's key is not the issuer certificate's key");
  }
  const { notBefore, notAfter } = validity(opts.now, opts.lifetimeSeconds);
  if (notAfter > issuer.notAfter) {
    throw new SignetError(
      "bad_lifetime",
      `the intermediate would outlive its issuer, which expires ${issuer.notAfter.toISOString()}`,
    );
  }
  return issueCaCertificate({
    subject: parseName(opts.subject),
    // The issuer's own encoding of its name, so that name chaining compares equal byte for byte.
    issuer: issuer.subjectName,
    subjectPublicKey: opts.publicKey,
    authorityKeyId: await keyIdentifierOf(issuer),
    pathLength: pathLength(opts.pathLength, 0),
    notBefore,
    notAfter,
    signer: opts.issuerSigner,
  });
}

interface CaCertificateFields {
  readonly subject: x509.Name;
  readonly issuer: x509.Name;
  readonly subjectPublicKey: KeyObject;
  readonly authorityKeyId: string | undefined;
  readonly pathLength: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signer: Signer;
}

async function issueCaCertificate(f: CaCertificateFields): Promise<Buffer> {
  const spki = spkiOf(f.subjectPublicKey);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, f.pathLength, true),
    new x509.KeyUsagesExtension(KEY_USAGE, true),
    await x509.SubjectKeyIdentifierExtension.create(spki),
  ];
  if (f.authorityKeyId !== undefined) extensions.push(new x509.AuthorityKeyIdentifierExtension(f.authorityKeyId));
  const { crypto, signingKey } = signerAsCrypto(f.signer);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomBytes(SERIAL_BYTES).toString("hex"),
      subject: f.subject,
      issuer: f.issuer,
      notBefore: f.notBefore,
      notAfter: f.notAfter,
      publicKey: spki,
      signingKey,
      extensions,
    },
    crypto,
  );
  const der = Buffer.from(cert.rawData);
  if (!new NodeX509Certificate(der).verify(f.signer.publicKey)) {
    throw new SignetError("signing_failed", "the CA certificate's signature does not verify");
  }
  return der;
}

type GeneratorCrypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
type GeneratorSigningKey = Extract<
  Parameters<typeof x509.X509CertificateGenerator.create>[0],
  { signingKey: unknown }
>["signingKey"];

/** The generator signs through a WebCrypto-shaped provider, which is its documented extension
 * point: this one forwards the TBSCertificate to our Signer. The "key" is only a token carrying the
 * algorithm identifier; the generator reads nothing else from it. */
function signerAsCrypto(signer: Signer): { crypto: GeneratorCrypto; signingKey: GeneratorSigningKey } {
  const signingKey = {
    type: "private",
    extractable: false,
    usages: ["sign"],
    algorithm: SIGNATURE_ALGORITHM_IDS[signer.signatureAlgorithm.name],
  } as unknown as GeneratorSigningKey;
  const subtle = {
    async sign(_algorithm: unknown, key: unknown, data: ArrayBuffer | ArrayBufferView): Promise<ArrayBuffer> {
      if (key !== signingKey) throw new Error("unexpected signing key");
      const bytes = ArrayBuffer.isView(data)
        ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
        : Buffer.from(data);
      const signature = await signer.sign(bytes);
      return new Uint8Array(signature).buffer;
    },
  };
  const crypto = {
    subtle,
    getRandomValues: webcrypto.getRandomValues.bind(webcrypto),
  } as unknown as GeneratorCrypto;
  return { crypto, signingKey };
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: "spki", format: "der" });
}

function parseName(subject: string): x509.Name {
  let name: x509.Name;
  try {
    name = new x509.Name(subject);
  } catch (err) {
    throw new SignetError("config_invalid", `cannot parse the subject ${JSON.stringify(subject)}`, { cause: err });
  }
  if (name.toJSON().length === 0) throw new SignetError("config_invalid", "a CA subject must not be empty");
  return name;
}

function parseCertificate(der: Buffer, role: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(der);
  } catch (err) {
    throw new SignetError("bad_pem", `the ${role} certificate cannot be parsed`, { cause: err });
  }
}

/** The issuer's subjectKeyIdentifier if it has one (it may be another CA's choice of method),
 * else RFC 5280 §4.2.1.2 method 1 over its key. */
async function keyIdentifierOf(cert: x509.X509Certificate): Promise<string> {
  const ext = cert.extensions.find((e) => e.type === "2.5.29.14");
  if (ext) return new x509.SubjectKeyIdentifierExtension(ext.rawData).keyId;
  return (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId;
}

function validity(now: Date | undefined, lifetimeSeconds: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
    throw new SignetError("bad_lifetime", "a CA certificate lifetime must be a positive whole number of seconds");
  }
  // X.509 times have one-second resolution.
  const t = Math.floor((now ?? new Date()).getTime() / 1000) * 1000;
  return { notBefore: new Date(t - BACKDATE_MS), notAfter: new Date(t + lifetimeSeconds * 1000) };
}

function pathLength(value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isSafeInteger(n) || n < 0 || n > 16) {
    throw new SignetError("config_invalid", "a CA path length must be a whole number from 0 to 16");
  }
  return n;
}
