import { execFileSync } from "node:child_process";
import { X509Certificate, createHash, randomBytes, verify } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaMaterial } from "../ca/ca-material.js";
import { isSignetError, type ErrorCode } from "../ca/errors.js";
import { decryptPrivateKey } from "../ca/keys/encrypted-key.js";
import { CA_KEY_ALGORITHMS, type KeyAlgorithm } from "../ca/signer.js";
import {
  caExists,
  caFiles,
  exportRootKey,
  generatePassphraseFile,
  importCa,
  initCa,
  loadCa,
  readCaMetadata,
  resolvePassphrase,
  resolveRootExportPassphrase,
} from "../src/home/ca-files.js";

const PASSPHRASE = "ca passphrase for tests";
const EXPORT_PASSPHRASE = "offline root export passphrase";

let base: string;
beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "signet-ca-files-"));
});
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

let counter = 0;
function freshHome(): string {
  return join(base, `home-${++counter}`);
}

function openssl(...args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** What ca.json records as a root key export's fingerprint: SHA-256 of the SPKI DER. */
function spkiSha256(certPath: string): string {
  const spki = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("hex");
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: ErrorCode): Promise<Error> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    expect(isSignetError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
    return err as Error;
  }
  throw new Error(`expected SignetError ${code}, nothing was thrown`);
}

/** The signer produces signatures the certificate's key accepts. */
async function expectWorkingSigner(signer: CaMaterial["intermediate"]["signer"], certDer: Buffer): Promise<void> {
  const data = randomBytes(64);
  const signature = await signer.sign(data);
  expect(verify(signer.signatureAlgorithm.hash, data, new X509Certificate(certDer).publicKey, signature)).toBe(true);
}

function expectLayoutModes(home: string, rootKeyPresent: boolean): void {
  const f = caFiles(home);
  expect(mode(f.dir)).toBe(0o700);
  expect(mode(f.rootCert)).toBe(0o644);
  expect(mode(f.intermediateCert)).toBe(0o644);
  expect(mode(f.intermediateKey)).toBe(0o600);
  expect(mode(f.metadata)).toBe(0o644);
  if (rootKeyPresent) expect(mode(f.rootKey)).toBe(0o600);
  else expect(existsSync(f.rootKey)).toBe(false);
  // No temporary or staging files left behind.
  expect(readdirSync(f.dir).sort()).toEqual(
    (rootKeyPresent ? ["ca.json", "intermediate.key", "intermediate.pem", "root.key", "root.pem"] : ["ca.json", "intermediate.key", "intermediate.pem", "root.pem"]),
  );
  expect(readdirSync(f.home).filter((n) => n.startsWith("."))).toEqual([]);
}

