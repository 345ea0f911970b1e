// The SCEP CMS layer (scep/cms.ts) and the pkiMessage codec over it (scep/message.ts), with OpenSSL
// as the other side: the vectors in test/vectors/scep/ were made by its make.sh, and what we write
// is read back by `openssl cms` and `openssl pkcs7`.
import { execFileSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isSignetError } from "../ca/errors.js";
import { decodeString, octetString, oid, printableString } from "../ca/x509/der.js";
import { CMS_OIDS, SCEP_OIDS, parseCertificate, parseCsr, pemDecode, type CertificateInfo } from "../ca/x509/index.js";
import {
  attribute,
  buildEnvelopedData,
  buildSignedData,
  contentTypeOf,
  decryptEnvelope,
  degenerate,
  parseEnvelopedData,
  parseSignedData,
  recipientFor,
  signerCertificate,
  toDer,
  verifySignerInfo,
  type ContentCipher,
  type DigestName,
  type ParsedSignedData,
  type ParsedSignerInfo,
  type RecipientKey,
} from "../scep/cms.js";
import { ScepFailure, buildCertRep, parsePkiMessage, type FailInfo } from "../scep/message.js";
import { expectCode } from "./support/expect-code.js";

const VECTORS = fileURLToPath(new URL("./vectors/scep/", import.meta.url));
const vectorPath = (name: string): string => join(VECTORS, name);
const vector = (name: string): Buffer => readFileSync(vectorPath(name));
const certDer = (name: string): Buffer => pemDecode(vector(name).toString("utf8"), ["CERTIFICATE"])[0]!;

const RA_DER = certDer("ra.pem");
const RA = parseCertificate(RA_DER);
const RA_KEY = createPrivateKey(vector("ra.key"));
const CLIENT_DER = certDer("client.pem");
const CLIENT = parseCertificate(CLIENT_DER);
const CLIENT_KEY = createPrivateKey(vector("client.key"));
const CSR = vector("csr.der");
const ENV_AES256 = vector("env-aes256.der");

// A fixed rejection secret makes implicit rejection reproducible: the key it substitutes for a bad
// one is then a fixed function of the ciphertext, so whether that garbage key happens to yield valid
// CBC padding (about 1 in 256) is decided once for these vectors, not anew on every run.
const REJECTION_SECRET = Buffer.alloc(32, 0x5a);
const raRecipient: RecipientKey = { key: RA_KEY, rejectionSecret: REJECTION_SECRET };
const clientRecipient: RecipientKey = { key: CLIENT_KEY, rejectionSecret: REJECTION_SECRET };

const publicKeyOf = (info: CertificateInfo): KeyObject => createPublicKey({ key: info.spki, format: "der", type: "spki" });

