// TPM 2.0 structures, CBOR and the device-attest-01 statement check, on bytes a real software TPM
// produced (test/vectors/tpm, captured from swtpm with tpm2-tools), and on every way they can be
// broken. The end-to-end path with a live swtpm is test/attestation-tpm.test.ts.
import { createHash, createHmac, createPublicKey, generateKeyPairSync, sign, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isAttestationError } from "../ca/attestation/errors.js";
import { decodeCbor, encodeCbor } from "../ca/tpm/cbor.js";
import { parseAttestationObject, verifyTpmStatement } from "../ca/tpm/device-attest.js";
import { EkRoots } from "../ca/tpm/ek.js";
import { kdfa, makeCredential, parseTpmAttest, parseTpmPublic, TPM_ALG, TPM_ST, tpm2ToolsCredentialFile } from "../ca/tpm/tpm2.js";

const V = (f: string) => readFileSync(join(import.meta.dirname, "vectors", "tpm", f));
const akPub = parseTpmPublic(V("ak.pub"), { sized: true });
const keySized = V("key.pub");
const pubArea = keySized.subarray(2, 2 + keySized.readUInt16BE(0));
const certInfo = V("certify-creation.attest");
const sig = V("certify-creation.sig");
const qualifying = Buffer.from(V("q.hex").toString().trim(), "hex");

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (isAttestationError(err)) return err.code;
    throw err;
  }
  return "none";
};

describe("TPM structures", () => {
  it("parses TPM2B_PUBLIC of an AK and an EK as tpm2-tools wrote them, with the Names the TPM computed", () => {
    expect(akPub.type).toBe("ecc");
    expect(akPub.ecc?.curve).toBe("P-256");
    expect(akPub.attributes).toBe(0x00050072);
    // tpm2_createak printed this Name.
    expect(akPub.name.toString("hex")).toBe("000b1bf5203c169ea57a08e557580b690e3d995f7b4b3e272541df7cd563654098f8");
    expect(akPub.spki.equals(createPublicKey(V("ak.pem")).export({ format: "der", type: "spki" }))).toBe(true);
    const ek = parseTpmPublic(V("ek.pub"), { sized: true });
    expect(ek.type).toBe("rsa");
    expect(ek.symmetric).toEqual({ algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB });
    expect(ek.spki.equals(new X509Certificate(V("ek-cert.der")).publicKey.export({ format: "der", type: "spki" }))).toBe(true);
  });

  it("parses the TPMS_ATTEST of TPM2_CertifyCreation: the key's Name and the qualifying data", () => {
    const a = parseTpmAttest(certInfo);
    expect(a.type).toBe(TPM_ST.ATTEST_CREATION);
    expect(a.extraData.equals(qualifying)).toBe(true);
    expect(a.objectName.equals(parseTpmPublic(pubArea).name)).toBe(true);
  });

  it("refuses truncated, padded and foreign structures", () => {
    expect(code(() => parseTpmPublic(pubArea.subarray(0, pubArea.length - 1)))).toBe("malformed");
    expect(code(() => parseTpmPublic(Buffer.concat([pubArea, Buffer.from([0])])))).toBe("malformed");
    expect(code(() => parseTpmPublic(V("ak.pub")))).toBe("malformed"); // sized, read as unsized
    const keyedHash = Buffer.from(pubArea);
    keyedHash.writeUInt16BE(TPM_ALG.KEYEDHASH, 0);
    expect(code(() => parseTpmPublic(keyedHash))).toBe("malformed");
    const badMagic = Buffer.from(certInfo);
    badMagic[0] = 0;
    expect(code(() => parseTpmAttest(badMagic))).toBe("malformed");
    const quote = Buffer.from(certInfo);
    quote.writeUInt16BE(TPM_ST.ATTEST_QUOTE, 4);
    expect(code(() => parseTpmAttest(quote))).toBe("malformed");
    expect(code(() => parseTpmAttest(certInfo.subarray(0, 40)))).toBe("malformed");
  });

  it("KDFa is SP 800-108 counter mode with HMAC, NUL-terminated label and the bit count (known answer)", () => {
    // Computed independently: HMAC-SHA256(key, 00000001 || "STORAGE" 00 || ctx || 00000080).
    const key = Buffer.alloc(32, 1);
    const ctx = Buffer.from("000b" + "22".repeat(32), "hex");
    const want = createHmacSha256(key, Buffer.concat([Buffer.from("00000001", "hex"), Buffer.from("STORAGE\0"), ctx, Buffer.from("00000080", "hex")])).subarray(0, 16);
    expect(kdfa(TPM_ALG.SHA256, key, "STORAGE", ctx, Buffer.alloc(0), 128).equals(want)).toBe(true);
    // Longer outputs chain the counter.
    const long = kdfa(TPM_ALG.SHA256, key, "INTEGRITY", Buffer.alloc(0), Buffer.alloc(0), 384);
    expect(long.length).toBe(48);
    expect(long.subarray(32).equals(createHmacSha256(key, Buffer.concat([Buffer.from("00000002", "hex"), Buffer.from("INTEGRITY\0"), Buffer.from("00000180", "hex")])).subarray(0, 16))).toBe(true);
  });

  it("MakeCredential writes the tpm2-tools credential file layout, and needs an RSA EK", () => {
    const ek = new X509Certificate(V("ek-cert.der")).publicKey;
    const made = makeCredential({ publicKey: ek }, akPub.name, Buffer.alloc(32, 9));
    const file = tpm2ToolsCredentialFile(made);
    expect(file.readUInt32BE(0)).toBe(0xbadcc0de);
    expect(file.readUInt32BE(4)).toBe(1);
    // TPM2B_ID_OBJECT: HMAC digest (2 + 32) and the encrypted TPM2B_DIGEST (2 + 32).
    expect(file.readUInt16BE(8)).toBe(68);
    expect(file.readUInt16BE(8 + 2 + 68)).toBe(256);
    expect(file.length).toBe(8 + 2 + 68 + 2 + 256);
    // Every credential has a fresh seed.
    expect(makeCredential({ publicKey: ek }, akPub.name, Buffer.alloc(32, 9)).idObject.equals(made.idObject)).toBe(false);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    expect(code(() => makeCredential({ publicKey: ec }, akPub.name, Buffer.alloc(32)))).toBe("unsupported_alg");
  });
});