describe("initCa", () => {
  it.each(CA_KEY_ALGORITHMS)("%s: writes a chain openssl verifies, with the promised modes, and loads it back", async (alg) => {
    const home = freshHome();
    expect(caExists(home)).toBe(false);
    const made = await initCa(home, { passphrase: PASSPHRASE, rootKeyAlgorithm: alg });
    expect(caExists(home)).toBe(true);
    const f = caFiles(home);
    expectLayoutModes(home, true);

    expect(openssl("verify", "-x509_strict", "-CAfile", f.rootCert, f.intermediateCert).trim()).toBe(`${f.intermediateCert}: OK`);
    const rootText = openssl("x509", "-in", f.rootCert, "-noout", "-text");
    const intText = openssl("x509", "-in", f.intermediateCert, "-noout", "-text");
    expect(rootText).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(intText).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(rootText).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(intText).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(rootText).toContain("Subject: CN = Signet Root CA, O = Signet");
    expect(intText).toContain("Subject: CN = Signet Intermediate CA, O = Signet");

    const meta = readCaMetadata(home);
    expect(meta).toMatchObject({
      version: 1,
      source: "generated",
      rootKeyOffline: false,
      root: { keyAlgorithm: alg },
      intermediate: { keyAlgorithm: alg },
    });
    expect(meta.root.subject).toContain("Signet Root CA");
    const years = (Date.parse(meta.root.notAfter) - Date.now()) / (365 * 24 * 3600 * 1000);
    expect(Math.round(years)).toBe(10);
    expect(Math.round((Date.parse(meta.intermediate.notAfter) - Date.now()) / (365 * 24 * 3600 * 1000))).toBe(5);

    // The key files hold no plaintext key material.
    for (const [path, label] of [[f.rootKey, "root"], [f.intermediateKey, "intermediate"]] as const) {
      const text = readFileSync(path, "utf8");
      const der = decryptPrivateKey(text, PASSPHRASE, label).export({ format: "der", type: "pkcs8" });
      expect(text).not.toContain(der.toString("base64"));
      expect(text).not.toContain(der.subarray(-24).toString("base64"));
      expect(text).not.toContain(der.toString("hex"));
      expect(text).not.toContain("PRIVATE KEY");
      expect(text).not.toContain(PASSPHRASE);
    }

    const loaded = await loadCa(home, PASSPHRASE);
    expect(loaded.root.certDer.equals(made.root.certDer)).toBe(true);
    expect(loaded.intermediate.certDer.equals(made.intermediate.certDer)).toBe(true);
    expect(loaded.root.signer?.keyAlgorithm).toBe(alg);
    expect(loaded.intermediate.signer.keyAlgorithm).toBe(alg);
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
    await expectWorkingSigner(loaded.root.signer!, loaded.root.certDer);
  });

  it("mixed algorithms, custom subjects, lifetimes and path lengths", async () => {
    const home = freshHome();
    await initCa(home, {
      passphrase: PASSPHRASE,
      rootKeyAlgorithm: "RSA-4096",
      keyAlgorithm: "P-256",
      rootSubject: "CN=Acme Root,O=Acme,C=NL",
      intermediateSubject: "CN=Acme Issuing,O=Acme",
      rootLifetimeSeconds: 20 * 365 * 24 * 3600,
      intermediateLifetimeSeconds: 365 * 24 * 3600,
      rootPathLength: 2,
      intermediatePathLength: 1,
    });
    const f = caFiles(home);
    expect(openssl("verify", "-x509_strict", "-CAfile", f.rootCert, f.intermediateCert).trim()).toBe(`${f.intermediateCert}: OK`);
    expect(openssl("x509", "-in", f.rootCert, "-noout", "-text")).toMatch(/CA:TRUE, pathlen:2[\s\S]*sha256WithRSAEncryption/);
    expect(openssl("x509", "-in", f.intermediateCert, "-noout", "-subject")).toContain("CN = Acme Issuing, O = Acme");
    const meta = readCaMetadata(home);
    expect(meta.root.keyAlgorithm).toBe("RSA-4096");
    expect(meta.intermediate.keyAlgorithm).toBe("P-256");
    const loaded = await loadCa(home, PASSPHRASE);
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
  });

  it("refuses a second CA, short passphrases and unknown algorithms", async () => {
    const home = freshHome();
    await initCa(home, { passphrase: PASSPHRASE });
    await expectCode(initCa(home, { passphrase: PASSPHRASE }), "ca_already_initialized");
    const other = freshHome();
    await expectCode(initCa(other, { passphrase: "short" }), "config_invalid");
    await expectCode(initCa(other, { passphrase: PASSPHRASE, rootKeyAlgorithm: "RSA-1024" as KeyAlgorithm }), "config_invalid");
    expect(caExists(other)).toBe(false);
  });

  it("a leftover non-empty ca/ directory without ca.json is not overwritten", async () => {
    const home = freshHome();
    mkdirSync(join(home, "ca"), { recursive: true });
    writeFileSync(join(home, "ca", "root.pem"), "someone else's");
    await expectCode(initCa(home, { passphrase: PASSPHRASE }), "ca_already_initialized");
    expect(readFileSync(join(home, "ca", "root.pem"), "utf8")).toBe("someone else's");
    expect(readdirSync(home).filter((n) => n.startsWith("."))).toEqual([]);
  });
});

