// CA private keys at rest. Signet's own files are a small JSON document (scrypt + AES-256-GCM over
// the PKCS#8 DER) rather than encrypted PKCS#8: OpenSSL's PBES2 default is 2048 PBKDF2 iterations,
// which a GPU guesses through quickly, and GCM lets us bind the key's role ("root", "intermediate")
// as additional data so that one key file cannot be swapped for another. Encrypted PKCS#8 is still
// offered for keys that leave Signet (offline roots), because every tool reads it; Signet writes it
// itself, with a PBKDF2 iteration count that is not OpenSSL's.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  pbkdf2Sync,
  randomBytes,
  scryptSync,
  type KeyObject,
} from "node:crypto";
import { SignetError, isSignetError } from "../errors.js";
import { PBES2_OIDS, der, toPem } from "../x509/index.js";
import { keyAlgorithmOf } from "./generate.js";

export const ENCRYPTED_KEY_FORMAT = "signet-encrypted-key-v1";

interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Costs ~150 ms and 32 MiB per derivation: paid once per key at start-up. */
const SCRYPT_PARAMS: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
/** The parameters come from the file, so a doctored file must not make us allocate gigabytes. */
const SCRYPT_MAX_MEMORY = 256 * 1024 * 1024;
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const LABEL = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export interface EncryptedKeyDocument {
  readonly format: typeof ENCRYPTED_KEY_FORMAT;
  /** The key's role. Informational here: the label that counts is the one the reader expects,
   * which is authenticated as GCM additional data. */
  readonly label: string;
  readonly kdf: { readonly name: "scrypt"; readonly N: number; readonly r: number; readonly p: number; readonly salt: string };
  readonly cipher: { readonly name: "aes-256-gcm"; readonly iv: string; readonly tag: string };
  readonly ciphertext: string;
}

function additionalData(label: string): Buffer {
  return Buffer.from(`${ENCRYPTED_KEY_FORMAT}\0${label}`, "utf8");
}

function checkLabel(label: string): void {
  if (!LABEL.test(label)) throw new TypeError("key labels are short lower-case identifiers");
}

function deriveKey(passphrase: string, salt: Buffer, params: ScryptParams): Buffer {
  // OpenSSL counts the whole working set (V and B) against maxmem; node's 32 MiB default is just
  // short of N=2^15, r=8.
  const maxmem = 128 * params.r * (params.N + 2 + params.p) + 1024 * 1024;
  return scryptSync(passphrase.normalize("NFC"), salt, KEY_BYTES, { ...params, maxmem });
}