describe("EK certificate chains", () => {
  const roots = new EkRoots(V("manufacturer-root.pem").toString());
  const intermediate = new X509Certificate(V("manufacturer-intermediate.pem")).raw;
  it("chains the EK through the device's intermediate to the manufacturer root, and reads the TPM's attributes", () => {
    const ek = roots.verify(V("ek-cert.der"), [intermediate], new Date());
    expect(ek).toMatchObject({ issuer: "CN=swtpm-localca-rootca", tpmManufacturer: "id:00001014", tpmModel: "swtpm", tpmVersion: "id:20191023" });
    expect(ek.permanentIdentifier).toMatch(/^[0-9a-f]{64}$/);
  });
  it("refuses a missing link, another root, a CA as the EK, and garbage", () => {
    expect(code(() => roots.verify(V("ek-cert.der"), [], new Date()))).toBe("unknown_key");
    const other = new EkRoots(V("manufacturer-intermediate.pem").toString());
    expect(code(() => new EkRoots("").verify(V("ek-cert.der"), [intermediate], new Date()))).toBe("unknown_key");
    // The intermediate itself is not an EK certificate.
    expect(code(() => other.verify(intermediate, [], new Date()))).toBe("claim_mismatch");
    expect(code(() => roots.verify(Buffer.from("nope"), [], new Date()))).toBe("malformed");
    // Before the chain's validity (swtpm's certificates end in 9999).
    expect(code(() => roots.verify(V("ek-cert.der"), [intermediate], new Date("2020-01-01")))).toBe("not_yet_valid");
  });
});