describe("loadCa", () => {
  let home: string;
  beforeAll(async () => {
    home = freshHome();
    await initCa(home, { passphrase: PASSPHRASE, rootKeyAlgorithm: "P-384", keyAlgorithm: "P-384" });
  });

  it("no CA is ca_not_initialized", async () => {
    await expectCode(loadCa(freshHome(), PASSPHRASE), "ca_not_initialized");
  });

  it("a wrong passphrase is bad_passphrase, and the message carries no secret", async () => {
    const err = await expectCode(loadCa(home, "wrong passphrase!!"), "bad_passphrase");
    expect(err.message).not.toContain("wrong passphrase!!");
    expect(err.message).not.toContain(PASSPHRASE);
  });

  it("swapped key files (same algorithm, same passphrase) are refused by the label binding", async () => {
    const copy = freshHome();
    mkdirSync(copy);
    const f = caFiles(home);
    const c = caFiles(copy);
    mkdirSync(c.dir, { mode: 0o700 });
    for (const name of ["rootCert", "intermediateCert", "metadata"] as const) copyFileSync(f[name], c[name]);
    copyFileSync(f.rootKey, c.intermediateKey);
    copyFileSync(f.intermediateKey, c.rootKey);
    await expectCode(loadCa(copy, PASSPHRASE), "bad_passphrase");
    // Both files the root's: the intermediate slot still refuses it.
    copyFileSync(f.rootKey, c.rootKey);
    await expectCode(loadCa(copy, PASSPHRASE), "bad_passphrase");
    copyFileSync(f.intermediateKey, c.intermediateKey);
    await loadCa(copy, PASSPHRASE);
  });
});

