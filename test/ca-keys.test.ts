import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIntermediateCertificate, createRootCertificate } from "../ca/ca-certificates.js";
import { checkIssuedBy, checkKeyMatchesCertificate } from "../ca/ca-material.js";
import { isSignetError, type ErrorCode } from "../ca/errors.js";
import {
  ENCRYPTED_KEY_FORMAT,
  decryptPrivateKey,
  encryptPrivateKey,
  exportEncryptedPkcs8,
  importPrivateKey,
} from "../ca/keys/encrypted-key.js";
import { generateKeyPair, keyAlgorithmOf, type KeyPair } from "../ca/keys/generate.js";
import { CA_KEY_ALGORITHMS, SoftwareSigner, signatureAlgorithmFor, type KeyAlgorithm } from "../ca/signer.js";

const PASSPHRASE = "correct horse battery staple";
const YEAR = 365 * 24 * 3600;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "signet-ca-keys-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function openssl(...args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function pem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

function expectCode(fn: () => unknown, code: ErrorCode): Error {
  try {
    fn();
  } catch (err) {
    expect(isSignetError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
    return err as Error;
  }
  throw new Error(`expected SignetError ${code}, nothing was thrown`);
}

async function expectCodeAsync(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(isSignetError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
    return err as Error;
  }
  throw new Error(`expected SignetError ${code}, nothing was thrown`);
}

const keyCache = new Map<KeyAlgorithm, KeyPair>();
function keys(alg: KeyAlgorithm): KeyPair {
  let pair = keyCache.get(alg);
  if (!pair) {
    pair = generateKeyPair(alg);
    keyCache.set(alg, pair);
  }
  return pair;
}

function spkiPem(key: KeyObject): string {
  return (key.type === "public" ? key : createPublicKey(key)).export({ type: "spki", format: "pem" }) as string;
}

describe("generateKeyPair / keyAlgorithmOf", () => {
  it.each(CA_KEY_ALGORITHMS)("%s round-trips through keyAlgorithmOf", (alg) => {
    const pair = keys(alg);
    expect(keyAlgorithmOf(pair.privateKey)).toBe(alg);
    expect(keyAlgorithmOf(pair.publicKey)).toBe(alg);
    if (alg.startsWith("RSA")) expect(pair.publicKey.asymmetricKeyDetails?.publicExponent).toBe(65537n);
  });

  it("refuses keys outside the allow-list", () => {
    const forbidden: KeyObject[] = [
      generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey,
      generateKeyPairSync("ec", { namedCurve: "secp521r1" }).publicKey,
      generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey,
      generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).privateKey,
      generateKeyPairSync("ed448").privateKey,
      generateKeyPairSync("x25519").privateKey,
    ];
    for (const key of forbidden) expectCode(() => keyAlgorithmOf(key), "forbidden_key");
  });
});