describe("CBOR", () => {
  it("round-trips what attestation objects use", () => {
    const v = new Map<string | number, never>([["fmt", "tpm" as never], ["n", -7 as never], ["list", [Buffer.from([1, 2]), "x", true, null] as never], ["big", 70000 as never]]);
    expect(decodeCbor(encodeCbor(v))).toEqual(v);
  });
  it("refuses indefinite lengths, non-shortest forms, tags, floats, duplicate keys, trailing bytes and deep nesting", () => {
    const bad = {
      indefinite: Buffer.from([0x5f, 0x41, 0x00, 0xff]),
      longForm: Buffer.from([0x18, 0x05]),
      tag: Buffer.from([0xc1, 0x00]),
      float: Buffer.from([0xf9, 0x3c, 0x00]),
      duplicate: Buffer.from([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]),
      trailing: Buffer.from([0x01, 0x02]),
      truncated: Buffer.from([0x45, 0x01]),
      nested: Buffer.from(new Array(20).fill(0x81).concat([0x01])),
      hugeArray: Buffer.from([0x9a, 0x00, 0x10, 0x00, 0x00]),
      badUtf8: Buffer.from([0x62, 0xc3, 0x28]),
    };
    for (const [what, b] of Object.entries(bad)) expect(code(() => decodeCbor(b)), what).toBe("malformed");
  });
});