describe("offline root", () => {
  it("initCa with offlineRoot never stores the root key under home", async () => {
    const home = freshHome();
    const outFile = join(base, `offline-root-${counter}.pem`);
    const made = await initCa(home, {
      passphrase: PASSPHRASE,
      rootKeyAlgorithm: "RSA-3072",
      keyAlgorithm: "Ed25519",
      offlineRoot: { outFile, passphrase: EXPORT_PASSPHRASE },
    });
    expect(made.root.signer).toBeUndefined();
    expectLayoutModes(home, false);
    expect(readCaMetadata(home).rootKeyOffline).toBe(true);
    expect(mode(outFile)).toBe(0o600);
    const f = caFiles(home);
    // Recorded for the server to audit as ca.root_key_exported.
    expect(readCaMetadata(home).rootKeyExports).toEqual([
      { at: expect.any(String), removed: true, fingerprint: spkiSha256(f.rootCert), outFile },
    ]);
    expect(openssl("verify", "-x509_strict", "-CAfile", f.rootCert, f.intermediateCert).trim()).toBe(`${f.intermediateCert}: OK`);
    // The exported key opens with openssl and is the root certificate's key.
    expect(openssl("pkey", "-in", outFile, "-passin", `pass:${EXPORT_PASSPHRASE}`, "-pubout")).toBe(
      openssl("x509", "-in", f.rootCert, "-noout", "-pubkey"),
    );
    const loaded = await loadCa(home, PASSPHRASE);
    expect(loaded.root.signer).toBeUndefined();
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
    await expectCode(exportRootKey(home, PASSPHRASE, { outFile: join(base, "x.pem"), exportPassphrase: EXPORT_PASSPHRASE, remove: false }), "root_key_offline");
  });

  it("initCa refuses an existing offline key file and writes nothing", async () => {
    const home = freshHome();
    const outFile = join(base, `exists-${counter}.pem`);
    writeFileSync(outFile, "precious");
    await expectCode(initCa(home, { passphrase: PASSPHRASE, offlineRoot: { outFile, passphrase: EXPORT_PASSPHRASE } }), "conflict");
    expect(readFileSync(outFile, "utf8")).toBe("precious");
    expect(caExists(home)).toBe(false);
    await expectCode(
      initCa(home, { passphrase: PASSPHRASE, offlineRoot: { outFile: join(base, "never.pem"), passphrase: "short" } }),
      "config_invalid",
    );
  });

  it("exportRootKey copies, then with remove takes the root offline", async () => {
    const home = freshHome();
    await initCa(home, { passphrase: PASSPHRASE });
    const f = caFiles(home);
    const copy = join(base, `export-copy-${counter}.pem`);
    await expectCode(exportRootKey(home, "wrong passphrase!!", { outFile: copy, exportPassphrase: EXPORT_PASSPHRASE, remove: true }), "bad_passphrase");
    expect(existsSync(copy)).toBe(false);
    await expectCode(exportRootKey(home, PASSPHRASE, { outFile: copy, exportPassphrase: "short", remove: false }), "config_invalid");
    // The CA passphrase would protect nothing once the key leaves with it.
    await expectCode(exportRootKey(home, PASSPHRASE, { outFile: copy, exportPassphrase: PASSPHRASE, remove: false }), "config_invalid");
    expect(existsSync(copy)).toBe(false);
    expect(readCaMetadata(home).rootKeyExports).toBeUndefined();

    expect(await exportRootKey(home, PASSPHRASE, { outFile: copy, exportPassphrase: EXPORT_PASSPHRASE, remove: false })).toEqual({ outFile: copy, removed: false });
    expect(mode(copy)).toBe(0o600);
    expect(existsSync(f.rootKey)).toBe(true);
    expect(readCaMetadata(home).rootKeyOffline).toBe(false);
    const fingerprint = spkiSha256(f.rootCert);
    expect(readCaMetadata(home).rootKeyExports).toEqual([{ at: expect.any(String), removed: false, fingerprint, outFile: copy }]);
    // Never overwrites.
    await expectCode(exportRootKey(home, PASSPHRASE, { outFile: copy, exportPassphrase: EXPORT_PASSPHRASE, remove: true }), "conflict");

    const moved = join(base, `export-moved-${counter}.pem`);
    expect(await exportRootKey(home, PASSPHRASE, { outFile: moved, exportPassphrase: EXPORT_PASSPHRASE, remove: true })).toEqual({ outFile: moved, removed: true });
    expect(existsSync(f.rootKey)).toBe(false);
    expectLayoutModes(home, false);
    expect(readCaMetadata(home).rootKeyOffline).toBe(true);
    const exports = readCaMetadata(home).rootKeyExports!;
    expect(exports.map(({ removed, fingerprint, outFile }) => ({ removed, fingerprint, outFile }))).toEqual([
      { removed: false, fingerprint, outFile: copy },
      { removed: true, fingerprint, outFile: moved },
    ]);
    expect(Date.parse(exports[1]!.at)).toBeGreaterThanOrEqual(Date.parse(exports[0]!.at));
    expect(openssl("pkey", "-in", moved, "-passin", `pass:${EXPORT_PASSPHRASE}`, "-pubout")).toBe(
      openssl("x509", "-in", f.rootCert, "-noout", "-pubkey"),
    );
    const loaded = await loadCa(home, PASSPHRASE);
    expect(loaded.root.signer).toBeUndefined();
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
    await expectCode(exportRootKey(home, PASSPHRASE, { outFile: join(base, "again.pem"), exportPassphrase: EXPORT_PASSPHRASE, remove: true }), "root_key_offline");
  });
});

