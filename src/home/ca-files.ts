// The CA's files under $SIGNET_HOME:
//
//   ca/                 0700  created whole by one directory rename, so a CA is there entirely or not at all
//     root.pem          0644  root certificate
//     intermediate.pem  0644  intermediate certificate
//     root.key          0600  signet-encrypted-key-v1 (absent when the root key is offline)
//     intermediate.key  0600  signet-encrypted-key-v1
//     ca.json           0644  metadata; its presence is what "a CA exists" means. It also records every
//                             export of the root key (rootKeyExports): the CLI that exports cannot
//                             open the database a running server holds, so the server audits them.
//   secrets/            0700
//     ca-passphrase     0600  only in the zero-config setup, where no passphrase was supplied
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate as NodeX509Certificate, createHash, randomBytes, type KeyObject } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { createIntermediateCertificate, createRootCertificate } from "../../ca/ca-certificates.js";
import { checkIssuedBy, checkKeyMatchesCertificate, type CaMaterial } from "../../ca/ca-material.js";
import { SignetError, isSignetError } from "../../ca/errors.js";
import { decryptPrivateKey, encryptPrivateKey, exportEncryptedPkcs8, importPrivateKey } from "../../ca/keys/encrypted-key.js";
import { generateKeyPair, isKeyAlgorithm, keyAlgorithmOf } from "../../ca/keys/generate.js";
import { CA_KEY_ALGORITHMS, SoftwareSigner, type KeyAlgorithm } from "../../ca/signer.js";
import { parseCertificate } from "../../ca/x509/index.js";

export interface CaFiles {
  readonly home: string;
  readonly dir: string;
  readonly rootCert: string;
  readonly intermediateCert: string;
  readonly rootKey: string;
  readonly intermediateKey: string;
  readonly metadata: string;
  readonly secretsDir: string;
  readonly passphraseFile: string;
}

export interface CaMetadata {
  readonly version: 1;
  readonly createdAt: string;
  /** "generated" by initCa, or "imported" from an existing PKI. */
  readonly source: "generated" | "imported";
  readonly rootKeyOffline: boolean;
  readonly root: CaCertificateSummary;
  readonly intermediate: CaCertificateSummary;
  /** Every time the root key was written out of Signet, oldest first: by initCa with offlineRoot and
   * by exportRootKey. Absent in files written before this was recorded, and when there was none. */
  readonly rootKeyExports?: readonly RootKeyExport[];
}

/** One export of the root key, as recorded in ca.json. */
export interface RootKeyExport {
  /** When the encrypted copy was written (ISO 8601). */
  readonly at: string;
  /** Whether the key left the home with it: true when ca/root.key was deleted (or, for initCa's
   * offline root, never written). */
  readonly removed: boolean;
  /** SHA-256 of the root key's SubjectPublicKeyInfo (DER), lower-case hex. */
  readonly fingerprint: string;
  /** The absolute path the encrypted copy was written to. */
  readonly outFile: string;
}

export interface CaCertificateSummary {
  readonly subject: string;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly serialNumber: string;
  readonly notAfter: string;
}

export type PassphraseSource = "env" | "file" | "generated";

export interface InitCaOptions {
  readonly passphrase: string;
  /** Default P-256. */
  readonly rootKeyAlgorithm?: KeyAlgorithm;
  /** The intermediate's key; default the root's. */
  readonly keyAlgorithm?: KeyAlgorithm;
  readonly rootSubject?: string;
  readonly intermediateSubject?: string;
  readonly rootLifetimeSeconds?: number;
  readonly intermediateLifetimeSeconds?: number;
  readonly rootPathLength?: number;
  readonly intermediatePathLength?: number;
  /** Write the root key here as encrypted PKCS#8 and never store it under the home directory. */
  readonly offlineRoot?: { readonly outFile: string; readonly passphrase: string };
}

export interface ImportCaOptions {
  readonly passphrase: string;
  readonly rootCertPem: string;
  readonly intermediateCertPem: string;
  readonly intermediateKeyPem: string;
  readonly intermediateKeyPassphrase?: string;
  /** Without it the root is offline. */
  readonly rootKeyPem?: string;
  readonly rootKeyPassphrase?: string;
}