describe("signet-encrypted-key-v1", () => {
  it.each(["P-256", "Ed25519", "RSA-2048"] as const)("round-trips a %s key", (alg) => {
    const { privateKey } = keys(alg);
    const text = encryptPrivateKey(privateKey, PASSPHRASE, "intermediate");
    const back = decryptPrivateKey(text, PASSPHRASE, "intermediate");
    expect(back.type).toBe("private");
    expect(back.export({ format: "der", type: "pkcs8" }).equals(privateKey.export({ format: "der", type: "pkcs8" }))).toBe(true);
  });

  it("stores its parameters and no plaintext", () => {
    const { privateKey } = keys("P-256");
    const text = encryptPrivateKey(privateKey, PASSPHRASE, "root");
    const doc = JSON.parse(text);
    expect(doc.format).toBe(ENCRYPTED_KEY_FORMAT);
    expect(doc.label).toBe("root");
    expect(doc.kdf).toMatchObject({ name: "scrypt", N: 32768, r: 8, p: 1 });
    expect(Buffer.from(doc.kdf.salt, "base64")).toHaveLength(16);
    expect(doc.cipher.name).toBe("aes-256-gcm");
    expect(Buffer.from(doc.cipher.iv, "base64")).toHaveLength(12);
    expect(Buffer.from(doc.cipher.tag, "base64")).toHaveLength(16);
    const der = privateKey.export({ format: "der", type: "pkcs8" });
    const pemBody = (privateKey.export({ format: "pem", type: "pkcs8" }) as string).split("\n")[1]!;
    expect(text).not.toContain(der.toString("base64"));
    expect(text).not.toContain(der.toString("hex"));
    expect(text).not.toContain(pemBody);
    expect(text).not.toContain(der.subarray(-32).toString("base64"));
    expect(text).not.toContain(PASSPHRASE);
    // Fresh salt and IV each time.
    expect(encryptPrivateKey(privateKey, PASSPHRASE, "root")).not.toBe(text);
  });

  it("a wrong passphrase is bad_passphrase, and the message carries no secret", () => {
    const text = encryptPrivateKey(keys("P-256").privateKey, PASSPHRASE, "root");
    const err = expectCode(() => decryptPrivateKey(text, "not the passphrase", "root"), "bad_passphrase");
    expect(err.message).not.toContain("not the passphrase");
    expect(err.message).not.toContain(PASSPHRASE);
  });

  it("binds the label: a root key file does not open as the intermediate", () => {
    const text = encryptPrivateKey(keys("P-256").privateKey, PASSPHRASE, "root");
    expectCode(() => decryptPrivateKey(text, PASSPHRASE, "intermediate"), "bad_passphrase");
    // Relabelling the document does not help: the label is authenticated, not read from the file.
    const relabelled = JSON.stringify({ ...JSON.parse(text), label: "intermediate" });
    expectCode(() => decryptPrivateKey(relabelled, PASSPHRASE, "intermediate"), "bad_passphrase");
  });

  it("a tampered ciphertext, tag or salt is bad_passphrase", () => {
    const doc = JSON.parse(encryptPrivateKey(keys("P-256").privateKey, PASSPHRASE, "root"));
    const flip = (b64: string) => {
      const b = Buffer.from(b64, "base64");
      b[b.length >> 1]! ^= 1;
      return b.toString("base64");
    };
    for (const tampered of [
      { ...doc, ciphertext: flip(doc.ciphertext) },
      { ...doc, cipher: { ...doc.cipher, tag: flip(doc.cipher.tag) } },
      { ...doc, kdf: { ...doc.kdf, salt: flip(doc.kdf.salt) } },
      { ...doc, kdf: { ...doc.kdf, N: 16384 } },
    ]) {
      expectCode(() => decryptPrivateKey(JSON.stringify(tampered), PASSPHRASE, "root"), "bad_passphrase");
    }
  });

  it("a malformed document or hostile scrypt parameters are bad_pem, before any work", () => {
    const doc = JSON.parse(encryptPrivateKey(keys("P-256").privateKey, PASSPHRASE, "root"));
    expectCode(() => decryptPrivateKey("-----BEGIN PRIVATE KEY-----", PASSPHRASE, "root"), "bad_pem");
    expectCode(() => decryptPrivateKey(JSON.stringify({ ...doc, format: "v0" }), PASSPHRASE, "root"), "bad_pem");
    expectCode(() => decryptPrivateKey(JSON.stringify({ ...doc, kdf: { ...doc.kdf, N: 2 ** 30 } }), PASSPHRASE, "root"), "bad_pem");
    expectCode(() => decryptPrivateKey(JSON.stringify({ ...doc, kdf: { ...doc.kdf, N: 1000 } }), PASSPHRASE, "root"), "bad_pem");
    expectCode(() => decryptPrivateKey(JSON.stringify({ ...doc, cipher: { ...doc.cipher, iv: "AAAA" } }), PASSPHRASE, "root"), "bad_pem");
  });
});