/** Encrypts a private key into a signet-encrypted-key-v1 JSON document (newline-terminated). */
export function encryptPrivateKey(key: KeyObject, passphrase: string, label: string): string {
  if (key.type !== "private") throw new TypeError("encryptPrivateKey needs a private KeyObject");
  if (passphrase.length === 0) throw new SignetError("passphrase_required");
  checkLabel(label);
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const aesKey = deriveKey(passphrase, salt, SCRYPT_PARAMS);
  const plaintext = key.export({ format: "der", type: "pkcs8" });
  try {
    const cipher = createCipheriv("aes-256-gcm", aesKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(label));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const doc: EncryptedKeyDocument = {
      format: ENCRYPTED_KEY_FORMAT,
      label,
      kdf: { name: "scrypt", ...SCRYPT_PARAMS, salt: salt.toString("base64") },
      cipher: { name: "aes-256-gcm", iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64") },
      ciphertext: ciphertext.toString("base64"),
    };
    return `${JSON.stringify(doc, null, 2)}\n`;
  } finally {
    plaintext.fill(0);
    aesKey.fill(0);
  }
}

function malformed(label: string, why: string): SignetError {
  return new SignetError("bad_pem", `the ${label} key file is not a valid ${ENCRYPTED_KEY_FORMAT} document: ${why}`);
}

function base64Field(value: unknown, label: string, field: string, length?: number): Buffer {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw malformed(label, `${field} is not base64`);
  const bytes = Buffer.from(value, "base64");
  if (length !== undefined && bytes.length !== length) throw malformed(label, `${field} must be ${length} bytes`);
  return bytes;
}

function scryptParamsFrom(kdf: Record<string, unknown>, label: string): ScryptParams {
  const { N, r, p } = kdf;
  const ok =
    Number.isSafeInteger(N) &&
    Number.isSafeInteger(r) &&
    Number.isSafeInteger(p) &&
    (N as number) >= 2 ** 14 &&
    ((N as number) & ((N as number) - 1)) === 0 &&
    (r as number) >= 1 &&
    (p as number) >= 1 &&
    (p as number) <= 16 &&
    128 * (N as number) * (r as number) <= SCRYPT_MAX_MEMORY;
  if (!ok) throw malformed(label, "unsupported scrypt parameters");
  return { N: N as number, r: r as number, p: p as number };
}

/** Decrypts a document written by encryptPrivateKey for the same label. A wrong passphrase, a
 * tampered file, or a file written for another label are all bad_passphrase: GCM cannot tell them
 * apart, and the message must not help an attacker to tell either. */
export function decryptPrivateKey(text: string, passphrase: string, label: string): KeyObject {
  checkLabel(label);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw malformed(label, "not JSON");
  }
  if (typeof doc !== "object" || doc === null) throw malformed(label, "not a JSON object");
  const { format, kdf, cipher, ciphertext } = doc as Record<string, unknown>;
  if (format !== ENCRYPTED_KEY_FORMAT) throw malformed(label, `format is not ${ENCRYPTED_KEY_FORMAT}`);
  if (typeof kdf !== "object" || kdf === null || (kdf as Record<string, unknown>).name !== "scrypt") {
    throw malformed(label, "kdf must be scrypt");
  }
  if (typeof cipher !== "object" || cipher === null || (cipher as Record<string, unknown>).name !== "aes-256-gcm") {
    throw malformed(label, "cipher must be aes-256-gcm");
  }
  const params = scryptParamsFrom(kdf as Record<string, unknown>, label);
  const salt = base64Field((kdf as Record<string, unknown>).salt, label, "kdf.salt");
  if (salt.length < SALT_BYTES) throw malformed(label, "the salt is too short");
  const iv = base64Field((cipher as Record<string, unknown>).iv, label, "cipher.iv", IV_BYTES);
  const tag = base64Field((cipher as Record<string, unknown>).tag, label, "cipher.tag", TAG_BYTES);
  const data = base64Field(ciphertext, label, "ciphertext");

  const aesKey = deriveKey(passphrase, salt, params);
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv("aes-256-gcm", aesKey, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(label));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(data), decipher.final()]);
  } catch {
    const written = (doc as Record<string, unknown>).label;
    const hint =
      typeof written === "string" && written !== label && LABEL.test(written)
        ? ` (the file says it holds the ${written} key, not the ${label} key)`
        : "";
    throw new SignetError(
      "bad_passphrase",
      `cannot decrypt the ${label} key: the passphrase is wrong or the file was modified${hint}`,
    );
  } finally {
    aesKey.fill(0);
  }
  try {
    const key = createPrivateKey({ key: plaintext, format: "der", type: "pkcs8" });
    keyAlgorithmOf(key);
    return key;
  } catch (err) {
    if (isSignetError(err)) throw err;
    throw new SignetError("bad_pem", `the ${label} key decrypted but is not a PKCS#8 private key`);
  } finally {
    plaintext.fill(0);
  }
}

/** PBKDF2-HMAC-SHA256 iterations for exported keys: OWASP's 2023 figure. OpenSSL and node write
 * 2048, which a GPU guesses through quickly. */
export const EXPORT_PBKDF2_ITERATIONS = 600_000;
const EXPORT_SALT_BYTES = 16;
const AES_CBC_IV_BYTES = 16;

/** Encrypted PKCS#8 PEM (RFC 5958 EncryptedPrivateKeyInfo; PBES2 with PBKDF2-HMAC-SHA256 at
 * EXPORT_PBKDF2_ITERATIONS and a 16-byte salt, AES-256-CBC) for keys kept outside Signet:
 * `openssl pkey -in FILE` reads it. Written here rather than by KeyObject.export, which cannot be
 * told an iteration count. */