const tmp = mkdtempSync(join(tmpdir(), "signet-scep-cms-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs openssl in the temp dir and returns its stdout; a non-zero exit throws with its stderr. */
function openssl(...args: string[]): Buffer {
  return execFileSync("openssl", args, { cwd: tmp, stdio: ["ignore", "pipe", "pipe"] });
}

let files = 0;
/** Writes `content` to a fresh file in the temp dir and returns its path. */
function put(name: string, content: Buffer | string): string {
  const path = join(tmp, `${files++}-${name}`);
  writeFileSync(path, content);
  return path;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to throw, but it returned");
}

/** Decrypts a DER EnvelopedData the way the RA does: find our entry, then decrypt it. */
function open(der: Buffer, cert: CertificateInfo = RA, recipient: RecipientKey = raRecipient): Buffer {
  const env = parseEnvelopedData(toDer(der));
  const entry = recipientFor(env, cert);
  if (!entry) throw new Error("no recipient entry for this certificate");
  return decryptEnvelope(env, entry, recipient);
}

/** Parses a SignedData, finds its only signer's certificate and verifies the signer. */
function verified(raw: Buffer, allowSha1 = false): { sd: ParsedSignedData; si: ParsedSignerInfo; signerDer: Buffer } {
  const sd = parseSignedData(toDer(raw));
  expect(sd.signerInfos).toHaveLength(1);
  const si = sd.signerInfos[0]!;
  const signer = signerCertificate(sd, si);
  verifySignerInfo(sd, si, publicKeyOf(signer.info), allowSha1);
  return { sd, si, signerDer: signer.der };
}

/** The signed attribute `type` of `si`, as its whole DER element. */
function attr(si: ParsedSignerInfo, type: string): Buffer | undefined {
  const a = si.attributes.get(type);
  return a && Buffer.from(a.value.element);
}

/** A copy of `buf` with the byte at `index` inverted. */
function flip(buf: Buffer, index: number): Buffer {
  const out = Buffer.from(buf);
  out[index] = out[index]! ^ 0xff;
  return out;
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode), so a failing case can be replayed. */
function noise(seed: number, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) blocks.push(createHash("sha256").update(`${seed}/${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}

describe("EnvelopedData written by openssl", () => {
  it.each<[string, ContentCipher, string]>([
    ["env-aes128.der", "aes-128-cbc", CMS_OIDS.rsaEncryption],
    ["env-aes256.der", "aes-256-cbc", CMS_OIDS.rsaEncryption],
    ["env-des3.der", "des-ede3-cbc", CMS_OIDS.rsaEncryption],
    ["env-oaep.der", "aes-256-cbc", CMS_OIDS.rsaesOaep],
  ])("%s decrypts to the CSR with %s", (file, cipher, keyEncryption) => {
    const der = vector(file);
    expect(contentTypeOf(der)).toBe(CMS_OIDS.envelopedData);
    const env = parseEnvelopedData(toDer(der));
    expect(env.cipher).toBe(cipher);
    expect(env.recipients).toHaveLength(1);
    const entry = recipientFor(env, RA);
    expect(entry).toBeDefined();
    expect(entry!.keyEncryptionOid).toBe(keyEncryption);
    expect(decryptEnvelope(env, entry!, raRecipient)).toEqual(CSR);
  });

  it("reads a streamed (BER) envelope whose encryptedContent comes in segments", () => {
    const path = put("env-stream.der", "");
    openssl("cms", "-encrypt", "-binary", "-stream", "-aes128", "-in", vectorPath("csr.der"), "-recip", vectorPath("ra.pem"), "-outform", "DER", "-out", path);
    const ber = readFileSync(path);
    expect(ber[1]).toBe(0x80); // indefinite length: it really is BER
    expect(open(ber)).toEqual(CSR);
  });

  it("finds no entry for the RA in an envelope addressed to someone else", () => {
    const env = parseEnvelopedData(toDer(vector("env-other.der")));
    expect(recipientFor(env, RA)).toBeUndefined();
    // It is a sound envelope, just not ours.
    expect(open(vector("env-other.der"), CLIENT, clientRecipient)).toEqual(CSR);
  });

  it("refuses an envelope with the wrong RSA key as bad_scep_message, returning nothing", () => {
    const env = parseEnvelopedData(ENV_AES256);
    const entry = recipientFor(env, RA)!;
    const impostor: RecipientKey = { key: CLIENT_KEY, rejectionSecret: REJECTION_SECRET };
    let out: Buffer | undefined;
    expectCode(() => (out = decryptEnvelope(env, entry, impostor)), "bad_scep_message");
    expect(out).toBeUndefined();
  });

  it("answers every corrupted encryptedKey with one and the same error (implicit rejection)", () => {
    const env = parseEnvelopedData(ENV_AES256);
    const entry = recipientFor(env, RA)!;
    const attempt = (encryptedKey: Buffer): unknown => thrown(() => decryptEnvelope(env, { ...entry, encryptedKey }, raRecipient));
    const a = attempt(flip(entry.encryptedKey, 0));
    const b = attempt(flip(entry.encryptedKey, 200));
    const short = attempt(entry.encryptedKey.subarray(1));
    for (const err of [a, b, short]) expect(isSignetError(err, "bad_scep_message"), String(err)).toBe(true);
    // The same words as when the key is right but the content is not: no padding oracle.
    const content = Buffer.from(env.encryptedContent);
    content[content.length - 1]! ^= 0x01;
    const badContent = thrown(() => decryptEnvelope({ ...env, encryptedContent: content }, entry, raRecipient));
    expect(isSignetError(badContent, "bad_scep_message")).toBe(true);
    const messages = new Set([a, b, short, badContent].map((e) => (e as Error).message));
    expect([...messages]).toEqual(["the pkcsPKIEnvelope does not decrypt"]);
  });

  it("never yields the CSR from a corrupted key, and fails only one way", () => {
    // A substituted key decrypts to garbage whose CBC padding is valid about 1 time in 256, so some
    // of these may return bytes; none may return the real content or fail differently.
    const env = parseEnvelopedData(ENV_AES256);
    const entry = recipientFor(env, RA)!;
    const messages = new Set<string>();
    let failures = 0;
    for (let i = 0; i < entry.encryptedKey.length; i += 4) {
      try {
        const out = decryptEnvelope(env, { ...entry, encryptedKey: flip(entry.encryptedKey, i) }, raRecipient);
        expect(out.equals(CSR)).toBe(false);
      } catch (err) {
        expect(isSignetError(err, "bad_scep_message"), String(err)).toBe(true);
        messages.add((err as Error).message);
        failures++;
      }
    }
    expect([...messages]).toEqual(["the pkcsPKIEnvelope does not decrypt"]);
    expect(failures).toBeGreaterThan(50); // of 64
  });

  it("refuses a corrupted OAEP key transport with the same error", () => {
    const env = parseEnvelopedData(vector("env-oaep.der"));
    const entry = recipientFor(env, RA)!;
    expectCode(() => decryptEnvelope(env, { ...entry, encryptedKey: flip(entry.encryptedKey, 10) }, raRecipient), "bad_scep_message", /^the pkcsPKIEnvelope does not decrypt$/);
  });

  /** An OAEP envelope with SHA-256 and MGF1-SHA-256 instead of the SHA-1 defaults, made once. */
  let oaepSha256: Buffer | undefined;
  function makeOaepSha256(): Buffer {
    if (!oaepSha256) {
      const path = put("env-oaep-sha256.der", "");
      openssl("cms", "-encrypt", "-binary", "-aes256", "-in", vectorPath("csr.der"), "-recip", vectorPath("ra.pem"), "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-outform", "DER", "-out", path);
      oaepSha256 = readFileSync(path);
    }
    return oaepSha256;
  }

  it("has openssl write an OAEP envelope with SHA-256 that openssl itself decrypts", () => {
    const path = put("env-oaep-sha256-again.der", makeOaepSha256());
    const out = openssl("cms", "-decrypt", "-inform", "DER", "-in", path, "-recip", vectorPath("ra.pem"), "-inkey", vectorPath("ra.key"), "-binary");
    expect(out).toEqual(CSR);
    expect(recipientFor(parseEnvelopedData(makeOaepSha256()), RA)!.keyEncryptionOid).toBe(CMS_OIDS.rsaesOaep);
  });

  // BUG (scep/cms.ts decryptEnvelope): the RSAES-OAEP-params of keyEncryptionAlgorithm are ignored
  // and SHA-1 is assumed, so the envelope above (which openssl decrypts) fails as bad_scep_message,
  // "the pkcsPKIEnvelope does not decrypt", when it should decrypt, or at least be refused as
  // bad_scep_algorithm.
  it("decrypts, or refuses as an unsupported algorithm, an OAEP envelope with SHA-256", () => {
    let err: unknown;
    try {
      expect(open(makeOaepSha256())).toEqual(CSR);
      return;
    } catch (e) {
      err = e;
    }
    expect(isSignetError(err, "bad_scep_algorithm"), String(err)).toBe(true);
  });
});

describe("SignedData written by openssl", () => {
  it.each(["signed-der.der", "signed-ber.der"])("%s verifies and carries the AES-256 envelope", (file) => {
    const { sd, si, signerDer } = verified(vector(file));
    expect(sd.contentType).toBe(CMS_OIDS.data);
    expect(signerDer).toEqual(CLIENT_DER);
    expect(si.digest).toBe("sha256");
    expect(sd.content).toEqual(toDer(ENV_AES256));
    expect(open(sd.content!)).toEqual(CSR);
  });

  it("leaves DER as it is and turns the streamed form into DER", () => {
    const der = vector("signed-der.der");
    const ber = vector("signed-ber.der");
    expect(toDer(der)).toEqual(der);
    expect(ber[1]).toBe(0x80);
    const normalised = toDer(ber);
    expect(normalised).not.toEqual(ber);
    expect(toDer(normalised)).toEqual(normalised);
    expect(parseSignedData(normalised).content).toEqual(parseSignedData(der).content);
  });

  it("accepts SHA-1 only in legacy mode", () => {
    const raw = vector("signed-sha1.der");
    expectCode(() => verified(raw, false), "bad_scep_algorithm");
    const { si, sd } = verified(raw, true);
    expect(si.digest).toBe("sha1");
    expect(sd.content).toEqual(ENV_AES256);
  });

  it("rejects a flipped byte in the signature", () => {
    const der = vector("signed-der.der");
    // openssl writes no unsigned attributes, so the file ends with the signature.
    expectCode(() => verified(flip(der, der.length - 8)), "bad_scep_signature", /signature over the signed attributes/);
  });

  it("rejects changed content by its messageDigest", () => {
    const der = vector("signed-der.der");
    const at = der.indexOf(ENV_AES256);
    expect(at).toBeGreaterThan(0);
    expectCode(() => verified(flip(der, at + ENV_AES256.length - 1)), "bad_scep_signature", /messageDigest/);
  });

  it("rejects changed signed attributes, and a key that is not the signer's", () => {
    const { sd, si } = verified(vector("signed-der.der"));
    const attrs = Buffer.from(si.signedAttrsDer);
    attrs[attrs.length - 1]! ^= 0x01;
    expectCode(() => verifySignerInfo(sd, { ...si, signedAttrsDer: attrs }, publicKeyOf(CLIENT), false), "bad_scep_signature");
    expectCode(() => verifySignerInfo(sd, si, publicKeyOf(RA), false), "bad_scep_signature");
  });

  /** signed-der.der with eContentType changed from id-data to id-envelopedData. The contentType
   * attribute, which the signature covers, still says id-data. */
  function retyped(): Buffer {
    const der = Buffer.from(vector("signed-der.der"));
    // The first id-data in the file is eContentType (the outer OID is id-signedData).
    const at = der.indexOf(oid(CMS_OIDS.data));
    oid(CMS_OIDS.envelopedData).copy(der, at); // the same length: only the last arc changes
    return der;
  }

  it("can have its eContentType changed without touching what is signed", () => {
    const sd = parseSignedData(retyped());
    expect(sd.contentType).toBe(CMS_OIDS.envelopedData);
    expect(attr(sd.signerInfos[0]!, CMS_OIDS.contentType)).toEqual(oid(CMS_OIDS.data));
    expect(sd.content).toEqual(ENV_AES256);
  });

  // BUG (scep/cms.ts verifySignerInfo): the contentType attribute must be present but its value is
  // never compared with eContentType, which RFC 5652 §11.1 says it MUST match; the message above
  // verifies.
  it("rejects an eContentType that differs from the signed contentType attribute", () => {
    expect(isSignetError(thrown(() => verified(retyped())))).toBe(true);
  });

  it("refuses a message that lacks its signer's certificate", () => {
    const sd = parseSignedData(vector("signed-der.der"));
    expectCode(() => signerCertificate({ ...sd, certificates: [RA_DER] }, sd.signerInfos[0]!), "bad_scep_message");
  });
});

describe("malformed input", () => {
  /** Every failure of `fn` is a SignetError: never a TypeError, RangeError or a Node crypto error. */
  function onlySignetErrors(fn: () => unknown, label: string): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      expect(isSignetError(err), `${label}: ${String(err)}`).toBe(true);
      return false;
    }
  }

  it("refuses every truncation of the DER and BER SignedData", () => {
    for (const file of ["signed-der.der", "signed-ber.der"]) {
      const raw = vector(file);
      for (let n = 0; n < raw.length; n += 3) {
        expect(onlySignetErrors(() => parseSignedData(toDer(raw.subarray(0, n))), `${file}[0, ${n})`), `${file}[0, ${n})`).toBe(false);
      }
    }
  });

  it("refuses every truncation of an envelope", () => {
    for (let n = 0; n < ENV_AES256.length; n += 3) {
      expect(onlySignetErrors(() => parseEnvelopedData(toDer(ENV_AES256.subarray(0, n))), `[0, ${n})`)).toBe(false);
    }
  });

  it("refuses empty input, random bytes and deep nesting with SignetErrors", () => {
    expectCode(() => toDer(Buffer.alloc(0)), "bad_scep_message");
    expectCode(() => parseSignedData(Buffer.alloc(0)), "bad_scep_message");
    for (let seed = 0; seed < 300; seed++) {
      const junk = noise(seed, seed * 3);
      // Half of them behind a plausible SEQUENCE header, to get past the first byte.
      if (seed % 2) junk.set([0x30, 0x80], 0);
      expect(onlySignetErrors(() => parseSignedData(toDer(junk)), `noise ${seed}`)).toBe(false);
      expect(onlySignetErrors(() => parseEnvelopedData(toDer(junk)), `noise ${seed}`)).toBe(false);
    }
    const deep = Buffer.concat([Buffer.alloc(2000, Buffer.from([0x30, 0x80])), Buffer.alloc(2000)]);
    expectCode(() => toDer(deep), "bad_scep_message", /nested too deeply/);
  });

  it("answers a request with any one byte changed with a SignetError or a ScepFailure", () => {
    const request = scepRequest();
    for (let i = 0; i < request.length; i += 2) {
      try {
        parsePkiMessage(flip(request, i), { sha1Signatures: false, legacy: false });
      } catch (err) {
        expect(isSignetError(err) || err instanceof ScepFailure, `byte ${i}: ${String(err)}`).toBe(true);
      }
    }
  });

  it("answers an envelope with any one byte changed with a SignetError, or decrypts it", () => {
    for (let i = 0; i < ENV_AES256.length; i += 2) {
      onlySignetErrors(() => {
        const env = parseEnvelopedData(toDer(flip(ENV_AES256, i)));
        // A changed issuer or serial addresses someone else: nothing to decrypt.
        const entry = recipientFor(env, RA);
        if (entry) decryptEnvelope(env, entry, raRecipient);
      }, `byte ${i}`);
    }
  });
});

describe("what we write, read by openssl", () => {
  const content = Buffer.from("a payload for openssl, longer than one cipher block");

  it.each<ContentCipher>(["aes-128-cbc", "aes-192-cbc", "aes-256-cbc", "des-ede3-cbc"])("EnvelopedData with %s decrypts with openssl cms", (cipher) => {
    const der = buildEnvelopedData(content, CLIENT_DER, cipher);
    const env = put("ours-env.der", der);
    const out = openssl("cms", "-decrypt", "-inform", "DER", "-in", env, "-recip", vectorPath("client.pem"), "-inkey", vectorPath("client.key"), "-binary");
    expect(out).toEqual(content);
    expect(open(der, CLIENT, clientRecipient)).toEqual(content);
  });

  it.each<DigestName>(["sha256", "sha384", "sha512"])("SignedData signed by the RA with %s verifies with openssl cms", (digest) => {
    const der = buildSignedData({ content, certificates: [RA_DER], signer: { certDer: RA_DER, key: RA_KEY, digest, attributes: [] } });
    const path = put("ours-signed.der", der);
    const out = openssl("cms", "-verify", "-inform", "DER", "-in", path, "-CAfile", vectorPath("ra.pem"), "-purpose", "any", "-binary");
    expect(out).toEqual(content);
    const { signerDer, si } = verified(der);
    expect(signerDer).toEqual(RA_DER);
    expect(si.digest).toBe(digest);
  });

  it("SignedData signed with ECDSA verifies with openssl cms", () => {
    const conf = put("ec.cnf", "[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = ec signer\n[ext]\nkeyUsage = critical, digitalSignature\n");
    const keyPath = join(tmp, "ec.key");
    const certPath = join(tmp, "ec.pem");
    openssl("req", "-config", conf, "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath, "-out", certPath, "-days", "2", "-extensions", "ext");
    const ecDer = pemDecode(readFileSync(certPath, "utf8"), ["CERTIFICATE"])[0]!;
    const der = buildSignedData({ content, certificates: [ecDer], signer: { certDer: ecDer, key: createPrivateKey(readFileSync(keyPath)), digest: "sha256", attributes: [] } });
    const out = openssl("cms", "-verify", "-inform", "DER", "-in", put("ours-ec.der", der), "-CAfile", certPath, "-purpose", "any", "-binary");
    expect(out).toEqual(content);
    expect(verified(der).signerDer).toEqual(ecDer);
  });

  it("a degenerate SignedData lists both certificates, in order", () => {
    const der = degenerate([RA_DER, CLIENT_DER]);
    const out = openssl("pkcs7", "-inform", "DER", "-in", put("degenerate.der", der), "-print_certs");
    expect(pemDecode(out.toString("utf8"), ["CERTIFICATE"])).toEqual([RA_DER, CLIENT_DER]);
    const sd = parseSignedData(der);
    expect(sd.signerInfos).toEqual([]);
    expect(sd.content).toBeUndefined();
    expect(sd.certificates).toEqual([RA_DER, CLIENT_DER]);
  });
});

// A PKCSReq as a client sends it: the CSR enveloped to the RA, signed by the client's self-signed
// certificate, with the SCEP attributes of RFC 8894 §3.2.1.
const TRANSACTION_ID = createHash("sha256").update(CLIENT.spki).digest("hex").toUpperCase();
const SENDER_NONCE = noise(8894, 16);

interface RequestOptions {
  messageType?: string;
  envelope?: Buffer;
  digest?: DigestName;
  key?: KeyObject;
  certificates?: Buffer[];
}

function scepRequest(o: RequestOptions = {}): Buffer {
  return buildSignedData({
    content: o.envelope ?? ENV_AES256,
    certificates: o.certificates ?? [CLIENT_DER],
    signer: {
      certDer: CLIENT_DER,
      key: o.key ?? CLIENT_KEY,
      digest: o.digest ?? "sha256",
      attributes: [
        attribute(SCEP_OIDS.messageType, printableString(o.messageType ?? "19")),
        attribute(SCEP_OIDS.transactionID, printableString(TRANSACTION_ID)),
        attribute(SCEP_OIDS.senderNonce, octetString(SENDER_NONCE)),
      ],
    },
  });
}

function scepFailure(fn: () => unknown): ScepFailure {
  const err = thrown(fn);
  expect(err, String(err)).toBeInstanceOf(ScepFailure);
  return err as ScepFailure;
}

describe("SCEP pkiMessage", () => {
  it("reads a PKCSReq: type, transaction, nonce, signer and envelope", () => {
    const req = parsePkiMessage(scepRequest(), { sha1Signatures: false, legacy: false });
    expect(req.messageType).toBe("PKCSReq");
    expect(req.transactionId).toBe(TRANSACTION_ID);
    expect(req.transactionIdElement).toEqual(printableString(TRANSACTION_ID));
    expect(req.senderNonce).toEqual(SENDER_NONCE);
    expect(req.digest).toBe("sha256");
    expect(req.signer.der).toEqual(CLIENT_DER);
    expect(req.envelope.cipher).toBe("aes-256-cbc");
    expect(decryptEnvelope(req.envelope, recipientFor(req.envelope, RA)!, raRecipient)).toEqual(CSR);
  });

  it("refuses a message without the SCEP attributes as bad_scep_message (it cannot be answered)", () => {
    expectCode(() => parsePkiMessage(vector("signed-der.der"), { sha1Signatures: false, legacy: false }), "bad_scep_message", /transactionID/);
  });

  it.each(["3", "99"])("answers messageType %s with badRequest, addressed to the sender", (messageType) => {
    const f = scepFailure(() => parsePkiMessage(scepRequest({ messageType }), { sha1Signatures: false, legacy: false }));
    expect(f.failInfo).toBe<FailInfo>("badRequest");
    expect(f.replyTo.senderNonce).toEqual(SENDER_NONCE);
    expect(f.replyTo.transactionIdElement).toEqual(printableString(TRANSACTION_ID));
  });

  it("answers a bad signature with badMessageCheck", () => {
    const request = scepRequest();
    // buildSignedData writes no unsigned attributes: the last byte belongs to the signature.
    expect(scepFailure(() => parsePkiMessage(flip(request, request.length - 1), { sha1Signatures: false, legacy: false })).failInfo).toBe<FailInfo>("badMessageCheck");
    // Signed by a key that is not the certificate's.
    expect(scepFailure(() => parsePkiMessage(scepRequest({ key: RA_KEY }), { sha1Signatures: false, legacy: false })).failInfo).toBe<FailInfo>("badMessageCheck");
    // The signer's certificate missing.
    expect(scepFailure(() => parsePkiMessage(scepRequest({ certificates: [RA_DER] }), { sha1Signatures: false, legacy: false })).failInfo).toBe<FailInfo>("badMessageCheck");
  });

  it("answers 3DES and SHA-1 with badAlg unless in legacy mode", () => {
    const des3 = scepRequest({ envelope: vector("env-des3.der") });
    expect(scepFailure(() => parsePkiMessage(des3, { sha1Signatures: false, legacy: false })).failInfo).toBe<FailInfo>("badAlg");
    expect(parsePkiMessage(des3, { sha1Signatures: true, legacy: true }).envelope.cipher).toBe("des-ede3-cbc");
    const sha1 = scepRequest({ digest: "sha1" });
    const f = scepFailure(() => parsePkiMessage(sha1, { sha1Signatures: false, legacy: false }));
    expect(f.failInfo).toBe<FailInfo>("badAlg");
    expect(f.replyTo.digest).toBe("sha256"); // the refusal itself is not signed with SHA-1
    expect(parsePkiMessage(sha1, { sha1Signatures: true, legacy: true }).digest).toBe("sha1");
  });

  it("answers content that is not EnvelopedData with badRequest", () => {
    const f = scepFailure(() => parsePkiMessage(scepRequest({ envelope: degenerate([CLIENT_DER]) }), { sha1Signatures: false, legacy: false }));
    expect(f.failInfo).toBe<FailInfo>("badRequest");
  });

  it("writes a SUCCESS CertRep that answers the request and decrypts with openssl", () => {
    const req = parsePkiMessage(scepRequest(), { sha1Signatures: false, legacy: false });
    const payload = degenerate([CLIENT_DER]);
    const rep = buildCertRep({
      replyTo: req,
      status: "SUCCESS",
      payload,
      recipientCertDer: req.signer.der,
      signer: { certDer: RA_DER, key: RA_KEY },
      certificates: [RA_DER],
    });
    const { sd, si, signerDer } = verified(rep);
    expect(signerDer).toEqual(RA_DER);
    expect(attr(si, SCEP_OIDS.messageType)).toEqual(printableString("3"));
    expect(attr(si, SCEP_OIDS.pkiStatus)).toEqual(printableString("0"));
    expect(attr(si, SCEP_OIDS.transactionID)).toEqual(printableString(TRANSACTION_ID));
    expect(attr(si, SCEP_OIDS.recipientNonce)).toEqual(octetString(SENDER_NONCE));
    const nonce = si.attributes.get(SCEP_OIDS.senderNonce)!.value;
    expect(nonce.length).toBe(16);
    expect(Buffer.from(nonce.content).equals(SENDER_NONCE)).toBe(false);
    expect(attr(si, SCEP_OIDS.failInfo)).toBeUndefined();

    // openssl agrees on the signature, and opens the envelope with the client's key.
    const repPath = put("certrep.der", rep);
    const env = openssl("cms", "-verify", "-inform", "DER", "-in", repPath, "-CAfile", vectorPath("ra.pem"), "-purpose", "any", "-binary");
    expect(env).toEqual(sd.content);
    const out = openssl("cms", "-decrypt", "-inform", "DER", "-in", put("certrep-env.der", sd.content!), "-recip", vectorPath("client.pem"), "-inkey", vectorPath("client.key"), "-binary");
    expect(out).toEqual(payload);
    expect(parseSignedData(out).certificates).toEqual([CLIENT_DER]);
  });

  it("writes a FAILURE CertRep with failInfo and no content", () => {
    const f = scepFailure(() => parsePkiMessage(scepRequest({ messageType: "99" }), { sha1Signatures: false, legacy: false }));
    const rep = buildCertRep({ replyTo: f.replyTo, status: "FAILURE", failInfo: f.failInfo, signer: { certDer: RA_DER, key: RA_KEY }, certificates: [RA_DER] });
    const { sd, si } = verified(rep);
    expect(sd.content).toBeUndefined();
    expect(attr(si, SCEP_OIDS.pkiStatus)).toEqual(printableString("2"));
    expect(decodeString(si.attributes.get(SCEP_OIDS.failInfo)!.value, "failInfo", "bad_scep_message")).toBe("2"); // badRequest
    expect(attr(si, SCEP_OIDS.recipientNonce)).toEqual(octetString(SENDER_NONCE));
    // No eContent reads to openssl as a detached signature over nothing.
    const empty = put("empty", "");
    openssl("cms", "-verify", "-inform", "DER", "-in", put("certrep-failure.der", rep), "-content", empty, "-CAfile", vectorPath("ra.pem"), "-purpose", "any", "-binary");
  });
});

describe("toDer limits", () => {
  it("regression: refuses a message with tens of thousands of elements instead of normalising it", () => {
    const nulls = Buffer.alloc(25_000 * 2);
    for (let i = 0; i < nulls.length; i += 2) nulls[i] = 0x05;
    const body = Buffer.concat([Buffer.from([0x30, 0x80]), nulls, Buffer.from([0, 0])]);
    expect(() => toDer(body)).toThrow(/too many elements/);
  });
});

describe("a PKCSReq captured from micromdm's scepclient", () => {
  const raw = readFileSync(join(VECTORS, "scepclient-pkcsreq.der"));
  it("is SHA-1 signed and DES encrypted, so only legacy mode reads it", () => {
    expect(() => parsePkiMessage(raw, { sha1Signatures: true, legacy: false })).toThrow(ScepFailure);
    const req = parsePkiMessage(raw, { sha1Signatures: true, legacy: true });
    expect(req.messageType).toBe("PKCSReq");
    expect(req.digest).toBe("sha1");
    expect(req.envelope.cipher).toBe("des-cbc");
    expect(req.senderNonce.length).toBe(16);
  });
  it("decrypts with the RA key to the CSR scepclient wrapped, with its challenge", () => {
    const req = parsePkiMessage(raw, { sha1Signatures: true, legacy: true });
    const raInfo = parseCertificate(readFileSync(join(VECTORS, "ra.pem"), "utf8"));
    const entry = recipientFor(req.envelope, raInfo)!;
    expect(entry).toBeDefined();
    const csrDer = decryptEnvelope(req.envelope, entry, { key: createPrivateKey(readFileSync(join(VECTORS, "ra.key"))), rejectionSecret: Buffer.alloc(32, 1) });
    const csr = parseCsr(csrDer);
    expect(csr.subject.commonName).toBe("scepclient-vector");
    expect(csr.challengePassword).toBe("vector-scepclient-secret");
    expect(csrDer.equals(pemDecode(readFileSync(join(VECTORS, "scepclient-csr.pem"), "utf8"), ["CERTIFICATE REQUEST"])[0]!)).toBe(true);
  });
});