export interface ExportRootKeyOptions {
  readonly outFile: string;
  readonly exportPassphrase: string;
  /** Delete ca/root.key once the export is written and read back. */
  readonly remove: boolean;
}

export const DEFAULT_ROOT_SUBJECT = "CN=Signet Root CA,O=Signet";
export const DEFAULT_INTERMEDIATE_SUBJECT = "CN=Signet Intermediate CA,O=Signet";
export const DEFAULT_ROOT_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;
export const DEFAULT_INTERMEDIATE_LIFETIME_SECONDS = 5 * 365 * 24 * 3600;
export const MIN_PASSPHRASE_LENGTH = 12;
/** Environment variable holding the passphrase for a root key leaving Signet. */
export const ROOT_EXPORT_PASSPHRASE_ENV = "SIGNET_ROOT_EXPORT_PASSPHRASE";

const ROOT_LABEL = "root";
const INTERMEDIATE_LABEL = "intermediate";
const METADATA_VERSION = 1;

export function caFiles(home: string): CaFiles {
  const abs = resolve(home);
  const dir = join(abs, "ca");
  const secretsDir = join(abs, "secrets");
  return {
    home: abs,
    dir,
    rootCert: join(dir, "root.pem"),
    intermediateCert: join(dir, "intermediate.pem"),
    rootKey: join(dir, "root.key"),
    intermediateKey: join(dir, "intermediate.key"),
    metadata: join(dir, "ca.json"),
    secretsDir,
    passphraseFile: join(secretsDir, "ca-passphrase"),
  };
}

export function caExists(home: string): boolean {
  return existsSync(caFiles(home).metadata);
}

// ---------------------------------------------------------------------------------------------
// Passphrase

/** Where the CA passphrase comes from: SIGNET_CA_PASSPHRASE or SIGNET_CA_PASSPHRASE_FILE if set,
 * else the passphrase generated at a zero-config first start. */
export function resolvePassphrase(home: string, env: NodeJS.ProcessEnv): { passphrase: string; source: PassphraseSource } {
  const direct = env.SIGNET_CA_PASSPHRASE;
  const file = env.SIGNET_CA_PASSPHRASE_FILE;
  if (direct && file) {
    throw new SignetError("config_invalid", "set SIGNET_CA_PASSPHRASE or SIGNET_CA_PASSPHRASE_FILE, not both");
  }
  if (direct) return { passphrase: checkPassphrase(direct, "SIGNET_CA_PASSPHRASE"), source: "env" };
  if (file) {
    if (!existsSync(file)) {
      throw new SignetError("config_invalid", `SIGNET_CA_PASSPHRASE_FILE names ${file}, which does not exist`);
    }
    return { passphrase: checkPassphrase(readPassphraseFile(file), `the passphrase in ${file}`), source: "file" };
  }
  const generated = caFiles(home).passphraseFile;
  if (existsSync(generated)) {
    return { passphrase: checkPassphrase(readPassphraseFile(generated), `the passphrase in ${generated}`), source: "generated" };
  }
  throw new SignetError(
    "passphrase_required",
    "the CA keys are encrypted: set SIGNET_CA_PASSPHRASE or SIGNET_CA_PASSPHRASE_FILE",
  );
}

/** Creates $home/secrets/ca-passphrase (0600) with a random passphrase, for a first start with no
 * passphrase configured. Never overwrites: that would orphan the keys encrypted under the old one. */
export function generatePassphraseFile(home: string): string {
  const files = caFiles(home);
  ensureHome(files.home);
  ensurePrivateDir(files.secretsDir);
  const passphrase = randomBytes(32).toString("base64url");
  writeFileExclusive(files.passphraseFile, `${passphrase}\n`, 0o600);
  return passphrase;
}

function readPassphraseFile(path: string): string {
  // Only the line ending an editor or `echo` adds is trimmed: other whitespace may be intended.
  return readFileSync(path, "utf8").replace(/\r?\n$/, "");
}