export function exportEncryptedPkcs8(key: KeyObject, passphrase: string): string {
  if (key.type !== "private") throw new TypeError("exportEncryptedPkcs8 needs a private KeyObject");
  if (passphrase.length === 0) throw new SignetError("passphrase_required", "an export passphrase is required");
  const salt = randomBytes(EXPORT_SALT_BYTES);
  const iv = randomBytes(AES_CBC_IV_BYTES);
  // OpenSSL hands the passphrase's bytes to PBKDF2 as they are: UTF-8, not normalised, so that what
  // is typed at `-passin` opens it.
  const aesKey = pbkdf2Sync(Buffer.from(passphrase, "utf8"), salt, EXPORT_PBKDF2_ITERATIONS, KEY_BYTES, "sha256");
  const plaintext = key.export({ format: "der", type: "pkcs8" });
  try {
    const cipher = createCipheriv("aes-256-cbc", aesKey, iv);
    const encryptedData = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const info = der.seq(
      der.seq(
        der.oid(PBES2_OIDS.pbes2),
        der.seq(
          der.seq(
            der.oid(PBES2_OIDS.pbkdf2),
            der.seq(
              der.octetString(salt),
              der.integer(EXPORT_PBKDF2_ITERATIONS),
              der.seq(der.oid(PBES2_OIDS.hmacWithSHA256), der.nullValue()),
            ),
          ),
          der.seq(der.oid(PBES2_OIDS.aes256Cbc), der.octetString(iv)),
        ),
      ),
      der.octetString(encryptedData),
    );
    return toPem("ENCRYPTED PRIVATE KEY", info);
  } finally {
    plaintext.fill(0);
    aesKey.fill(0);
  }
}

const PRIVATE_KEY_PEM = /-----BEGIN ((?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----[\s\S]*?-----END \1-----/;

function importFailure(err: unknown, encrypted: boolean): SignetError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ERR_MISSING_PASSPHRASE") {
    return new SignetError("passphrase_required", "the private key is encrypted: its passphrase is needed");
  }
  // CBC padding catches most wrong passphrases as "bad decrypt"; about one in 300 unpads cleanly and
  // then fails to decode as a key instead, which is the same mistake.
  if (encrypted) {
    return new SignetError("bad_passphrase", "cannot decrypt the private key: the passphrase is wrong or the file is damaged");
  }
  return new SignetError("bad_pem", "the private key is not PKCS#8, SEC1 (EC) or PKCS#1 (RSA), in PEM or DER");
}

/** Reads a private key from PEM (first private-key block; PKCS#8, encrypted PKCS#8, SEC1 EC,
 * PKCS#1 RSA, including OpenSSL's legacy encrypted PEM) or DER (PKCS#8, encrypted PKCS#8, SEC1,
 * PKCS#1), and checks it against the CA key allow-list. */
export function importPrivateKey(pemOrDer: string | Uint8Array, passphrase?: string): KeyObject {
  const key = parsePrivateKey(pemOrDer, passphrase);
  keyAlgorithmOf(key);
  return key;
}

function parsePrivateKey(pemOrDer: string | Uint8Array, passphrase: string | undefined): KeyObject {
  const text = typeof pemOrDer === "string" ? pemOrDer : looksLikePem(pemOrDer) ? Buffer.from(pemOrDer).toString("latin1") : null;
  if (text !== null) {
    const block = PRIVATE_KEY_PEM.exec(text);
    if (!block) throw new SignetError("bad_pem", "no PRIVATE KEY block in the PEM text");
    const encrypted = block[1] === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(block[0]);
    // Without a passphrase OpenSSL fails on encrypted PEM with an unhelpful "interrupted" error.
    if (encrypted && !passphrase) {
      throw new SignetError("passphrase_required", "the private key is encrypted: its passphrase is needed");
    }
    try {
      return createPrivateKey({ key: block[0], format: "pem", ...(passphrase ? { passphrase } : {}) });
    } catch (err) {
      throw importFailure(err, encrypted);
    }
  }
  const der = Buffer.from(pemOrDer as Uint8Array);
  // Unlike PEM, DER carries no label: try each container in turn.
  let firstError: unknown;
  for (const type of ["pkcs8", "sec1", "pkcs1"] as const) {
    try {
      return createPrivateKey({ key: der, format: "der", type, ...(passphrase && type === "pkcs8" ? { passphrase } : {}) });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (type === "pkcs8" && (code === "ERR_MISSING_PASSPHRASE" || code === "ERR_OSSL_BAD_DECRYPT")) {
        throw importFailure(err, true);
      }
      firstError ??= err;
    }
  }
  throw importFailure(firstError, false);
}

function looksLikePem(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 4096)).toString("latin1").includes("-----BEGIN ");
}
