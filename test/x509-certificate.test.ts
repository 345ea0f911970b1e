import { execFileSync, spawnSync } from "node:child_process";
import { generateKeyPairSync, verify as nodeVerify, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SoftwareSigner, type KeyAlgorithm } from "../ca/signer.js";
import { assembleCertificate, buildTbsCertificate } from "../ca/x509/certificate-builder.js";
import { parseCertificate } from "../ca/x509/certificate-info.js";
import * as ext from "../ca/x509/extensions.js";
import { encodeName, parseDistinguishedNameString } from "../ca/x509/name.js";
import { EKU_OIDS, SIGNET_ROLES_EXTENSION } from "../ca/x509/oids.js";
import { TAG, tlv, utf8String } from "../ca/x509/der.js";
import { toPem } from "../ca/x509/pem.js";
import { subjectKeyIdentifier } from "../ca/x509/spki.js";
import { expectCode } from "./support/expect-code.js";

const tmp = mkdtempSync(join(tmpdir(), "signet-cert-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");


function openssl(args: string[], input?: Buffer): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("openssl", args, { cwd: tmp, input });
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function keyPair(alg: KeyAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (alg) {
    case "P-256":
    case "P-384":
      return generateKeyPairSync("ec", { namedCurve: alg });
    case "Ed25519":
      return generateKeyPairSync("ed25519");
    default:
      return generateKeyPairSync("rsa", { modulusLength: Number(alg.slice(4)) });
  }
}

interface Ca {
  signer: SoftwareSigner;
  nameDer: Buffer;
  keyId: Buffer;
  der: Buffer;
}

let serialCounter = 0x7f00;
const now = Math.floor(Date.now() / 1000) * 1000;

function issue(p: {
  issuer: Ca | null; // null: self-signed with `signer`
  signer: SoftwareSigner;
  subject: string;
  spki: Buffer;
  extensions: Buffer[];
  serial?: Buffer;
  notAfter?: Date;
}): { der: Buffer; serial: Buffer } {
  const signer = p.issuer?.signer ?? p.signer;
  const subjectDer = encodeName(parseDistinguishedNameString(p.subject));
  const serial = p.serial ?? Buffer.from(`5ca1ab1e${(serialCounter++).toString(16).padStart(8, "0")}c0ffee`, "hex");
  const alg = signer.signatureAlgorithm.algorithmIdentifier;
  const tbs = buildTbsCertificate({
    serial,
    signatureAlgorithm: alg,
    issuerNameDer: p.issuer?.nameDer ?? subjectDer,
    notBefore: new Date(now - 60_000),
    notAfter: p.notAfter ?? new Date(now + 86_400_000),
    subjectNameDer: subjectDer,
    spki: p.spki,
    extensions: p.extensions,
  });
  return { der: assembleCertificate(tbs, alg, signer.signSync(tbs)), serial };
}

function makeCa(alg: KeyAlgorithm, subject: string, parent: Ca | null, pathLen?: number): Ca {
  const kp = keyPair(alg);
  const signer = new SoftwareSigner(kp.privateKey, kp.publicKey, alg);
  const spki = kp.publicKey.export({ type: "spki", format: "der" });
  const keyId = subjectKeyIdentifier(spki);
  const { der } = issue({
    issuer: parent,
    signer,
    subject,
    spki,
    extensions: [
      ext.basicConstraints(true, pathLen),
      ext.keyUsage(["digitalSignature", "keyCertSign", "cRLSign"]),
      ext.subjectKeyIdentifier(keyId),
      ext.authorityKeyIdentifier(parent?.keyId ?? keyId),
    ],
    notAfter: new Date(now + 10 * 365 * 86_400_000),
  });
  return { signer, nameDer: encodeName(parseDistinguishedNameString(subject)), keyId, der };
}

const SANS = { dns: ["a.example", "b.example"], ip: ["10.0.0.1", "2001:db8::1"], uri: ["spiffe://td/ns/x/sa/y"], email: ["a@b.example"] };

function leafExtensions(spki: Buffer, issuer: Ca, rsa: boolean): Buffer[] {
  return [
    ext.keyUsage(rsa ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"]),
    ext.extKeyUsage([EKU_OIDS.serverAuth, EKU_OIDS.clientAuth]),
    ext.basicConstraints(false),
    ext.authorityKeyIdentifier(issuer.keyId),
    ext.authorityInfoAccess({ ocsp: ["http://ocsp.example/"], caIssuers: ["http://ca.example/int.der"] }),
    ext.crlDistributionPoints(["http://crl.example/int.crl"]),
    ext.subjectKeyIdentifier(subjectKeyIdentifier(spki)),
    ext.subjectAltName(SANS, false),
    ext.signetRoles(["admin", "reader"]),
  ];
}

const ISSUERS: KeyAlgorithm[] = ["P-256", "P-384", "Ed25519", "RSA-2048"];
const LEAF_KEYS: KeyAlgorithm[] = ["P-256", "P-384", "Ed25519", "RSA-2048"];
const chains = new Map<KeyAlgorithm, { root: Ca; intermediate: Ca }>();
const leafSpki = new Map<KeyAlgorithm, Buffer>();

beforeAll(() => {
  for (const alg of ISSUERS) {
    const root = makeCa(alg, `CN=Signet Test Root ${alg},O=Signet Tests,C=GB`, null);
    const intermediate = makeCa(alg, `CN=Signet Test Intermediate ${alg},O=Signet Tests,C=GB`, root, 0);
    chains.set(alg, { root, intermediate });
    writeFileSync(join(tmp, `root-${alg}.pem`), toPem("CERTIFICATE", root.der));
    writeFileSync(join(tmp, `int-${alg}.pem`), toPem("CERTIFICATE", intermediate.der));
  }
  for (const alg of LEAF_KEYS) leafSpki.set(alg, keyPair(alg).publicKey.export({ type: "spki", format: "der" }));
});

describe("certificates built by the hot-path builder verify with OpenSSL", () => {
  for (const issuerAlg of ISSUERS) {
    it(`${issuerAlg} root → intermediate → leaves of every key type`, () => {
      const { intermediate } = chains.get(issuerAlg)!;
      for (const leafAlg of LEAF_KEYS) {
        const spki = leafSpki.get(leafAlg)!;
        const { der, serial } = issue({
          issuer: intermediate,
          signer: intermediate.signer,
          subject: `CN=leaf ${leafAlg}`,
          spki,
          extensions: leafExtensions(spki, intermediate, leafAlg.startsWith("RSA")),
        });
        const leafPath = `leaf-${issuerAlg}-${leafAlg}.pem`;
        writeFileSync(join(tmp, leafPath), toPem("CERTIFICATE", der));
        for (const purpose of ["sslclient", "sslserver"]) {
          const v = openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", `root-${issuerAlg}.pem`, "-untrusted", `int-${issuerAlg}.pem`, leafPath]);
          expect(v.stdout + v.stderr, `${issuerAlg}/${leafAlg}/${purpose}`).toContain(`${leafPath}: OK`);
          expect(v.status).toBe(0);
        }

        const asn1 = openssl(["asn1parse", "-inform", "DER", "-i"], der);
        expect(asn1.status).toBe(0);
        // Whole words only: asn1parse prints key identifiers and signatures as hex, which may hold "BAD".
        expect(asn1.stderr).not.toMatch(/error/i);
        expect(asn1.stdout).not.toMatch(/\bBAD\b|Error in encoding/);

        const text = openssl(["x509", "-noout", "-text"], Buffer.from(toPem("CERTIFICATE", der)));
        expect(text.status).toBe(0);
        const t = text.stdout;
        expect(t).toContain("Version: 3 (0x2)");
        expect(t).toMatch(new RegExp(`Serial Number:\\s+${[...serial].map((b) => b.toString(16).padStart(2, "0")).join(":")}`));
        expect(t).toContain(
          "DNS:a.example, DNS:b.example, IP Address:10.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1, URI:spiffe://td/ns/x/sa/y, email:a@b.example",
        );
        expect(t).toMatch(/X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
        expect(t).toMatch(
          leafAlg.startsWith("RSA")
            ? /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment\n/
            : /X509v3 Key Usage: critical\n\s+Digital Signature\n/,
        );
        expect(t).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
        expect(t).toMatch(/OCSP - URI:http:\/\/ocsp\.example\/\n\s+CA Issuers - URI:http:\/\/ca\.example\/int\.der/);
        expect(t).toMatch(/X509v3 CRL Distribution Points: \n\s+Full Name:\n\s+URI:http:\/\/crl\.example\/int\.crl/);
        // Roles travel in subjectDirectoryAttributes (id-at-role), which OpenSSL shows by OID.
        expect(t).toMatch(/X509v3 Subject Directory Attributes|2\.5\.29\.9/);
        expect(t).toContain("Subject: CN = leaf " + leafAlg);

        // Our own reader agrees, and the signature checks out with node too.
        const info = parseCertificate(der);
        expect(info.serialHex).toBe(serial.toString("hex").replace(/^(00)+/, ""));
        expect(info.issuer.text).toBe(`CN=Signet Test Intermediate ${issuerAlg},O=Signet Tests,C=GB`);
        expect(info.subject.commonName).toBe(`leaf ${leafAlg}`);
        expect(info.sans).toEqual({ ...SANS, unsupported: [] });
        expect(info.roles).toEqual(["admin", "reader"]);
        expect(info.extKeyUsage).toEqual(["serverAuth", "clientAuth"]);
        expect(info.isCa).toBe(false);
        expect(info.authorityKeyId).toEqual(intermediate.keyId);
        expect(info.subjectKeyId).toEqual(subjectKeyIdentifier(spki));
        expect(info.spki).toEqual(spki);
        const hash = intermediate.signer.signatureAlgorithm.hash;
        expect(nodeVerify(hash, info.tbs, intermediate.signer.publicKey, info.signature)).toBe(true);
      }
    });
  }

  it("CA certificates carry what -x509_strict wants and read back", () => {
    const { root, intermediate } = chains.get("P-256")!;
    const r = parseCertificate(root.der);
    expect(r.isCa).toBe(true);
    expect(r.pathLen).toBeUndefined();
    expect(r.keyUsage).toEqual(["digitalSignature", "keyCertSign", "cRLSign"]);
    expect(r.subjectKeyId).toEqual(root.keyId);
    expect(r.authorityKeyId).toEqual(root.keyId);
    const i = parseCertificate(toPem("CERTIFICATE", intermediate.der));
    expect(i.isCa).toBe(true);
    expect(i.pathLen).toBe(0);
    expect(i.issuerDer).toEqual(r.subjectDer);
    expect(i.extensions.map((e) => [e.oid, e.critical])).toEqual([
      ["2.5.29.19", true],
      ["2.5.29.15", true],
      ["2.5.29.14", false],
      ["2.5.29.35", false],
    ]);
    const t = openssl(["x509", "-noout", "-text"], Buffer.from(toPem("CERTIFICATE", intermediate.der))).stdout;
    expect(t).toMatch(/CA:TRUE, pathlen:0/);
    expect(t).toMatch(/Digital Signature, Certificate Sign, CRL Sign/);
  });

  it("an OCSP responder certificate with ocsp-nocheck verifies for the OCSP helper purpose", () => {
    const { intermediate } = chains.get("P-256")!;
    const spki = leafSpki.get("P-256")!;
    const { der } = issue({
      issuer: intermediate,
      signer: intermediate.signer,
      subject: "CN=ocsp responder",
      spki,
      extensions: [
        ext.keyUsage(["digitalSignature"]),
        ext.extKeyUsage([EKU_OIDS.OCSPSigning]),
        ext.ocspNoCheck(),
        ext.authorityKeyIdentifier(intermediate.keyId),
        ext.subjectKeyIdentifier(subjectKeyIdentifier(spki)),
      ],
    });
    writeFileSync(join(tmp, "ocsp.pem"), toPem("CERTIFICATE", der));
    const v = openssl(["verify", "-x509_strict", "-purpose", "ocsphelper", "-CAfile", "root-P-256.pem", "-untrusted", "int-P-256.pem", "ocsp.pem"]);
    expect(v.stdout + v.stderr).toContain("ocsp.pem: OK");
    const t = openssl(["x509", "-noout", "-text", "-in", "ocsp.pem"]).stdout;
    expect(t).toContain("OCSP No Check");
    expect(t).toContain("OCSP Signing");
    expect(parseCertificate(der).extKeyUsage).toEqual(["OCSPSigning"]);
  });

  it("GeneralizedTime after 2049, a sign-padded serial, and an empty subject with a critical SAN", () => {
    const { intermediate } = chains.get("P-384")!;
    const spki = leafSpki.get("P-384")!;
    const serial = hex("00 00 ff ee dd cc bb aa 99 88 77 66 55 44 33 22 11 00 01 02 03");
    const { der } = issue({
      issuer: intermediate,
      signer: intermediate.signer,
      subject: "",
      spki,
      serial,
      notAfter: new Date("2051-02-03T04:05:06.789Z"),
      extensions: [
        ext.keyUsage(["digitalSignature"]),
        ext.extKeyUsage([EKU_OIDS.clientAuth]),
        ext.authorityKeyIdentifier(intermediate.keyId),
        ext.subjectAltName({ uri: ["spiffe://td/x"] }, true),
      ],
    });
    writeFileSync(join(tmp, "late.pem"), toPem("CERTIFICATE", der));
    const v = openssl(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", "root-P-384.pem", "-untrusted", "int-P-384.pem", "late.pem"]);
    // RFC 5280 does not make a leaf outlive-its-issuer an error, so OpenSSL accepts this.
    expect(v.stdout + v.stderr).toContain("late.pem: OK");
    const info = parseCertificate(der);
    expect(info.notAfter.toISOString()).toBe("2051-02-03T04:05:06.000Z");
    expect(info.serialHex).toBe("ffeeddccbbaa99887766554433221100010203");
    expect(info.subject.text).toBe("");
    expect(info.extensions.find((e) => e.oid === "2.5.29.17")?.critical).toBe(true);
    const t = openssl(["x509", "-noout", "-enddate", "-serial", "-in", "late.pem"]).stdout;
    expect(t).toContain("notAfter=Feb  3 04:05:06 2051 GMT");
    expect(t).toContain("serial=FFEEDDCCBBAA99887766554433221100010203");
  });
});

describe("builder refusals and encodings", () => {
  const base = () => {
    const { intermediate } = chains.get("P-256")!;
    return {
      serial: hex("01"),
      signatureAlgorithm: intermediate.signer.signatureAlgorithm.algorithmIdentifier,
      issuerNameDer: intermediate.nameDer,
      notBefore: new Date(now),
      notAfter: new Date(now + 1000),
      subjectNameDer: encodeName([{ type: "CN", value: "x" }]),
      spki: leafSpki.get("P-256")!,
      extensions: [] as Buffer[],
    };
  };

  it("refuses zero, oversized serials and inverted validity", () => {
    expectCode(() => buildTbsCertificate({ ...base(), serial: hex("0000") }), "bad_serial");
    expectCode(() => buildTbsCertificate({ ...base(), serial: Buffer.alloc(0) }), "bad_serial");
    expectCode(() => buildTbsCertificate({ ...base(), serial: Buffer.alloc(20, 0x80) }), "bad_serial", /20 octets/);
    expect(() => buildTbsCertificate({ ...base(), serial: Buffer.alloc(20, 0x7f) })).not.toThrow();
    expectCode(() => buildTbsCertificate({ ...base(), notAfter: new Date(now - 1000) }), "bad_lifetime");
    expectCode(() => buildTbsCertificate({ ...base(), spki: hex("0400") }), "internal");
  });

  it("omits the extensions field when there are none", () => {
    const tbs = buildTbsCertificate(base());
    const asn1 = openssl(["asn1parse", "-inform", "DER"], tbs);
    expect(asn1.status).toBe(0);
    expect(asn1.stdout).not.toContain("cont [ 3 ]");
    expect(asn1.stdout).toContain("cont [ 0 ]");
  });

  it("encodes extensions in DER form", () => {
    expect(ext.keyUsage(["digitalSignature"]).toString("hex")).toBe("300e0603551d0f0101ff040403020780");
    expect(ext.keyUsage(["digitalSignature", "keyEncipherment"]).toString("hex")).toBe("300e0603551d0f0101ff0404030205a0");
    expect(ext.keyUsage(["keyCertSign", "cRLSign"]).toString("hex")).toBe("300e0603551d0f0101ff040403020106");
    expect(ext.keyUsage(["cRLSign"]).toString("hex")).toBe("300e0603551d0f0101ff040403020102");
    expect(ext.basicConstraints(false).toString("hex")).toBe("300c0603551d130101ff04023000");
    expect(ext.basicConstraints(true).toString("hex")).toBe("300f0603551d130101ff040530030101ff");
    expect(ext.basicConstraints(true, 0).toString("hex")).toBe("30120603551d130101ff040830060101ff020100");
    expect(ext.authorityKeyIdentifier(hex("0102")).toString("hex")).toBe("300d0603551d230406300480020102");
    expect(ext.subjectKeyIdentifier(hex("0102")).toString("hex")).toBe("300b0603551d0e040404020102");
    expect(ext.ocspNoCheck().toString("hex")).toBe("300f06092b06010505073001050402" + "0500");
    expect(ext.extension("1.2.3", false, hex("0500")).toString("hex")).toBe("300806022a03" + "04020500");
    expect(ext.extension("1.2.3", true, hex("0500")).toString("hex")).toBe("300b06022a030101ff" + "04020500");
    expectCode(() => ext.basicConstraints(false, 1), "bad_request");
    expectCode(() => ext.keyUsage([]), "bad_request");
    expectCode(() => ext.subjectAltName({}), "bad_request");
    expectCode(() => ext.subjectAltName({ ip: ["not-an-ip"] }), "bad_request");
    expectCode(() => ext.subjectAltName({ dns: ["bücher.example"] }), "bad_request", /ASCII/);
  });
});

describe("parseCertificate over OpenSSL-made certificates", () => {
  function opensslCert(keyAlg: string[], extra: string[], name: string): { der: Buffer; pem: string } {
    const cnf = join(tmp, `${name}.cnf`);
    writeFileSync(cnf, "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nC = GB\nO = Example \\, Ltd\nOU = Ops\nCN = openssl made\n");
    execFileSync(
      "openssl",
      ["req", "-x509", "-new", "-config", cnf, "-newkey", ...keyAlg, "-nodes", "-keyout", join(tmp, `${name}.key`), "-out", join(tmp, `${name}.pem`), ...extra],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const pem = readFileSync(join(tmp, `${name}.pem`), "utf8");
    return { pem, der: parseCertificate(pem).der };
  }
  const field = (pem: string, args: string[]) =>
    execFileSync("openssl", ["x509", "-noout", ...args], { input: pem }).toString().trim();

  it.each([
    ["EC", ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-days", "30", "-set_serial", "0x00ff112233"]],
    ["RSA", ["rsa:2048"], ["-days", "10000", "-set_serial", "12345"]],
    ["Ed25519", ["ed25519"], ["-days", "1", "-set_serial", "1"]],
  ])("%s", (name, keyAlg, extra) => {
    const { pem } = opensslCert(keyAlg as string[], [
      ...(extra as string[]),
      "-addext",
      "subjectAltName=DNS:x.example,IP:192.0.2.7,IP:::ffff:192.0.2.8,email:o@x.example,URI:https://x.example/p",
      "-addext",
      "extendedKeyUsage=clientAuth,1.2.3.4.5",
      "-addext",
      "keyUsage=critical,digitalSignature,keyAgreement,decipherOnly",
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:3",
      "-addext",
      "authorityKeyIdentifier=keyid:always",
    ], `o-${name}`);
    const info = parseCertificate(pem);
    expect(info.serialHex).toBe(field(pem, ["-serial"]).replace("serial=", "").toLowerCase().replace(/^(00)+/, ""));
    expect(info.notBefore).toEqual(new Date(field(pem, ["-startdate"]).replace("notBefore=", "")));
    expect(info.notAfter).toEqual(new Date(field(pem, ["-enddate"]).replace("notAfter=", "")));
    expect(info.subject.text).toBe(field(pem, ["-subject", "-nameopt", "RFC2253"]).replace("subject=", ""));
    expect(info.issuer.text).toBe(info.subject.text);
    expect(info.subject.attrs).toEqual([
      { type: "C", value: "GB" },
      { type: "O", value: "Example , Ltd" },
      { type: "OU", value: "Ops" },
      { type: "CN", value: "openssl made" },
    ]);
    expect(info.sans).toEqual({
      dns: ["x.example"],
      ip: ["192.0.2.7", "::ffff:192.0.2.8"],
      uri: ["https://x.example/p"],
      email: ["o@x.example"],
      unsupported: [],
    });
    expect(info.extKeyUsage).toEqual(["clientAuth", "1.2.3.4.5"]);
    expect(info.keyUsage).toEqual(["digitalSignature", "keyAgreement", "decipherOnly"]);
    expect(info.isCa).toBe(true);
    expect(info.pathLen).toBe(3);
    const skiText = field(pem, ["-ext", "subjectKeyIdentifier"]).split("\n").pop()!.trim();
    expect(info.subjectKeyId?.toString("hex")).toBe(skiText.replace(/:/g, "").toLowerCase());
    expect(info.authorityKeyId).toEqual(info.subjectKeyId);
    // OpenSSL's SKI is RFC 5280 method 1, same as ours.
    expect(subjectKeyIdentifier(info.spki)).toEqual(info.subjectKeyId);
    expect(info.version).toBe(3);
  });

  it("rejects malformed certificates with bad_pem", () => {
    const { der } = opensslCert(["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-days", "1"], "bad");
    expectCode(() => parseCertificate(der.subarray(0, der.length - 1)), "bad_pem");
    expectCode(() => parseCertificate(Buffer.concat([der, hex("00")])), "bad_pem", /trailing/);
    expectCode(() => parseCertificate("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----"), "bad_pem", /X509 CRL/);
    // Outer signatureAlgorithm differing from the TBS one.
    const mismatched = Buffer.from(der);
    const ecdsa256 = hex("06082a8648ce3d040302");
    const last = mismatched.lastIndexOf(ecdsa256);
    mismatched[last + ecdsa256.length - 1] = 0x03;
    expectCode(() => parseCertificate(mismatched), "bad_pem", /differs/);
  });
});

describe("roles", () => {
  it("are read from the first roles extension too, in certificates issued before roles moved", () => {
    const { intermediate } = chains.get("P-256")!;
    const spki = leafSpki.get("P-256")!;
    const legacy = ext.extension(SIGNET_ROLES_EXTENSION, false, tlv(TAG.SEQUENCE, utf8String("inference:invoke"), utf8String("tenant:blue")));
    const { der } = issue({ issuer: intermediate, signer: intermediate.signer, subject: "CN=legacy", spki, extensions: [legacy] });
    expect(parseCertificate(der).roles).toEqual(["inference:invoke", "tenant:blue"]);
  });
  it("keep their order and use only small-arc OIDs in new certificates", () => {
    const { intermediate } = chains.get("P-256")!;
    const spki = leafSpki.get("P-256")!;
    const { der } = issue({ issuer: intermediate, signer: intermediate.signer, subject: "CN=roles", spki, extensions: [ext.signetRoles(["zeta", "alpha:1", "m/2"])] });
    const info = parseCertificate(der);
    expect(info.roles).toEqual(["zeta", "alpha:1", "m/2"]);
    expect(info.extensions.map((e) => e.oid)).toEqual(["2.5.29.9"]);
  });
});