function checkPassphrase(passphrase: string, what: string): string {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw new SignetError("config_invalid", `${what} must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  return passphrase;
}

/** The passphrase for a root key leaving Signet: from the file a command's flag names, or from
 * SIGNET_ROOT_EXPORT_PASSPHRASE. There is no default: the CA passphrase would do nothing for an
 * offline root when it sits in $SIGNET_HOME/secrets next to the CA. */
export function resolveRootExportPassphrase(
  env: NodeJS.ProcessEnv,
  opts: {
    /** The file the command's flag names, if given. */
    readonly file?: string | undefined;
    /** The flag, for messages: "--passphrase-file". */
    readonly flag: string;
    /** The CA passphrase, which the export passphrase must differ from; omitted when it is a fresh
     * random one. */
    readonly caPassphrase?: string | undefined;
  },
): string {
  const direct = env[ROOT_EXPORT_PASSPHRASE_ENV];
  if (opts.file !== undefined && direct) {
    throw new SignetError("config_invalid", `pass ${opts.flag} or set ${ROOT_EXPORT_PASSPHRASE_ENV}, not both`);
  }
  let passphrase: string;
  if (opts.file !== undefined) {
    if (!existsSync(opts.file)) throw new SignetError("config_invalid", `${opts.flag} names ${opts.file}, which does not exist`);
    passphrase = checkPassphrase(readPassphraseFile(opts.file), `the passphrase in ${opts.file}`);
  } else if (direct) {
    passphrase = checkPassphrase(direct, ROOT_EXPORT_PASSPHRASE_ENV);
  } else {
    throw new SignetError(
      "passphrase_required",
      `the exported root key needs a passphrase of its own: pass ${opts.flag} FILE or set ${ROOT_EXPORT_PASSPHRASE_ENV}`,
    );
  }
  if (opts.caPassphrase !== undefined) checkExportPassphraseDiffers(passphrase, opts.caPassphrase);
  return passphrase;
}

function checkExportPassphraseDiffers(exportPassphrase: string, caPassphrase: string): void {
  if (exportPassphrase === caPassphrase) {
    throw new SignetError(
      "config_invalid",
      "the root key export passphrase must differ from the CA passphrase: whoever can start this CA could otherwise open the offline root",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Creating, importing and loading the CA

export async function initCa(home: string, opts: InitCaOptions): Promise<CaMaterial> {
  checkPassphrase(opts.passphrase, "the CA passphrase");
  const rootAlgorithm = keyAlgorithmOption(opts.rootKeyAlgorithm ?? "P-256", "rootKeyAlgorithm");
  const intermediateAlgorithm = keyAlgorithmOption(opts.keyAlgorithm ?? rootAlgorithm, "keyAlgorithm");
  const files = caFiles(home);
  refuseExistingCa(files);
  const offline = opts.offlineRoot && { outFile: resolve(opts.offlineRoot.outFile), passphrase: opts.offlineRoot.passphrase };
  if (offline) {
    checkPassphrase(offline.passphrase, "the offline root key passphrase");
    refuseExistingFile(offline.outFile);
  }

  const rootKeys = generateKeyPair(rootAlgorithm);
  const rootSigner = new SoftwareSigner(rootKeys.privateKey, rootKeys.publicKey, rootAlgorithm);
  const rootCertDer = await createRootCertificate({
    subject: opts.rootSubject ?? DEFAULT_ROOT_SUBJECT,
    keys: rootKeys,
    keyAlgorithm: rootAlgorithm,
    lifetimeSeconds: opts.rootLifetimeSeconds ?? DEFAULT_ROOT_LIFETIME_SECONDS,
    ...(opts.rootPathLength === undefined ? {} : { pathLength: opts.rootPathLength }),
  });
  const intermediateKeys = generateKeyPair(intermediateAlgorithm);
  const intermediateCertDer = await createIntermediateCertificate({
    subject: opts.intermediateSubject ?? DEFAULT_INTERMEDIATE_SUBJECT,
    publicKey: intermediateKeys.publicKey,
    issuerCertDer: rootCertDer,
    issuerSigner: rootSigner,
    lifetimeSeconds: opts.intermediateLifetimeSeconds ?? DEFAULT_INTERMEDIATE_LIFETIME_SECONDS,
    ...(opts.intermediatePathLength === undefined ? {} : { pathLength: opts.intermediatePathLength }),
  });

  const intermediateSigner = new SoftwareSigner(intermediateKeys.privateKey, intermediateKeys.publicKey, intermediateAlgorithm);
  const material: CaMaterial = {
    root: offline ? { certDer: rootCertDer } : { certDer: rootCertDer, signer: rootSigner },
    intermediate: { certDer: intermediateCertDer, signer: intermediateSigner },
  };
  let wroteOffline: string | undefined;
  try {
    if (offline) {
      writeFileExclusive(offline.outFile, exportEncryptedPkcs8(rootKeys.privateKey, offline.passphrase), 0o600);
      wroteOffline = offline.outFile;
    }
    commitCa(files, {
      rootCertDer,
      intermediateCertDer,
      rootKey: offline ? undefined : rootKeys.privateKey,
      intermediateKey: intermediateKeys.privateKey,
      passphrase: opts.passphrase,
      source: "generated",
      ...(offline ? { rootKeyExports: [rootKeyExport(rootCertDer, offline.outFile, true)] } : {}),
    });
  } catch (err) {
    // The root key written for a CA that was never committed must not linger.
    if (wroteOffline !== undefined) rmSync(wroteOffline, { force: true });
    throw err;
  }
  return material;
}

/** Adopts an existing PKI's root and intermediate. Everything is checked before anything is written. */
export async function importCa(home: string, opts: ImportCaOptions): Promise<CaMaterial> {
  checkPassphrase(opts.passphrase, "the CA passphrase");
  const files = caFiles(home);
  refuseExistingCa(files);

  const rootCertDer = certificateFromPem(opts.rootCertPem, "root");
  const intermediateCertDer = certificateFromPem(opts.intermediateCertPem, "intermediate");
  if (rootCertDer.equals(intermediateCertDer)) {
    throw new SignetError("bad_pem", "the intermediate certificate is the root certificate");
  }
  const rootAlgorithm = certificateKeyAlgorithm(rootCertDer, "root");
  const intermediateAlgorithm = certificateKeyAlgorithm(intermediateCertDer, "intermediate");
  checkHasSubjectKeyId(rootCertDer, "root");
  checkHasSubjectKeyId(intermediateCertDer, "intermediate");
  checkIssuedBy(rootCertDer, rootCertDer);
  checkIssuedBy(intermediateCertDer, rootCertDer);
  checkCurrent(rootCertDer, "root");
  checkCurrent(intermediateCertDer, "intermediate");

  const intermediateKey = importPrivateKey(opts.intermediateKeyPem, opts.intermediateKeyPassphrase);
  checkKeyMatchesCertificate(intermediateCertDer, intermediateKey);
  let rootKey: KeyObject | undefined;
  if (opts.rootKeyPem !== undefined) {
    rootKey = importPrivateKey(opts.rootKeyPem, opts.rootKeyPassphrase);
    checkKeyMatchesCertificate(rootCertDer, rootKey);
  }

  commitCa(files, {
    rootCertDer,
    intermediateCertDer,
    rootKey,
    intermediateKey,
    passphrase: opts.passphrase,
    source: "imported",
  });
  return {
    root: rootKey
      ? { certDer: rootCertDer, signer: new SoftwareSigner(rootKey, certificatePublicKey(rootCertDer), rootAlgorithm) }
      : { certDer: rootCertDer },
    intermediate: {
      certDer: intermediateCertDer,
      signer: new SoftwareSigner(intermediateKey, certificatePublicKey(intermediateCertDer), intermediateAlgorithm),
    },
  };
}

/** Reads the CA and decrypts its keys, once, into SoftwareSigners. */
export async function loadCa(home: string, passphrase: string): Promise<CaMaterial> {
  const files = caFiles(home);
  const metadata = readCaMetadata(home);
  const rootCertDer = readCertificate(files.rootCert, "root");
  const intermediateCertDer = readCertificate(files.intermediateCert, "intermediate");
  const intermediate = loadSigner(files.intermediateKey, INTERMEDIATE_LABEL, intermediateCertDer, passphrase);
  if (metadata.rootKeyOffline) return { root: { certDer: rootCertDer }, intermediate: { certDer: intermediateCertDer, signer: intermediate } };
  if (!existsSync(files.rootKey)) {
    throw new SignetError(
      "config_invalid",
      `${files.metadata} says the root key is online but ${files.rootKey} is missing; restore it, or set "rootKeyOffline": true there`,
    );
  }
  const root = loadSigner(files.rootKey, ROOT_LABEL, rootCertDer, passphrase);
  return { root: { certDer: rootCertDer, signer: root }, intermediate: { certDer: intermediateCertDer, signer: intermediate } };
}

export function readCaMetadata(home: string): CaMetadata {
  const files = caFiles(home);
  let text: string;
  try {
    text = readFileSync(files.metadata, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new SignetError("ca_not_initialized", `no CA in ${files.dir}`);
    }
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SignetError("config_invalid", `${files.metadata} is not valid JSON`);
  }
  const m = parsed as Partial<CaMetadata> | null;
  if (
    typeof m !== "object" ||
    m === null ||
    m.version !== METADATA_VERSION ||
    typeof m.rootKeyOffline !== "boolean" ||
    !isKeyAlgorithm(m.root?.keyAlgorithm) ||
    !isKeyAlgorithm(m.intermediate?.keyAlgorithm) ||
    !(m.rootKeyExports === undefined || (Array.isArray(m.rootKeyExports) && m.rootKeyExports.every(isRootKeyExport)))
  ) {
    throw new SignetError("config_invalid", `${files.metadata} is not a version ${METADATA_VERSION} Signet CA metadata file`);
  }
  return m as CaMetadata;
}

function isRootKeyExport(e: unknown): e is RootKeyExport {
  if (typeof e !== "object" || e === null) return false;
  const { at, removed, fingerprint, outFile } = e as Record<string, unknown>;
  return (
    typeof at === "string" &&
    !Number.isNaN(Date.parse(at)) &&
    typeof removed === "boolean" &&
    typeof fingerprint === "string" &&
    /^[0-9a-f]{64}$/.test(fingerprint) &&
    typeof outFile === "string"
  );
}

/** Moves the root key off the machine: writes it as encrypted PKCS#8 to `outFile` and, with
 * `remove`, deletes ca/root.key so that the running CA can no longer sign as the root. */
export async function exportRootKey(
  home: string,
  passphrase: string,
  opts: ExportRootKeyOptions,
): Promise<{ outFile: string; removed: boolean }> {
  const files = caFiles(home);
  const metadata = readCaMetadata(home);
  if (metadata.rootKeyOffline || !existsSync(files.rootKey)) {
    throw new SignetError("root_key_offline", "the root key is not stored under this home directory");
  }
  checkPassphrase(opts.exportPassphrase, "the export passphrase");
  checkExportPassphraseDiffers(opts.exportPassphrase, passphrase);
  const outFile = resolve(opts.outFile);
  refuseExistingFile(outFile);
  const rootCertDer = readCertificate(files.rootCert, "root");
  const rootKey = decryptPrivateKey(readFileSync(files.rootKey, "utf8"), passphrase, ROOT_LABEL);
  checkKeyMatchesCertificate(rootCertDer, rootKey);

  writeFileExclusive(outFile, exportEncryptedPkcs8(rootKey, opts.exportPassphrase), 0o600);
  // Before the only other copy goes, prove the export opens with the passphrase given.
  const readBack = importPrivateKey(readFileSync(outFile, "utf8"), opts.exportPassphrase);
  checkKeyMatchesCertificate(rootCertDer, readBack);

  // ca.json first, with the export recorded for the server to audit: a crash in between leaves a
  // key file that is ignored, never a CA that expects a key it no longer has.
  const rootKeyExports = [...(metadata.rootKeyExports ?? []), rootKeyExport(rootCertDer, outFile, opts.remove)];
  writeFileAtomic(
    files.metadata,
    metadataJson({ ...metadata, ...(opts.remove ? { rootKeyOffline: true } : {}), rootKeyExports }),
    0o644,
  );
  if (!opts.remove) return { outFile, removed: false };
  wipeAndUnlink(files.rootKey);
  return { outFile, removed: true };
}

function rootKeyExport(rootCertDer: Buffer, outFile: string, removed: boolean): RootKeyExport {
  const spki = certificatePublicKey(rootCertDer).export({ type: "spki", format: "der" });
  return { at: new Date().toISOString(), removed, fingerprint: createHash("sha256").update(spki).digest("hex"), outFile };
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface CaContents {
  readonly rootCertDer: Buffer;
  readonly intermediateCertDer: Buffer;
  readonly rootKey: KeyObject | undefined;
  readonly intermediateKey: KeyObject;
  readonly passphrase: string;
  readonly source: CaMetadata["source"];
  readonly rootKeyExports?: readonly RootKeyExport[];
}

/** Writes the whole CA into a staging directory and renames it to ca/: rename(2) refuses a
 * non-empty target, so two concurrent inits cannot both win and a crash leaves no half-made CA. */
function commitCa(files: CaFiles, c: CaContents): void {
  const metadata: CaMetadata = {
    version: METADATA_VERSION,
    createdAt: new Date().toISOString(),
    source: c.source,
    rootKeyOffline: c.rootKey === undefined,
    root: summarize(c.rootCertDer),
    intermediate: summarize(c.intermediateCertDer),
    ...(c.rootKeyExports ? { rootKeyExports: c.rootKeyExports } : {}),
  };
  ensureHome(files.home);
  const stage = mkdtempSync(join(files.home, ".ca-staging-"));
  try {
    chmodSync(stage, 0o700);
    const at = (path: string) => join(stage, basename(path));
    writeFileAtomic(at(files.rootCert), certificatePem(c.rootCertDer), 0o644);
    writeFileAtomic(at(files.intermediateCert), certificatePem(c.intermediateCertDer), 0o644);
    if (c.rootKey) writeFileAtomic(at(files.rootKey), encryptPrivateKey(c.rootKey, c.passphrase, ROOT_LABEL), 0o600);
    writeFileAtomic(at(files.intermediateKey), encryptPrivateKey(c.intermediateKey, c.passphrase, INTERMEDIATE_LABEL), 0o600);
    writeFileAtomic(at(files.metadata), metadataJson(metadata), 0o644);
    try {
      renameSync(stage, files.dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTEMPTY" || code === "EEXIST") {
        throw new SignetError("ca_already_initialized", `${files.dir} already exists and is not empty`);
      }
      throw err;
    }
    fsyncDirectory(files.home);
  } catch (err) {
    rmSync(stage, { recursive: true, force: true });
    throw err;
  }
}

function summarize(der: Buffer): CaCertificateSummary {
  const cert = new x509.X509Certificate(der);
  return {
    subject: cert.subject,
    keyAlgorithm: certificateKeyAlgorithm(der, "CA"),
    serialNumber: cert.serialNumber.toLowerCase(),
    notAfter: cert.notAfter.toISOString(),
  };
}

function metadataJson(m: CaMetadata): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

function loadSigner(path: string, label: string, certDer: Buffer, passphrase: string): SoftwareSigner {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SignetError("config_invalid", `cannot read the ${label} key file ${path}`, { cause: err });
  }
  const key = decryptPrivateKey(text, passphrase, label);
  checkKeyMatchesCertificate(certDer, key);
  return new SoftwareSigner(key, certificatePublicKey(certDer), keyAlgorithmOf(key));
}

function refuseExistingCa(files: CaFiles): void {
  if (existsSync(files.metadata)) throw new SignetError("ca_already_initialized", `a CA already exists in ${files.dir}`);
}

function refuseExistingFile(path: string): void {
  if (existsSync(path)) throw new SignetError("conflict", `${path} already exists; it is never overwritten`);
}

function keyAlgorithmOption(value: unknown, name: string): KeyAlgorithm {
  if (!isKeyAlgorithm(value)) {
    throw new SignetError("config_invalid", `${name} must be one of ${CA_KEY_ALGORITHMS.join(", ")}`);
  }
  return value;
}

function certificateFromPem(pem: string, role: string): Buffer {
  const count = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
  if (count !== 1) {
    throw new SignetError("bad_pem", `the ${role} certificate PEM must hold exactly one certificate (found ${count})`);
  }
  try {
    return Buffer.from(new NodeX509Certificate(pem).raw);
  } catch (err) {
    throw new SignetError("bad_pem", `the ${role} certificate cannot be parsed`, { cause: err });
  }
}

function readCertificate(path: string, role: string): Buffer {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err) {
    throw new SignetError("config_invalid", `cannot read the ${role} certificate ${path}`, { cause: err });
  }
  return certificateFromPem(pem, role);
}

function certificatePem(der: Buffer): string {
  return new NodeX509Certificate(der).toString();
}

function certificatePublicKey(der: Buffer): KeyObject {
  return new NodeX509Certificate(der).publicKey;
}

function certificateKeyAlgorithm(der: Buffer, role: string): KeyAlgorithm {
  try {
    return keyAlgorithmOf(certificatePublicKey(der));
  } catch (err) {
    if (isSignetError(err, "forbidden_key")) throw new SignetError("forbidden_key", `the ${role} certificate's key: ${err.message}`);
    throw err;
  }
}

