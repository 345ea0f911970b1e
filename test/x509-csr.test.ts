import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSignetError } from "../ca/errors.js";
import { assertKeyAllowed } from "../ca/x509/key-policy.js";
import { describePublicKey } from "../ca/x509/spki.js";
import { buildCsr, parseCsr, verifyCsrSignature, type ParsedCsr } from "../ca/x509/csr.js";
import * as der from "../ca/x509/der.js";
import { CURVE_OIDS, KEY_ALGORITHM_OIDS } from "../ca/x509/oids.js";
import { CA_KEY_ALGORITHMS } from "../ca/signer.js";
import { toPem } from "../ca/x509/pem.js";
import { expectCode } from "./support/expect-code.js";

const tmp = mkdtempSync(join(tmpdir(), "signet-csr-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SAN = "subjectAltName=DNS:a.example,IP:10.0.0.1,IP:2001:db8::1,URI:spiffe://td/ns/x/sa/y,email:a@b.example";


function writeKey(name: string, key: KeyObject): string {
  const path = join(tmp, `${name}.key`);
  writeFileSync(path, key.export({ type: "pkcs8", format: "pem" }));
  return path;
}

let counter = 0;
/** A CSR made by `openssl req`. The subject and challengePassword come from a config file because
 * `-subj` makes OpenSSL drop the request attributes. */
function opensslCsr(keyPath: string, opts: { extraArgs?: string[]; addext?: string[]; subject?: string; password?: boolean } = {}): Buffer {
  const n = counter++;
  const cnf = join(tmp, `req${n}.cnf`);
  const out = join(tmp, `req${n}.der`);
  writeFileSync(
    cnf,
    [
      "[req]",
      "distinguished_name = dn",
      "prompt = no",
      ...(opts.password === false ? [] : ["attributes = attrs"]),
      "[dn]",
      opts.subject ?? "C = GB\nO = Example, Inc\nCN = svc+one",
      "[attrs]",
      "challengePassword = s3cret-Pass",
    ].join("\n"),
  );
  const args = ["req", "-new", "-config", cnf, "-key", keyPath, "-outform", "DER", "-out", out, ...(opts.extraArgs ?? [])];
  for (const e of opts.addext ?? [SAN]) args.push("-addext", e);
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  return readFileSync(out);
}

interface Case {
  name: string;
  key: KeyObject;
  args?: string[];
  keyName: string;
  sigOid: string;
  allowed: boolean;
}

const cases: Case[] = [];
const csrs = new Map<string, Buffer>();

beforeAll(() => {
  const ec = (namedCurve: string) => generateKeyPairSync("ec", { namedCurve }).privateKey;
  const rsa2048 = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  cases.push(
    { name: "P-256", key: ec("P-256"), keyName: "P-256", sigOid: "1.2.840.10045.4.3.2", allowed: true },
    { name: "P-384", key: ec("P-384"), args: ["-sha384"], keyName: "P-384", sigOid: "1.2.840.10045.4.3.3", allowed: true },
    { name: "P-521", key: ec("P-521"), args: ["-sha512"], keyName: "P-521", sigOid: "1.2.840.10045.4.3.4", allowed: false },
    { name: "secp256k1", key: ec("secp256k1"), keyName: "secp256k1", sigOid: "1.2.840.10045.4.3.2", allowed: false },
    { name: "Ed25519", key: generateKeyPairSync("ed25519").privateKey, keyName: "Ed25519", sigOid: "1.3.101.112", allowed: true },
    { name: "RSA-2048", key: rsa2048, keyName: "RSA-2048", sigOid: "1.2.840.113549.1.1.11", allowed: true },
    { name: "RSA-2048-sha512", key: rsa2048, args: ["-sha512"], keyName: "RSA-2048", sigOid: "1.2.840.113549.1.1.13", allowed: true },
    {
      name: "RSA-2048-PSS",
      key: rsa2048,
      args: ["-sigopt", "rsa_padding_mode:pss"],
      keyName: "RSA-2048",
      sigOid: "1.2.840.113549.1.1.10",
      allowed: true,
    },
    {
      name: "RSA-2048-PSS-sha384-salt48",
      key: rsa2048,
      args: ["-sha384", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"],
      keyName: "RSA-2048",
      sigOid: "1.2.840.113549.1.1.10",
      allowed: true,
    },
    {
      name: "RSA-1024",
      key: generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey,
      keyName: "RSA-1024",
      sigOid: "1.2.840.113549.1.1.11",
      allowed: false,
    },
  );
  for (const c of cases) csrs.set(c.name, opensslCsr(writeKey(c.name, c.key), { extraArgs: c.args ?? [] }));
});

describe("parseCsr + verifyCsrSignature over OpenSSL-made requests", () => {
  it.each([
    "P-256",
    "P-384",
    "P-521",
    "secp256k1",
    "Ed25519",
    "RSA-2048",
    "RSA-2048-sha512",
    "RSA-2048-PSS",
    "RSA-2048-PSS-sha384-salt48",
    "RSA-1024",
  ])("%s", (name) => {
    const c = cases.find((x) => x.name === name)!;
    const der = csrs.get(name)!;
    // PEM and DER inputs parse to the same thing.
    const csr = parseCsr(toPem("CERTIFICATE REQUEST", der));
    expect(csr.der).toEqual(der);
    verifyCsrSignature(csr);
    verifyCsrSignature(parseCsr(der));
    expect(csr.signatureAlgorithmOid).toBe(c.sigOid);
    expect(csr.publicKey.name).toBe(c.keyName);
    expect(csr.subject.text).toBe("CN=svc\\+one,O=Example\\, Inc,C=GB");
    expect(csr.subject.commonName).toBe("svc+one");
    expect(csr.sans).toEqual({
      dns: ["a.example"],
      ip: ["10.0.0.1", "2001:db8::1"],
      uri: ["spiffe://td/ns/x/sa/y"],
      email: ["a@b.example"],
      unsupported: [],
    });
    expect(csr.challengePassword).toBe("s3cret-Pass");
    expect(csr.extensionOids).toEqual(["2.5.29.17"]);
    expect(describePublicKey(csr.spki).keyObject.equals(csr.publicKey.keyObject)).toBe(true);
    if (c.allowed) assertKeyAllowed(csr.publicKey);
    else expectCode(() => assertKeyAllowed(csr.publicKey), "forbidden_key", new RegExp(c.keyName));
  });

  it("agrees with OpenSSL's reading of the subject", () => {
    const rfc2253 = execFileSync("openssl", ["req", "-inform", "DER", "-noout", "-subject", "-nameopt", "RFC2253"], {
      input: csrs.get("P-256"),
    })
      .toString()
      .trim()
      .replace(/^subject=/, "");
    expect(parseCsr(csrs.get("P-256")!).subject.text).toBe(rfc2253);
  });

  it("reads a request without attributes or extensions", () => {
    const key = writeKey("plain", generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    const csr = parseCsr(opensslCsr(key, { addext: [], password: false, subject: "CN = plain" }));
    verifyCsrSignature(csr);
    expect(csr.challengePassword).toBeUndefined();
    expect(csr.extensionOids).toEqual([]);
    expect(csr.sans).toEqual({ dns: [], ip: [], uri: [], email: [], unsupported: [] });
    expect(csr.subject.commonName).toBe("plain");
  });

  it("reports SAN types Signet cannot honour, and all requested extension OIDs", () => {
    const key = writeKey("odd", generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
    const csr = parseCsr(
      opensslCsr(key, {
        addext: [
          "subjectAltName=DNS:ok.example,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:upn@example,RID:1.2.3.4",
          "keyUsage=critical,digitalSignature",
          "extendedKeyUsage=clientAuth",
        ],
      }),
    );
    verifyCsrSignature(csr);
    expect(csr.sans.dns).toEqual(["ok.example"]);
    expect(csr.sans.unsupported).toEqual(["otherName:1.3.6.1.4.1.311.20.2.3", "registeredID:1.2.3.4"]);
    expect(csr.extensionOids).toEqual(["2.5.29.17", "2.5.29.15", "2.5.29.37"]);
  });
});

describe("refusals", () => {
  let p256: ParsedCsr;
  let der: Buffer;
  beforeAll(() => {
    der = csrs.get("P-256")!;
    p256 = parseCsr(der);
  });

  it("a tampered signature does not verify", () => {
    for (const name of ["P-256", "Ed25519", "RSA-2048", "RSA-2048-PSS"]) {
      const bad = Buffer.from(csrs.get(name)!);
      bad[bad.length - 3]! ^= 0x01;
      expectCode(() => verifyCsrSignature(parseCsr(bad)), "bad_csr_signature");
    }
  });

  it("a tampered request body does not verify", () => {
    const bad = Buffer.from(der);
    const at = bad.indexOf(Buffer.from("a.example"));
    bad[at] = 0x62; // 'b'
    const csr = parseCsr(bad);
    expect(csr.sans.dns).toEqual(["b.example"]);
    expectCode(() => verifyCsrSignature(csr), "bad_csr_signature", /does not verify/);
  });

  it("a signature from another key does not verify", () => {
    const other = parseCsr(csrs.get("P-384")!);
    expectCode(() => verifyCsrSignature({ ...p256, publicKey: other.publicKey }), "bad_csr_signature");
    const rsa = parseCsr(csrs.get("RSA-2048")!);
    expectCode(() => verifyCsrSignature({ ...p256, publicKey: rsa.publicKey }), "bad_csr_signature", /cannot come from a RSA-2048 key/);
  });

  it("SHA-1 and unknown signature algorithms are refused", () => {
    const rsaKey = writeKey("sha1", cases.find((c) => c.name === "RSA-2048")!.key);
    const sha1 = parseCsr(opensslCsr(rsaKey, { extraArgs: ["-sha1"] }));
    expectCode(() => verifyCsrSignature(sha1), "bad_csr_signature", /unsupported CSR signature algorithm OID 1\.2\.840\.113549\.1\.1\.5/);
  });

  it("truncated DER is bad_csr", () => {
    for (const len of [0, 1, 2, 10, der.length - 1]) {
      expectCode(() => parseCsr(der.subarray(0, len)), "bad_csr");
    }
  });

  it("trailing garbage is bad_csr", () => {
    expectCode(() => parseCsr(Buffer.concat([der, Buffer.from([0])])), "bad_csr", /trailing/);
    expectCode(() => parseCsr(Buffer.concat([der, der])), "bad_csr", /trailing/);
  });

  it("a non-minimal length is bad_csr", () => {
    const top = der[1]! & 0x7f;
    const len = der.readUIntBE(2, top);
    const padded = Buffer.concat([Buffer.from([0x30, 0x84, 0, 0]), Buffer.from([len >> 8, len & 0xff]), der.subarray(2 + top)]);
    expectCode(() => parseCsr(padded), "bad_csr", /non-minimal/);
  });

  it("an indefinite length is bad_csr", () => {
    const top = der[1]! & 0x7f;
    const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(2 + top), Buffer.from([0, 0])]);
    expectCode(() => parseCsr(indefinite), "bad_csr", /indefinite/);
  });

  it("a version other than 0 is bad_csr", () => {
    const v = Buffer.from(der);
    const at = v.indexOf(Buffer.from([0x02, 0x01, 0x00]));
    v[at + 2] = 1;
    expectCode(() => parseCsr(v), "bad_csr", /version must be 0/);
  });

  it("bad PEM and non-CSR PEM are bad_csr", () => {
    expectCode(() => parseCsr("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "bad_csr", /CERTIFICATE/);
    expectCode(() => parseCsr("not a csr"), "bad_csr");
    expect(parseCsr(der.toString("base64url")).der).toEqual(der);
  });

  it("a mangled public key is bad_csr", () => {
    const bad = Buffer.from(der);
    // 0x04 (uncompressed point) → 0x05: not a point on any curve encoding.
    const spkiAt = bad.indexOf(p256.spki);
    bad[spkiAt + p256.spki.length - 65] = 0x05;
    expectCode(() => parseCsr(bad), "bad_csr", /public key/);
  });
});

describe("describePublicKey", () => {
  it("imports EC, Ed25519 and RSA keys through the fast path to the same key OpenSSL's DER path gives", () => {
    for (const k of [
      generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey,
      generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey,
      generateKeyPairSync("ec", { namedCurve: "P-521" }).publicKey,
      generateKeyPairSync("ed25519").publicKey,
      generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 0x10001 }).publicKey,
      generateKeyPairSync("rsa", { modulusLength: 3071 }).publicKey,
    ]) {
      const d = describePublicKey(k.export({ type: "spki", format: "der" }));
      expect(d.keyObject.equals(k)).toBe(true);
      const details = k.asymmetricKeyDetails!;
      if (d.type === "rsa") {
        expect(d.bits).toBe(details.modulusLength);
        expect(d.publicExponent).toBe(details.publicExponent);
      }
    }
  });

  it("accepts compressed EC points (through OpenSSL's DER path)", () => {
    const k = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
    const jwk = k.export({ format: "jwk" });
    const y = Buffer.from(jwk.y!, "base64url");
    const compressed = Buffer.concat([Buffer.from([2 | (y[31]! & 1)]), Buffer.from(jwk.x!, "base64url")]);
    const spki = der.seq(der.seq(der.oid(KEY_ALGORITHM_OIDS.ecPublicKey), der.oid(CURVE_OIDS["P-256"])), der.bitString(compressed));
    const d = describePublicKey(spki);
    expect(d.name).toBe("P-256");
    expect(d.keyObject.equals(k)).toBe(true);
  });

  it("refuses points that are not on the curve when the key is first used", () => {
    const spki = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" });
    spki[spki.length - 1]! ^= 1;
    // Naming the key needs only the DER; the import (and OpenSSL's curve check) happens on first use.
    const d = describePublicKey(spki, "bad_csr");
    expect(d.name).toBe("P-256");
    expectCode(() => d.keyObject, "bad_csr", /not a valid key/);
  });
});

describe("buildCsr", () => {
  it.each(CA_KEY_ALGORITHMS.filter((a) => a !== "RSA-4096"))("%s requests parse, verify and satisfy openssl req -verify", (alg) => {
    const kp = alg.startsWith("RSA")
      ? generateKeyPairSync("rsa", { modulusLength: Number(alg.slice(4)) })
      : alg === "Ed25519"
        ? generateKeyPairSync("ed25519")
        : generateKeyPairSync("ec", { namedCurve: alg });
    const csrDer = buildCsr({
      ...kp,
      keyAlgorithm: alg,
      subject: [{ type: "O", value: "Signet" }, { type: "CN", value: "cli" }],
      sans: { dns: ["cli.example"], ip: ["::1"] },
      challengePassword: "pw",
    });
    const csr = parseCsr(csrDer);
    verifyCsrSignature(csr);
    expect(csr.subject.text).toBe("CN=cli,O=Signet");
    expect(csr.sans.ip).toEqual(["::1"]);
    expect(csr.challengePassword).toBe("pw");
    const r = spawnSync("openssl", ["req", "-inform", "DER", "-noout", "-verify"], { input: csrDer });
    expect(r.stdout.toString() + r.stderr.toString()).toMatch(/verify OK/i);
    expect(r.status).toBe(0);
  });

  it("makes SAN critical when the subject is empty", () => {
    const kp = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const csr = parseCsr(buildCsr({ ...kp, keyAlgorithm: "P-256", subject: [], sans: { uri: ["spiffe://td/x"] } }));
    verifyCsrSignature(csr);
    expect(csr.subject.text).toBe("");
    expect(csr.der.includes(Buffer.from("0603551d110101ff", "hex"))).toBe(true);
  });
});

describe("key policy", () => {
  const spkiOf = (k: KeyObject) => k.export({ type: "spki", format: "der" });
  it("allows the short list and names what it refuses", () => {
    for (const [type, opts] of [
      ["ec", { namedCurve: "P-256" }],
      ["ec", { namedCurve: "P-384" }],
      ["ed25519", {}],
      ["rsa", { modulusLength: 2048 }],
    ] as const) {
      assertKeyAllowed(describePublicKey(spkiOf(generateKeyPairSync(type as "ec", opts as { namedCurve: string }).publicKey)));
    }
    const refused: Array<[string, () => KeyObject]> = [
      ["Ed448", () => generateKeyPairSync("ed448").publicKey],
      ["X25519", () => generateKeyPairSync("x25519").publicKey],
      ["DSA-2048", () => generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256 }).publicKey],
      ["RSA-PSS-2048", () => generateKeyPairSync("rsa-pss", { modulusLength: 2048 }).publicKey],
      ["RSA-2048", () => generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).publicKey],
    ];
    for (const [name, make] of refused) {
      const d = describePublicKey(spkiOf(make()));
      expect(d.name).toBe(name);
      try {
        assertKeyAllowed(d);
        throw new Error(`${name} was allowed`);
      } catch (err) {
        expect(isSignetError(err, "forbidden_key"), String(err)).toBe(true);
        expect((err as Error).message).toMatch(/allowed: RSA 2048-8192/);
        expect((err as { detail: unknown }).detail).toEqual({ key: name });
      }
    }
  });
});