describe("device-attest-01 statements", () => {
  const akKey = createPublicKey(V("ak.pem"));
  const attObj = (over: Record<string, unknown> = {}, top: Record<string, unknown> = {}) =>
    encodeCbor(new Map<string, never>(Object.entries({ fmt: "tpm", attStmt: new Map(Object.entries({ ver: "2.0", alg: -7, x5c: [Buffer.from([0x30, 0])], sig, certInfo, pubArea, ...over })), ...top }) as never)).toString("base64url");
  // The captured statement's extraData is SHA-256("hello-keyauth"): that string plays the key authorization.
  const KA = "hello-keyauth";

  it("accepts the TPM's statement for its key authorization and returns the attested key", () => {
    const st = parseAttestationObject(attObj());
    const { key } = verifyTpmStatement(st, akKey, KA);
    expect(key.spki.equals(parseTpmPublic(pubArea).spki)).toBe(true);
    expect(createHash("sha256").update(KA).digest().equals(qualifying)).toBe(true);
  });

  it("takes the signature as a TPMT_SIGNATURE too (tpm2-tools -f tss), as WebAuthn describes it", () => {
    const st = parseAttestationObject(attObj({ certInfo: V("certify-creation-tss.attest"), sig: V("certify-creation-tss.sig") }));
    expect(V("certify-creation-tss.sig").readUInt16BE(0)).toBe(0x0018);
    expect(verifyTpmStatement(st, akKey, KA).key.spki.equals(parseTpmPublic(pubArea).spki)).toBe(true);
    // The same structure with a flipped bit in s does not verify.
    const bad = Buffer.from(V("certify-creation-tss.sig"));
    bad[bad.length - 1]! ^= 1;
    expect(code(() => verifyTpmStatement(parseAttestationObject(attObj({ certInfo: V("certify-creation-tss.attest"), sig: bad })), akKey, KA))).toBe("bad_signature");
  });

  it("refuses another key authorization, another key, a bad signature, a wrong alg and another AK", () => {
    const st = parseAttestationObject(attObj());
    expect(code(() => verifyTpmStatement(st, akKey, "another.keyauth"))).toBe("claim_mismatch");
    const otherKey = parseAttestationObject(attObj({ pubArea: V("ak.pub").subarray(2) }));
    expect(code(() => verifyTpmStatement(otherKey, akKey, KA))).toBe("claim_mismatch");
    const flipped = Buffer.from(certInfo);
    flipped[flipped.length - 1]! ^= 1;
    expect(code(() => verifyTpmStatement(parseAttestationObject(attObj({ certInfo: flipped })), akKey, KA))).toBe("bad_signature");
    expect(code(() => verifyTpmStatement(parseAttestationObject(attObj({ alg: -257 })), akKey, KA))).toBe("claim_mismatch");
    expect(code(() => verifyTpmStatement(parseAttestationObject(attObj({ alg: -8 })), akKey, KA))).toBe("unsupported_alg");
    const stranger = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(code(() => verifyTpmStatement(st, stranger.publicKey, KA))).toBe("bad_signature");
    // A statement the stranger signs over the real certInfo still names the TPM's key, but the
    // caller verifies with the AK from x5c, whose certificate it trusts: that is what binds it.
    const forged = sign("sha256", certInfo, stranger.privateKey);
    expect(code(() => verifyTpmStatement(parseAttestationObject(attObj({ sig: forged })), akKey, KA))).toBe("bad_signature");
  });

  /** A TPMS_ATTEST (creation) for `area`'s Name with this key authorization, signed by a key of the
   * test's own: the statement is valid in every respect but the key's attributes. */
  const synthetic = (area: Buffer, ka = KA) => {
    const signer = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const b2 = (b: Buffer) => Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
    const info = Buffer.concat([
      Buffer.from("ff544347801a", "hex"),
      b2(Buffer.alloc(0)),
      b2(createHash("sha256").update(ka).digest()),
      Buffer.alloc(17),
      Buffer.alloc(8),
      b2(parseTpmPublic(area).name),
      b2(Buffer.alloc(32)),
    ]);
    return { st: parseAttestationObject(attObj({ certInfo: info, sig: sign("sha256", info, signer.privateKey), pubArea: area })), ak: signer.publicKey };
  };
  const withAttributes = (set: number, clear: number) => {
    const area = Buffer.from(pubArea);
    area.writeUInt32BE(((area.readUInt32BE(4) | set) & ~clear) >>> 0, 4);
    return area;
  };

  it("refuses keys that are not fixed to the TPM, decryption keys and restricted keys, on statements that otherwise verify", () => {
    const good = synthetic(pubArea);
    expect(verifyTpmStatement(good.st, good.ak, KA).key.type).toBe("ecc");
    for (const [what, area] of [
      ["not fixedTPM", withAttributes(0, 0x2)],
      ["not fixedParent", withAttributes(0, 0x10)],
      ["not sensitiveDataOrigin", withAttributes(0, 0x20)],
      ["decrypt", withAttributes(0x20000, 0)],
      ["restricted (an attestation key)", withAttributes(0x10000, 0)],
    ] as const) {
      const { st, ak } = synthetic(area);
      expect(() => verifyTpmStatement(st, ak, KA), what).toThrow(/unrestricted signing key generated in and fixed to the TPM/);
    }
    // A SHA-1 Name is refused: it binds the attributes only as well as SHA-1 resists collisions.
    const sha1 = Buffer.from(pubArea);
    sha1.writeUInt16BE(TPM_ALG.SHA1, 2);
    const weak = synthetic(sha1);
    expect(code(() => verifyTpmStatement(weak.st, weak.ak, KA))).toBe("weak_key");
  });

  it("refuses malformed attestation objects with the reason", () => {
    for (const [what, obj, want] of [
      ["not base64url", "a+b", "malformed"],
      ["not a map", encodeCbor([1]).toString("base64url"), "malformed"],
      ["packed", attObj({}, { fmt: "packed" }), "unsupported_alg"],
      ["authData present", attObj({}, { authData: Buffer.from([1]) }), "malformed"],
      ["ver 1.2", attObj({ ver: "1.2" }), "malformed"],
      ["no x5c", attObj({ x5c: [] }), "malformed"],
      ["x5c not bytes", attObj({ x5c: ["x"] }), "malformed"],
      ["empty sig", attObj({ sig: Buffer.alloc(0) }), "malformed"],
      ["ecdaa", attObj({ ecdaaKeyId: Buffer.from([1]) }), "unsupported_alg"],
      ["oversized", Buffer.alloc(20000, 1).toString("base64url"), "too_large"],
    ] as const) {
      expect(code(() => parseAttestationObject(obj)), what).toBe(want);
    }
  });
});

function createHmacSha256(key: Buffer, data: Buffer): Buffer {
  return createHmac("sha256", key).update(data).digest();
}