/** Signet names each CA by its subject key identifier (and writes it into what the CA issues as the
 * authority key identifier), so a CA certificate without one cannot be served. */
function checkHasSubjectKeyId(der: Buffer, role: string): void {
  const keyId = parseCertificate(der).subjectKeyId;
  if (keyId === undefined || keyId.length === 0) {
    throw new SignetError(
      "bad_pem",
      `the ${role} certificate has no subject key identifier extension, which Signet needs to name the CA and to write the authority key identifier of what it issues; reissue it with one (openssl: subjectKeyIdentifier=hash)`,
    );
  }
}

function checkCurrent(der: Buffer, role: string): void {
  const cert = new x509.X509Certificate(der);
  if (cert.notAfter.getTime() <= Date.now()) {
    throw new SignetError("bad_pem", `the ${role} certificate expired on ${cert.notAfter.toISOString()}`);
  }
}

function ensureHome(home: string): void {
  // The home may hold other things (the database): create it private, but leave an existing one alone.
  mkdirSync(home, { recursive: true, mode: 0o700 });
}

function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
}

/** Writes a file durably under a unique temporary name; the caller then moves it into place. */
function writeTemp(path: string, data: string | Buffer, mode: number): string {
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, "wx", mode);
  try {
    // The umask must not loosen or tighten what the layout promises.
    fchmodSync(fd, mode);
    writeAll(fd, data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  return tmp;
}

function writeFileAtomic(path: string, data: string | Buffer, mode: number): void {
  const tmp = writeTemp(path, data, mode);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirectory(dirname(path));
}

/** Like writeFileAtomic, but fails with `conflict` rather than replace an existing file: link(2)
 * does not overwrite. */
function writeFileExclusive(path: string, data: string | Buffer, mode: number): void {
  const tmp = writeTemp(path, data, mode);
  try {
    linkSync(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new SignetError("conflict", `${path} already exists; it is never overwritten`);
    // Some filesystems for removable media (FAT) have no hard links: an exclusive create is the
    // next best thing.
    if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP") {
      writeExclusiveDirect(path, data, mode);
      return;
    }
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDirectory(dirname(path));
}

function writeExclusiveDirect(path: string, data: string | Buffer, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new SignetError("conflict", `${path} already exists; it is never overwritten`);
    }
    throw err;
  }
  try {
    writeAll(fd, data);
    fsyncSync(fd);
    closeSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw err;
  }
}

function writeAll(fd: number, data: string | Buffer): void {
  const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Not every platform can fsync a directory; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Overwrites the encrypted key before unlinking it. On journaling or copy-on-write filesystems the
 * old blocks may survive anyway; the file was encrypted, this only shortens its life on disk. */
function wipeAndUnlink(path: string): void {
  const fd = openSync(path, "r+");
  try {
    const size = fstatSync(fd).size;
    writeSync(fd, Buffer.alloc(size), 0, size, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  unlinkSync(path);
  fsyncDirectory(dirname(path));
}