describe("importCa", () => {
  let ext: {
    dir: string;
    rootCert: string;
    rootKey: string;
    intCert: string;
    intKey: string;
    intKeyEncrypted: string;
    otherRootCert: string;
    otherIntCert: string;
    otherIntKey: string;
  };
  const INT_KEY_PASSPHRASE = "intermediate key passphrase";

  /** A CA made the usual openssl way: `req -x509` for the root, `x509 -req` with an extensions
   * section for the intermediate. */
  function opensslCa(dir: string, name: string, rootAlg: string[], intAlg: string[]) {
    const p = (n: string) => join(dir, `${name}-${n}`);
    writeFileSync(p("root.key"), openssl("genpkey", ...rootAlg));
    writeFileSync(
      p("root.pem"),
      openssl("req", "-x509", "-new", "-key", p("root.key"), "-subj", `/C=NL/O=${name}/CN=${name} Root`, "-days", "3650", "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    );
    writeFileSync(p("int.key"), openssl("genpkey", ...intAlg));
    writeFileSync(p("int.csr"), openssl("req", "-new", "-key", p("int.key"), "-subj", `/O=${name}/CN=${name} Intermediate`));
    writeFileSync(
      p("int.ext"),
      "[v3_int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    );
    writeFileSync(
      p("int.pem"),
      openssl("x509", "-req", "-in", p("int.csr"), "-CA", p("root.pem"), "-CAkey", p("root.key"), "-set_serial", "0x" + randomBytes(16).toString("hex"),
        "-days", "1825", "-sha256", "-extfile", p("int.ext"), "-extensions", "v3_int"),
    );
    return { rootCert: p("root.pem"), rootKey: p("root.key"), intCert: p("int.pem"), intKey: p("int.key") };
  }

  beforeAll(() => {
    const dir = join(base, "openssl-ca");
    mkdirSync(dir);
    const a = opensslCa(dir, "Example", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"]);
    const b = opensslCa(dir, "Other", ["-algorithm", "ed25519"], ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    const intKeyEncrypted = join(dir, "int-encrypted.key");
    writeFileSync(intKeyEncrypted, openssl("pkcs8", "-topk8", "-in", a.intKey, "-v2", "aes-256-cbc", "-passout", `pass:${INT_KEY_PASSPHRASE}`));
    ext = { dir, ...a, intKeyEncrypted, otherRootCert: b.rootCert, otherIntCert: b.intCert, otherIntKey: b.intKey };
  });

  const read = (path: string) => readFileSync(path, "utf8");

  it("imports an openssl-made CA with the root offline", async () => {
    const home = freshHome();
    const material = await importCa(home, {
      passphrase: PASSPHRASE,
      rootCertPem: read(ext.rootCert),
      intermediateCertPem: read(ext.intCert),
      intermediateKeyPem: read(ext.intKeyEncrypted),
      intermediateKeyPassphrase: INT_KEY_PASSPHRASE,
    });
    expect(material.root.signer).toBeUndefined();
    expectLayoutModes(home, false);
    expect(readCaMetadata(home)).toMatchObject({
      source: "imported",
      rootKeyOffline: true,
      root: { keyAlgorithm: "P-256" },
      intermediate: { keyAlgorithm: "RSA-3072" },
    });
    const f = caFiles(home);
    expect(openssl("verify", "-x509_strict", "-CAfile", f.rootCert, f.intermediateCert).trim()).toBe(`${f.intermediateCert}: OK`);
    expect(readFileSync(f.intermediateKey, "utf8")).not.toContain("PRIVATE KEY");
    const loaded = await loadCa(home, PASSPHRASE);
    expect(loaded.root.signer).toBeUndefined();
    expect(loaded.intermediate.signer.keyAlgorithm).toBe("RSA-3072");
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
  });

  it("imports with the root key (SEC1 PEM) online", async () => {
    const home = freshHome();
    const sec1 = openssl("ec", "-in", ext.rootKey);
    expect(sec1).toContain("BEGIN EC PRIVATE KEY");
    await importCa(home, {
      passphrase: PASSPHRASE,
      rootCertPem: read(ext.rootCert),
      intermediateCertPem: read(ext.intCert),
      intermediateKeyPem: read(ext.intKey),
      rootKeyPem: sec1,
    });
    expectLayoutModes(home, true);
    const loaded = await loadCa(home, PASSPHRASE);
    await expectWorkingSigner(loaded.root.signer!, loaded.root.certDer);
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
  });

  it("refuses mismatched keys, foreign intermediates and bad input, writing nothing", async () => {
    const home = freshHome();
    const good = {
      passphrase: PASSPHRASE,
      rootCertPem: read(ext.rootCert),
      intermediateCertPem: read(ext.intCert),
      intermediateKeyPem: read(ext.intKey),
    };
    const mismatch = await expectCode(importCa(home, { ...good, intermediateKeyPem: read(ext.otherIntKey) }), "bad_pem");
    expect(mismatch.message).toBe("the key does not match the certificate");
    await expectCode(importCa(home, { ...good, rootKeyPem: read(ext.intKey) }), "bad_pem");
    await expectCode(importCa(home, { ...good, intermediateCertPem: read(ext.otherIntCert), intermediateKeyPem: read(ext.otherIntKey) }), "bad_pem");
    await expectCode(importCa(home, { ...good, rootCertPem: read(ext.otherRootCert) }), "bad_pem");
    await expectCode(importCa(home, { ...good, intermediateCertPem: read(ext.rootCert) }), "bad_pem");
    await expectCode(importCa(home, { ...good, intermediateCertPem: read(ext.intCert) + read(ext.rootCert) }), "bad_pem");
    await expectCode(importCa(home, { ...good, intermediateCertPem: "not a certificate" }), "bad_pem");
    await expectCode(importCa(home, { ...good, intermediateKeyPem: read(ext.intKeyEncrypted) }), "passphrase_required");
    await expectCode(
      importCa(home, { ...good, intermediateKeyPem: read(ext.intKeyEncrypted), intermediateKeyPassphrase: "wrong passphrase" }),
      "bad_passphrase",
    );
    // The intermediate as its own root: self-signed check fails.
    await expectCode(importCa(home, { ...good, rootCertPem: read(ext.intCert) }), "bad_pem");
    await expectCode(importCa(home, { ...good, passphrase: "short" }), "config_invalid");
    expect(caExists(home)).toBe(false);
    expect(existsSync(home) ? readdirSync(home) : []).toEqual([]);

    await importCa(home, good);
    await expectCode(importCa(home, good), "ca_already_initialized");
  });

  it("refuses a root that is not a CA", async () => {
    const key = join(ext.dir, "leaf.key");
    writeFileSync(key, openssl("genpkey", "-algorithm", "ed25519"));
    const leafRoot = openssl("req", "-x509", "-new", "-key", key, "-subj", "/CN=not a ca", "-days", "30", "-addext", "basicConstraints=critical,CA:FALSE");
    await expectCode(
      importCa(freshHome(), { passphrase: PASSPHRASE, rootCertPem: leafRoot, intermediateCertPem: read(ext.intCert), intermediateKeyPem: read(ext.intKey) }),
      "bad_pem",
    );
  });

  // `signet serve` names each CA by its subject key identifier, and crashed on one without.
  it("refuses an intermediate or a root without a subject key identifier, writing nothing", async () => {
    const p = (n: string) => join(ext.dir, `noski-${n}`);
    writeFileSync(p("int.ext"), "[v3_int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none\n");
    const intNoSki = openssl("x509", "-req", "-in", join(ext.dir, "Example-int.csr"), "-CA", ext.rootCert, "-CAkey", ext.rootKey, "-set_serial", "77",
      "-days", "365", "-sha256", "-extfile", p("int.ext"), "-extensions", "v3_int");
    writeFileSync(p("int.pem"), intNoSki);
    expect(openssl("x509", "-noout", "-text", "-in", p("int.pem"))).not.toContain("Subject Key Identifier");
    const home = freshHome();
    const good = { passphrase: PASSPHRASE, rootCertPem: read(ext.rootCert), intermediateCertPem: read(ext.intCert), intermediateKeyPem: read(ext.intKey) };
    const intErr = await expectCode(importCa(home, { ...good, intermediateCertPem: intNoSki }), "bad_pem");
    expect(intErr.message).toMatch(/^the intermediate certificate has no subject key identifier/);

    writeFileSync(p("root.key"), openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"));
    const rootNoSki = openssl("req", "-x509", "-new", "-key", p("root.key"), "-subj", "/CN=No SKI Root", "-days", "365", "-sha256",
      "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      "-addext", "subjectKeyIdentifier=none", "-addext", "authorityKeyIdentifier=none");
    writeFileSync(p("root.pem"), rootNoSki);
    // An intermediate that has one, under the root that has none.
    writeFileSync(p("int-ski.ext"), "[v3_int]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=none\n");
    const intUnder = openssl("x509", "-req", "-in", join(ext.dir, "Example-int.csr"), "-CA", p("root.pem"), "-CAkey", p("root.key"), "-set_serial", "78",
      "-days", "300", "-sha256", "-extfile", p("int-ski.ext"), "-extensions", "v3_int");
    const rootErr = await expectCode(importCa(home, { ...good, rootCertPem: rootNoSki, intermediateCertPem: intUnder }), "bad_pem");
    expect(rootErr.message).toMatch(/^the root certificate has no subject key identifier/);
    expect(caExists(home)).toBe(false);
    expect(existsSync(home) ? readdirSync(home) : []).toEqual([]);
  });
});

describe("resolvePassphrase", () => {
  it("takes SIGNET_CA_PASSPHRASE, then SIGNET_CA_PASSPHRASE_FILE, then the generated file", () => {
    const home = freshHome();
    const err = (() => {
      try {
        resolvePassphrase(home, {});
      } catch (e) {
        return e as Error;
      }
      throw new Error("expected passphrase_required");
    })();
    expect(isSignetError(err, "passphrase_required")).toBe(true);
    expect(err.message).toBe("the CA keys are encrypted: set SIGNET_CA_PASSPHRASE or SIGNET_CA_PASSPHRASE_FILE");

    const generated = generatePassphraseFile(home);
    const f = caFiles(home);
    expect(generated).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mode(f.passphraseFile)).toBe(0o600);
    expect(mode(f.secretsDir)).toBe(0o700);
    expect(resolvePassphrase(home, {})).toEqual({ passphrase: generated, source: "generated" });

    const file = join(base, `passphrase-${counter}.txt`);
    writeFileSync(file, "from a file, with newline\n");
    expect(resolvePassphrase(home, { SIGNET_CA_PASSPHRASE_FILE: file })).toEqual({ passphrase: "from a file, with newline", source: "file" });
    writeFileSync(file, "crlf line ending  \r\n");
    expect(resolvePassphrase(home, { SIGNET_CA_PASSPHRASE_FILE: file }).passphrase).toBe("crlf line ending  ");
    expect(resolvePassphrase(home, { SIGNET_CA_PASSPHRASE: "from the environment" })).toEqual({ passphrase: "from the environment", source: "env" });
    // An empty variable counts as unset.
    expect(resolvePassphrase(home, { SIGNET_CA_PASSPHRASE: "" }).source).toBe("generated");
  });

  it("refuses ambiguity, a missing file and short passphrases", async () => {
    const home = freshHome();
    const file = join(base, `short-${counter}.txt`);
    writeFileSync(file, "short\n");
    await expectCode(() => resolvePassphrase(home, { SIGNET_CA_PASSPHRASE: "long enough passphrase", SIGNET_CA_PASSPHRASE_FILE: file }), "config_invalid");
    await expectCode(() => resolvePassphrase(home, { SIGNET_CA_PASSPHRASE_FILE: join(base, "missing.txt") }), "config_invalid");
    const short = await expectCode(() => resolvePassphrase(home, { SIGNET_CA_PASSPHRASE_FILE: file }), "config_invalid");
    expect(short.message).not.toContain("short\n");
    const shortEnv = await expectCode(() => resolvePassphrase(home, { SIGNET_CA_PASSPHRASE: "elevenchars" }), "config_invalid");
    expect(shortEnv.message).toContain("SIGNET_CA_PASSPHRASE");
    expect(shortEnv.message).not.toContain("elevenchars");
  });

  it("generatePassphraseFile never replaces an existing passphrase", async () => {
    const home = freshHome();
    const first = generatePassphraseFile(home);
    await expectCode(() => generatePassphraseFile(home), "conflict");
    expect(resolvePassphrase(home, {}).passphrase).toBe(first);
  });

  it("zero-config: a generated passphrase initialises and reloads the CA", async () => {
    const home = freshHome();
    const passphrase = generatePassphraseFile(home);
    await initCa(home, { passphrase });
    const resolved = resolvePassphrase(home, {});
    expect(resolved.source).toBe("generated");
    const loaded = await loadCa(home, resolved.passphrase);
    await expectWorkingSigner(loaded.intermediate.signer, loaded.intermediate.certDer);
  });
});

describe("resolveRootExportPassphrase", () => {
  const flag = "--passphrase-file";
  it("takes the flag's file or SIGNET_ROOT_EXPORT_PASSPHRASE, and nothing else", async () => {
    const file = join(base, `export-passphrase-${++counter}`);
    writeFileSync(file, `${EXPORT_PASSPHRASE}\n`);
    expect(resolveRootExportPassphrase({}, { file, flag, caPassphrase: PASSPHRASE })).toBe(EXPORT_PASSPHRASE);
    expect(resolveRootExportPassphrase({ SIGNET_ROOT_EXPORT_PASSPHRASE: EXPORT_PASSPHRASE }, { flag, caPassphrase: PASSPHRASE })).toBe(EXPORT_PASSPHRASE);
    // A random generated CA passphrase needs no comparison.
    expect(resolveRootExportPassphrase({ SIGNET_ROOT_EXPORT_PASSPHRASE: EXPORT_PASSPHRASE }, { flag })).toBe(EXPORT_PASSPHRASE);

    // Never defaulted to the CA passphrase, which resolvePassphrase would find.
    const missing = await expectCode(() => resolveRootExportPassphrase({ SIGNET_CA_PASSPHRASE: PASSPHRASE }, { flag, caPassphrase: PASSPHRASE }), "passphrase_required");
    expect(missing.message).toContain(flag);
    expect(missing.message).toContain("SIGNET_ROOT_EXPORT_PASSPHRASE");
    await expectCode(() => resolveRootExportPassphrase({ SIGNET_ROOT_EXPORT_PASSPHRASE: PASSPHRASE }, { flag, caPassphrase: PASSPHRASE }), "config_invalid");
    await expectCode(() => resolveRootExportPassphrase({ SIGNET_ROOT_EXPORT_PASSPHRASE: EXPORT_PASSPHRASE }, { file, flag }), "config_invalid");
    await expectCode(() => resolveRootExportPassphrase({}, { file: join(base, "no-such-file"), flag }), "config_invalid");
    await expectCode(() => resolveRootExportPassphrase({ SIGNET_ROOT_EXPORT_PASSPHRASE: "short" }, { flag }), "config_invalid");
  });

  it("readCaMetadata refuses a malformed rootKeyExports", async () => {
    const home = freshHome();
    await initCa(home, { passphrase: PASSPHRASE });
    const f = caFiles(home);
    const metadata = JSON.parse(readFileSync(f.metadata, "utf8"));
    writeFileSync(f.metadata, JSON.stringify({ ...metadata, rootKeyExports: [{ at: "yesterday", removed: "yes", fingerprint: "ab", outFile: 1 }] }));
    await expectCode(() => readCaMetadata(home), "config_invalid");
    writeFileSync(f.metadata, JSON.stringify({ ...metadata, rootKeyExports: {} }));
    await expectCode(() => readCaMetadata(home), "config_invalid");
  });
});

describe("caFiles", () => {
  it("resolves the layout under the home directory", () => {
    const f = caFiles("relative-home");
    expect(f.home).toBe(join(process.cwd(), "relative-home"));
    expect(f.rootCert).toBe(join(f.home, "ca", "root.pem"));
    expect(f.intermediateCert).toBe(join(f.home, "ca", "intermediate.pem"));
    expect(f.rootKey).toBe(join(f.home, "ca", "root.key"));
    expect(f.intermediateKey).toBe(join(f.home, "ca", "intermediate.key"));
    expect(f.metadata).toBe(join(f.home, "ca", "ca.json"));
    expect(f.passphraseFile).toBe(join(f.home, "secrets", "ca-passphrase"));
  });
});