describe("encrypted PKCS#8 export and key import", () => {
  it.each(["P-384", "Ed25519", "RSA-2048"] as const)("openssl opens the exported %s key", (alg) => {
    const { privateKey, publicKey } = keys(alg);
    const exported = exportEncryptedPkcs8(privateKey, PASSPHRASE);
    expect(exported).toContain("-----BEGIN ENCRYPTED PRIVATE KEY-----");
    const path = file(`exported-${alg}.pem`, exported);
    const pub = openssl("pkey", "-in", path, "-passin", `pass:${PASSPHRASE}`, "-pubout");
    expect(pub).toBe(spkiPem(publicKey));
    expect(() => openssl("pkey", "-in", path, "-passin", "pass:wrong passphrase", "-noout")).toThrow();
    expect(importPrivateKey(exported, PASSPHRASE).export({ format: "der", type: "pkcs8" })).toEqual(
      privateKey.export({ format: "der", type: "pkcs8" }),
    );
  });

  it("uses PBES2 with PBKDF2-HMAC-SHA256 at 600,000 iterations, a fresh 16-byte salt and IV, and AES-256-CBC", () => {
    const { privateKey, publicKey } = keys("P-256");
    const exported = exportEncryptedPkcs8(privateKey, PASSPHRASE);
    const path = file("exported-params.pem", exported);
    // asn1parse prints INTEGERs in hex and OCTET STRINGs as hex dumps.
    const lines = openssl("asn1parse", "-in", path).split("\n").map((l) => l.replace(/^\s*\d+:d=\d+\s+hl=\d+\s+l=\s*\d+\s+/, "").trim());
    const after = (needle: string, offset: number) => lines[lines.findIndex((l) => l.endsWith(needle)) + offset] ?? "";
    expect(after(":PBES2", 0)).toBe("prim: OBJECT            :PBES2");
    expect(after(":PBKDF2", 2)).toMatch(/^prim: OCTET STRING\s+\[HEX DUMP\]:[0-9A-F]{32}$/);
    const iterations = /^prim: INTEGER\s+:([0-9A-F]+)$/.exec(after(":PBKDF2", 3));
    expect(iterations, lines.join("\n")).not.toBeNull();
    expect(Number.parseInt(iterations![1]!, 16)).toBe(600_000);
    expect(after(":PBKDF2", 5)).toMatch(/:hmacWithSHA256$/);
    expect(after(":aes-256-cbc", 1)).toMatch(/^prim: OCTET STRING\s+\[HEX DUMP\]:[0-9A-F]{32}$/);
    // node reads it as well as openssl; a second export draws a new salt and IV.
    const opened = createPrivateKey({ key: exported, format: "pem", passphrase: PASSPHRASE });
    expect(spkiPem(opened)).toBe(spkiPem(publicKey));
    const again = openssl("asn1parse", "-in", file("exported-params-2.pem", exportEncryptedPkcs8(privateKey, PASSPHRASE)));
    expect(again).not.toContain(after(":PBKDF2", 2).split(":").pop()!);
    expect(again).not.toContain(after(":aes-256-cbc", 1).split(":").pop()!);
  });

  it("imports the key formats openssl writes, in PEM and DER", () => {
    const ec = file("ec-sec1.pem", openssl("ecparam", "-name", "prime256v1", "-genkey")); // EC PARAMETERS + EC PRIVATE KEY
    const ecPub = openssl("pkey", "-in", ec, "-pubout");
    const rsa = file("rsa-pkcs1.pem", openssl("genrsa", "-traditional", "2048"));
    const rsaPub = openssl("pkey", "-in", rsa, "-pubout");
    const ed = file("ed.pem", openssl("genpkey", "-algorithm", "ed25519"));
    const edPub = openssl("pkey", "-in", ed, "-pubout");
    const der = (args: string[]) => execFileSync("openssl", [...args, "-outform", "DER"]);

    const cases: [string | Buffer, string | undefined, string][] = [
      [readFileSync(ec, "utf8"), undefined, ecPub],
      [readFileSync(rsa, "utf8"), undefined, rsaPub],
      [readFileSync(ed, "utf8"), undefined, edPub],
      [openssl("pkcs8", "-topk8", "-in", ec, "-v2", "aes-256-cbc", "-passout", `pass:${PASSPHRASE}`), PASSPHRASE, ecPub],
      [openssl("pkcs8", "-topk8", "-in", rsa, "-v2", "aes-256-cbc", "-passout", `pass:${PASSPHRASE}`), PASSPHRASE, rsaPub],
      [openssl("ec", "-in", ec, "-aes256", "-passout", `pass:${PASSPHRASE}`), PASSPHRASE, ecPub], // legacy Proc-Type PEM
      [der(["pkcs8", "-topk8", "-nocrypt", "-in", ec]), undefined, ecPub],
      [der(["ec", "-in", ec]), undefined, ecPub], // SEC1 DER
      [der(["rsa", "-in", rsa, "-traditional"]), undefined, rsaPub], // PKCS#1 DER
      [der(["pkcs8", "-topk8", "-in", rsa, "-v2", "aes-256-cbc", "-passout", `pass:${PASSPHRASE}`]), PASSPHRASE, rsaPub],
    ];
    for (const [input, passphrase, pub] of cases) {
      expect(spkiPem(importPrivateKey(input, passphrase))).toBe(pub);
    }
  });

  it("refuses what it cannot or may not use", () => {
    const encrypted = exportEncryptedPkcs8(keys("P-256").privateKey, PASSPHRASE);
    expectCode(() => importPrivateKey(encrypted), "passphrase_required");
    expectCode(() => importPrivateKey(encrypted, "wrong passphrase"), "bad_passphrase");
    const encryptedDer = keys("P-256").privateKey.export({ format: "der", type: "pkcs8", cipher: "aes-256-cbc", passphrase: PASSPHRASE });
    expectCode(() => importPrivateKey(encryptedDer), "passphrase_required");
    expectCode(() => importPrivateKey(encryptedDer, "wrong passphrase"), "bad_passphrase");
    expectCode(() => importPrivateKey("hello"), "bad_pem");
    expectCode(() => importPrivateKey(Buffer.from("3003020100", "hex")), "bad_pem");
    expectCode(() => importPrivateKey("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "bad_pem");
    const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" }).privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    expectCode(() => importPrivateKey(k1), "forbidden_key");
  });
});

describe("CA certificates", () => {
  async function chain(rootAlg: KeyAlgorithm, intAlg: KeyAlgorithm) {
    const rootKeys = keys(rootAlg);
    const intKeys = rootAlg === intAlg ? generateKeyPair(intAlg) : keys(intAlg);
    const rootDer = await createRootCertificate({
      subject: "CN=Test Root CA,O=Signet Test",
      keys: rootKeys,
      keyAlgorithm: rootAlg,
      lifetimeSeconds: 10 * YEAR,
    });
    const rootSigner = new SoftwareSigner(rootKeys.privateKey, rootKeys.publicKey, rootAlg);
    const intDer = await createIntermediateCertificate({
      subject: "CN=Test Intermediate CA,O=Signet Test",
      publicKey: intKeys.publicKey,
      issuerCertDer: rootDer,
      issuerSigner: rootSigner,
      lifetimeSeconds: 5 * YEAR,
    });
    return { rootDer, intDer, rootKeys, intKeys, rootSigner };
  }

  const SIG_NAME: Record<KeyAlgorithm, string> = {
    "P-256": "ecdsa-with-SHA256",
    "P-384": "ecdsa-with-SHA384",
    Ed25519: "ED25519",
    "RSA-2048": "sha256WithRSAEncryption",
    "RSA-3072": "sha256WithRSAEncryption",
    "RSA-4096": "sha256WithRSAEncryption",
  };

  const pairs: [KeyAlgorithm, KeyAlgorithm][] = [
    ...CA_KEY_ALGORITHMS.map((a) => [a, a] as [KeyAlgorithm, KeyAlgorithm]),
    ["RSA-4096", "P-256"],
    ["P-384", "Ed25519"],
    ["Ed25519", "RSA-2048"],
  ];

  it.each(pairs)("%s root over %s intermediate: openssl verify -x509_strict accepts the chain", async (rootAlg, intAlg) => {
    const { rootDer, intDer } = await chain(rootAlg, intAlg);
    const rootPath = file(`root-${rootAlg}-${intAlg}.pem`, pem(rootDer));
    const intPath = file(`int-${rootAlg}-${intAlg}.pem`, pem(intDer));
    expect(openssl("verify", "-x509_strict", "-CAfile", rootPath, intPath).trim()).toBe(`${intPath}: OK`);

    const rootText = openssl("x509", "-in", rootPath, "-noout", "-text");
    const intText = openssl("x509", "-in", intPath, "-noout", "-text");
    expect(rootText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
    expect(intText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    for (const text of [rootText, intText]) {
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
      expect(text).toContain("X509v3 Subject Key Identifier");
    }
    expect(rootText).toContain("Issuer: CN = Test Root CA, O = Signet Test");
    expect(intText).toContain("Subject: CN = Test Intermediate CA, O = Signet Test");
    expect(rootText).toContain(`Signature Algorithm: ${SIG_NAME[rootAlg]}`);
    expect(intText).toContain(`Signature Algorithm: ${SIG_NAME[rootAlg]}`);
    // The AlgorithmIdentifier bytes are exactly the signer's (explicit NULL for RSA, none for ECDSA).
    expect(intDer.includes(signatureAlgorithmFor(rootAlg).algorithmIdentifier)).toBe(true);

    const rootSki = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(rootText)?.[1];
    expect(rootSki).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(intText).toMatch(new RegExp(`Authority Key Identifier:\\s*\\n\\s*(keyid:)?${rootSki}`));
    // SKI method 1 (SHA-1 of the subjectPublicKey bits) is also openssl's default: compare.
    const keyPath = file(`root-${rootAlg}-${intAlg}.key`, keys(rootAlg).privateKey.export({ format: "pem", type: "pkcs8" }) as string);
    const ref = openssl("req", "-x509", "-new", "-key", keyPath, "-subj", "/CN=ref", "-days", "1", "-text");
    expect(/Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(ref)?.[1]).toBe(rootSki);
  });

  it("openssl accepts a leaf issued under the intermediate (pathlen 1 root, pathlen 0 intermediate)", async () => {
    const { rootDer, intDer, intKeys } = await chain("P-256", "P-256");
    const rootPath = file("leafchain-root.pem", pem(rootDer));
    const intPath = file("leafchain-int.pem", pem(intDer));
    const intKey = file("leafchain-int.key", intKeys.privateKey.export({ format: "pem", type: "pkcs8" }) as string);
    const leafKey = file("leaf.key", openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"));
    const csr = file("leaf.csr", openssl("req", "-new", "-key", leafKey, "-subj", "/CN=leaf.example.internal"));
    const ext = file("leaf.ext", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:leaf.example.internal\nauthorityKeyIdentifier=keyid\n");
    const leaf = file("leaf.pem", openssl("x509", "-req", "-in", csr, "-CA", intPath, "-CAkey", intKey, "-set_serial", "0x1234", "-days", "1", "-extfile", ext));
    expect(openssl("verify", "-x509_strict", "-CAfile", rootPath, "-untrusted", intPath, leaf).trim()).toBe(`${leaf}: OK`);
  });

  it("serial is positive and random, notBefore is backdated a minute, lifetime is honoured", async () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const a = new X509Certificate(
      await createRootCertificate({ subject: "CN=A", keys: keys("P-256"), keyAlgorithm: "P-256", lifetimeSeconds: 3600, now }),
    );
    const b = new X509Certificate(
      await createRootCertificate({ subject: "CN=A", keys: keys("P-256"), keyAlgorithm: "P-256", lifetimeSeconds: 3600, now }),
    );
    expect(a.serialNumber).not.toBe(b.serialNumber);
    for (const cert of [a, b]) {
      expect(cert.serialNumber.length).toBeGreaterThanOrEqual(28);
      expect(cert.serialNumber.length).toBeLessThanOrEqual(34);
    }
    expect(new Date(a.validFrom).toISOString()).toBe("2029-12-31T23:59:00.000Z");
    expect(new Date(a.validTo).toISOString()).toBe("2030-01-01T01:00:00.000Z");
    // Dates past 2049 switch to GeneralizedTime; openssl must still read them.
    const long = await createRootCertificate({ subject: "CN=Long", keys: keys("P-256"), keyAlgorithm: "P-256", lifetimeSeconds: 40 * YEAR });
    expect(new Date(new X509Certificate(long).validTo).getUTCFullYear()).toBeGreaterThan(2050);
    expect(openssl("x509", "-in", file("long.pem", pem(long)), "-noout", "-enddate")).toMatch(/notAfter=/);
  });

  it("takes the path lengths it is given", async () => {
    const der = await createRootCertificate({ subject: "CN=R", keys: keys("P-256"), keyAlgorithm: "P-256", lifetimeSeconds: YEAR, pathLength: 3 });
    expect(openssl("x509", "-in", file("pl.pem", pem(der)), "-noout", "-text")).toContain("CA:TRUE, pathlen:3");
    await expectCodeAsync(
      createRootCertificate({ subject: "CN=R", keys: keys("P-256"), keyAlgorithm: "P-256", lifetimeSeconds: YEAR, pathLength: -1 }),
      "config_invalid",
    );
  });

  it("refuses an intermediate that would outlive its root, a mismatched signer, a wrong key algorithm", async () => {
    const { rootDer, rootSigner } = await chain("P-256", "P-256");
    const base = { subject: "CN=I", publicKey: keys("P-384").publicKey, issuerCertDer: rootDer, issuerSigner: rootSigner };
    await expectCodeAsync(createIntermediateCertificate({ ...base, lifetimeSeconds: 11 * YEAR }), "bad_lifetime");
    await expectCodeAsync(createIntermediateCertificate({ ...base, lifetimeSeconds: 0 }), "bad_lifetime");
    const other = new SoftwareSigner(keys("P-384").privateKey, keys("P-384").publicKey, "P-384");
    await expectCodeAsync(createIntermediateCertificate({ ...base, issuerSigner: other, lifetimeSeconds: YEAR }), "config_invalid");
    await expectCodeAsync(
      createRootCertificate({ subject: "CN=R", keys: keys("P-256"), keyAlgorithm: "P-384", lifetimeSeconds: YEAR }),
      "config_invalid",
    );
  });

  it("issues an intermediate under a root made by openssl", async () => {
    const rootKey = file("ossl-root.key", openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"));
    const rootPath = file(
      "ossl-root.pem",
      openssl("req", "-x509", "-new", "-key", rootKey, "-subj", "/C=NL/O=Example Org/CN=Example Root", "-days", "3650",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    );
    const rootDer = Buffer.from(new X509Certificate(readFileSync(rootPath)).raw);
    const privateKey = importPrivateKey(readFileSync(rootKey, "utf8"));
    const signer = new SoftwareSigner(privateKey, createPublicKey(privateKey), "P-384");
    const intDer = await createIntermediateCertificate({
      subject: "CN=Signet Intermediate CA,O=Example Org",
      publicKey: keys("Ed25519").publicKey,
      issuerCertDer: rootDer,
      issuerSigner: signer,
      lifetimeSeconds: YEAR,
    });
    const intPath = file("ossl-int.pem", pem(intDer));
    expect(openssl("verify", "-x509_strict", "-CAfile", rootPath, intPath).trim()).toBe(`${intPath}: OK`);
    checkIssuedBy(intDer, rootDer);
  });
});

describe("checkKeyMatchesCertificate / checkIssuedBy", () => {
  it("accepts the right key and refuses another", async () => {
    const rootDer = await createRootCertificate({ subject: "CN=R", keys: keys("P-256"), keyAlgorithm: "P-256", lifetimeSeconds: YEAR });
    checkKeyMatchesCertificate(rootDer, keys("P-256").privateKey);
    const err = expectCode(() => checkKeyMatchesCertificate(rootDer, generateKeyPair("P-256").privateKey), "bad_pem");
    expect(err.message).toBe("the key does not match the certificate");
    expectCode(() => checkKeyMatchesCertificate(rootDer, keys("Ed25519").privateKey), "bad_pem");
  });

  it("checks issuer, signature and CA-ness", async () => {
    const rootKeys = keys("P-256");
    const rootSigner = new SoftwareSigner(rootKeys.privateKey, rootKeys.publicKey, "P-256");
    const rootDer = await createRootCertificate({ subject: "CN=R", keys: rootKeys, keyAlgorithm: "P-256", lifetimeSeconds: YEAR });
    const otherRoot = await createRootCertificate({ subject: "CN=R", keys: keys("P-384"), keyAlgorithm: "P-384", lifetimeSeconds: YEAR });
    const intDer = await createIntermediateCertificate({
      subject: "CN=I",
      publicKey: keys("RSA-2048").publicKey,
      issuerCertDer: rootDer,
      issuerSigner: rootSigner,
      lifetimeSeconds: YEAR / 2,
    });
    checkIssuedBy(rootDer, rootDer);
    checkIssuedBy(intDer, rootDer);
    expectCode(() => checkIssuedBy(intDer, otherRoot), "bad_pem"); // same name, other key
    expectCode(() => checkIssuedBy(intDer, intDer), "bad_pem"); // not self-signed
    const pathLenZeroRoot = await createRootCertificate({ subject: "CN=Z", keys: rootKeys, keyAlgorithm: "P-256", lifetimeSeconds: YEAR, pathLength: 0 });
    const underZero = await createIntermediateCertificate({
      subject: "CN=I",
      publicKey: keys("RSA-2048").publicKey,
      issuerCertDer: pathLenZeroRoot,
      issuerSigner: rootSigner,
      lifetimeSeconds: YEAR / 2,
    });
    expectCode(() => checkIssuedBy(underZero, pathLenZeroRoot), "bad_pem");

    // A leaf (CA:FALSE) is not a CA certificate.
    const leafKey = file("check-leaf.key", openssl("genpkey", "-algorithm", "ed25519"));
    const leaf = openssl("req", "-x509", "-new", "-key", leafKey, "-subj", "/CN=leaf", "-days", "1", "-addext", "basicConstraints=critical,CA:FALSE");
    const leafDer = Buffer.from(new X509Certificate(leaf).raw);
    expectCode(() => checkIssuedBy(leafDer, leafDer), "bad_pem");
  });

  it("SoftwareSigner signatures from generated keys verify with the certificate key", async () => {
    const { privateKey, publicKey } = keys("Ed25519");
    const der = await createRootCertificate({ subject: "CN=E", keys: { privateKey, publicKey }, keyAlgorithm: "Ed25519", lifetimeSeconds: YEAR });
    const signer = new SoftwareSigner(privateKey, publicKey, "Ed25519");
    const data = Buffer.from("tbs");
    expect(verify(null, data, new X509Certificate(der).publicKey, await signer.sign(data))).toBe(true);
  });
});
