import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import { afterAll, describe, expect, it } from "vitest";
import * as der from "../ca/x509/der.js";
import { formatIp, ipToBytes } from "../ca/x509/general-names.js";
import { encodeName, parseDistinguishedNameString, parseName } from "../ca/x509/name.js";
import { SIGNET_ARC, SIGNET_ROLES_EXTENSION } from "../ca/x509/oids.js";
import { derOrPem, pemDecode, toPem } from "../ca/x509/pem.js";
import { expectCode } from "./support/expect-code.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const tmp = mkdtempSync(join(tmpdir(), "signet-der-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


/** DER of an `openssl asn1parse -genstr` value, the independent encoder these tests compare with. */
function opensslGenstr(spec: string): Buffer {
  const out = join(tmp, "genstr.der");
  execFileSync("openssl", ["asn1parse", "-genstr", spec, "-out", out, "-noout"]);
  return readFileSync(out);
}

describe("DER encoder", () => {
  it("encodes INTEGERs minimally with a sign pad", () => {
    expect(der.integer(0).toString("hex")).toBe("020100");
    expect(der.integer(127).toString("hex")).toBe("02017f");
    expect(der.integer(128).toString("hex")).toBe("02020080");
    expect(der.integer(256).toString("hex")).toBe("02020100");
    expect(der.integer(2n ** 64n).toString("hex")).toBe("0209010000000000000000");
    expect(der.integer(hex("0000ff01")).toString("hex")).toBe("020300ff01");
    expect(der.integer(hex("000001")).toString("hex")).toBe("020101");
    expect(der.integer(Buffer.alloc(0)).toString("hex")).toBe("020100");
    expect(() => der.integer(-1)).toThrow(RangeError);
  });

  it("encodes lengths in short and minimal long form", () => {
    expect(der.encodeLength(0).toString("hex")).toBe("00");
    expect(der.encodeLength(127).toString("hex")).toBe("7f");
    expect(der.encodeLength(128).toString("hex")).toBe("8180");
    expect(der.encodeLength(255).toString("hex")).toBe("81ff");
    expect(der.encodeLength(256).toString("hex")).toBe("820100");
    expect(der.encodeLength(65536).toString("hex")).toBe("83010000");
    expect(der.encodeLength(0x1000000).toString("hex")).toBe("8401000000");
    const big = der.octetString(Buffer.alloc(300, 1));
    expect(big.subarray(0, 4).toString("hex")).toBe("0482012c");
    expect(big.length).toBe(304);
  });

  it("encodes OIDs like OpenSSL does, including a 2.25 UUID arc", () => {
    expect(der.oid("1.2.840.113549").toString("hex")).toBe("06062a864886f70d");
    expect(der.oid("2.5.29.17").toString("hex")).toBe("0603551d11");
    for (const o of ["1.2.840.10045.4.3.2", "0.9.2342.19200300.100.1.25", SIGNET_ARC, SIGNET_ROLES_EXTENSION, "2.999.3"]) {
      expect(der.oid(o).toString("hex"), o).toBe(opensslGenstr(`OID:${o}`).toString("hex"));
    }
    expect(der.oid("1.2.3")).toBe(der.oid("1.2.3")); // cached
    expect(() => der.oid("1.40.1")).toThrow(TypeError);
    expect(() => der.oid("1.02")).toThrow(TypeError);
  });

  it("encodes strings, booleans, NULL, BIT STRINGs and context tags", () => {
    expect(der.utf8String("é").toString("hex")).toBe("0c02c3a9");
    expect(der.printableString("GB").toString("hex")).toBe("13024742");
    expect(() => der.printableString("a@b")).toThrow(RangeError);
    expect(der.ia5String("a@b").toString("hex")).toBe("1603614062");
    expect(() => der.ia5String("é")).toThrow(RangeError);
    expect(der.boolean(true).toString("hex")).toBe("0101ff");
    expect(der.boolean(false).toString("hex")).toBe("010100");
    expect(der.nullValue().toString("hex")).toBe("0500");
    expect(der.bitString(hex("a0"), 5).toString("hex")).toBe("030205a0");
    expect(der.bitString(Buffer.alloc(0)).toString("hex")).toBe("030100");
    expect(() => der.bitString(Buffer.alloc(0), 1)).toThrow(RangeError);
    expect(der.contextExplicit(3, der.nullValue()).toString("hex")).toBe("a3020500");
    expect(der.contextImplicit(0, hex("0102")).toString("hex")).toBe("80020102");
    expect(der.contextImplicit(1, hex("0500"), true).toString("hex")).toBe("a1020500");
  });

  it("sorts SET OF members", () => {
    expect(der.set(hex("0201ff"), hex("020101")).toString("hex")).toBe("3106020101" + "0201ff");
  });

  it("uses UTCTime for 1950-2049 and GeneralizedTime otherwise, to the second", () => {
    const t = (iso: string) => der.utcOrGeneralizedTime(new Date(iso)).toString("latin1").slice(2);
    expect(der.utcOrGeneralizedTime(new Date("2024-03-05T06:07:08.999Z"))[0]).toBe(0x17);
    expect(t("2024-03-05T06:07:08.999Z")).toBe("240305060708Z");
    expect(t("1950-01-01T00:00:00Z")).toBe("500101000000Z");
    expect(t("2049-12-31T23:59:59Z")).toBe("491231235959Z");
    expect(der.utcOrGeneralizedTime(new Date("2050-01-01T00:00:00Z"))[0]).toBe(0x18);
    expect(t("2050-01-01T00:00:00Z")).toBe("20500101000000Z");
    expect(t("1949-12-31T23:59:59Z")).toBe("19491231235959Z");
    expect(t("9999-12-31T23:59:59Z")).toBe("99991231235959Z");
  });

  it("produces structures asn1js reads back", () => {
    // (asn1js prints arcs above 2^53 in hex, so the UUID arc is checked against OpenSSL above.)
    const encoded = der.seq(der.integer(5), der.oid("1.2.840.113549.1.9.14"), der.utf8String("x"), der.contextExplicit(0, der.boolean(true)));
    const parsed = asn1js.fromBER(new Uint8Array(encoded));
    expect(parsed.offset).toBe(encoded.length);
    const seq = parsed.result as asn1js.Sequence;
    expect((seq.valueBlock.value[1] as asn1js.ObjectIdentifier).getValue()).toBe("1.2.840.113549.1.9.14");
  });
});

describe("DER decoder", () => {
  it("reads elements with offsets into the input", () => {
    const buf = der.seq(der.integer(5), der.octetString(Buffer.alloc(200, 7)));
    const top = der.readOne(buf, der.TAG.SEQUENCE, "test");
    expect(top.headerLength).toBe(3);
    const r = der.DerReader.of(top, "bad_csr");
    expect(r.readSmallInt()).toBe(5);
    const os = r.read(der.TAG.OCTET_STRING);
    expect(os.content.length).toBe(200);
    expect(os.element.buffer).toBe(buf.buffer); // zero copy
    r.finish("test");
    expect(r.done).toBe(true);
  });

  it("rejects indefinite, non-minimal and overlong lengths", () => {
    expectCode(() => der.readTlv(hex("3080 0000"), 0), "bad_pem", /indefinite/);
    expectCode(() => der.readTlv(hex("0481 05 0102030405"), 0), "bad_pem", /non-minimal/);
    expectCode(() => der.readTlv(hex("0482 0080" + "00".repeat(128)), 0), "bad_pem", /non-minimal/);
    expectCode(() => der.readTlv(hex("0403 0102"), 0), "bad_pem", /past the end/);
  });

  it("reports the caller's error code", () => {
    expectCode(() => der.readTlv(hex("0403 0102"), 0, undefined, "bad_csr"), "bad_csr", /past the end/);
    expectCode(() => der.readTlv(hex("04"), 0, undefined, "bad_csr"), "bad_csr", /truncated/);
    expectCode(() => der.readTlv(hex("0482 01"), 0, undefined, "bad_pem"), "bad_pem", /truncated/);
    expectCode(() => der.readOne(hex("0500 00"), der.TAG.NULL, "x", "bad_csr"), "bad_csr", /trailing/);
    expectCode(() => der.readOne(hex("0500"), der.TAG.SEQUENCE, "x", "bad_csr"), "bad_csr", /expected tag 0x30/);
    expectCode(() => der.readTlv(hex("1f01 00"), 0, undefined, "bad_csr"), "bad_csr", /high-tag/);
    expectCode(() => der.readTlv(hex("0485 0000000001 00"), 0), "bad_pem", /too large/);
  });

  it("enforces the limit of an enclosing element", () => {
    // An inner element whose length runs past its parent's end.
    expectCode(() => der.DerReader.of(der.readOne(hex("3003 0403 01"), der.TAG.SEQUENCE, "x", "bad_csr"), "bad_csr").read(), "bad_csr");
    const r = der.DerReader.of(der.readOne(hex("3006 020101 020102"), der.TAG.SEQUENCE, "x"), "bad_pem");
    r.read();
    expectCode(() => r.finish("x"), "bad_pem", /trailing/);
  });

  it("decodes OIDs, including large arcs, and refuses non-minimal arcs", () => {
    for (const o of ["1.2.840.113549.1.9.14", "0.9.2342.19200300.100.1.1", SIGNET_ROLES_EXTENSION, "2.999.3", "2.25.0"]) {
      expect(der.decodeOid(der.readTlv(der.oid(o), 0))).toBe(o);
    }
    expectCode(() => der.decodeOid(der.readTlv(hex("0603 2a8001"), 0)), "bad_pem", /non-minimal/);
    expectCode(() => der.decodeOid(der.readTlv(hex("0602 2a86"), 0)), "bad_pem", /truncated/);
  });

  it("is strict about INTEGER, BOOLEAN and BIT STRING encodings", () => {
    const int = (h: string) => new der.DerReader(hex(h)).readIntegerBytes();
    expect(int("0202 00ff").toString("hex")).toBe("00ff");
    expectCode(() => int("0202 007f"), "bad_pem", /non-minimal/);
    expectCode(() => int("0202 ff80"), "bad_pem", /non-minimal/);
    expectCode(() => int("0200"), "bad_pem", /empty/);
    expectCode(() => new der.DerReader(hex("010101")).readBoolean(), "bad_pem", /0x00 or 0xff/);
    expect(new der.DerReader(hex("0101ff")).readBoolean()).toBe(true);
    expectCode(() => new der.DerReader(hex("0302 0181")).readBitString(), "bad_pem", /unused bits must be zero/);
    expectCode(() => new der.DerReader(hex("0301 01")).readBitString(), "bad_pem", /unused-bits/);
  });

  it("decodes times and refuses out-of-range or non-DER forms", () => {
    const time = (s: string, tag: number = der.TAG.UTC_TIME) => new der.DerReader(der.tlv(tag, Buffer.from(s))).readTime();
    expect(time("500101000000Z").toISOString()).toBe("1950-01-01T00:00:00.000Z");
    expect(time("491231235959Z").toISOString()).toBe("2049-12-31T23:59:59.000Z");
    expect(time("20500101000000Z", der.TAG.GENERALIZED_TIME).toISOString()).toBe("2050-01-01T00:00:00.000Z");
    expect(time("00500101000000Z", der.TAG.GENERALIZED_TIME).getUTCFullYear()).toBe(50);
    expectCode(() => time("240230000000Z"), "bad_pem", /out of range/);
    expectCode(() => time("2402010000Z"), "bad_pem", /YYMMDDHHMMSSZ/);
    expectCode(() => time("240201000000+0100".slice(0, 13)), "bad_pem");
    expectCode(() => time("20240201000000.5Z", der.TAG.GENERALIZED_TIME), "bad_pem");
    for (const iso of ["1950-01-01T00:00:00Z", "2049-12-31T23:59:59Z", "2050-06-01T12:00:00Z", "1901-02-03T04:05:06Z"]) {
      const d = new Date(iso);
      expect(new der.DerReader(der.utcOrGeneralizedTime(d)).readTime().getTime()).toBe(d.getTime());
    }
  });

  it("decodes the string types names use", () => {
    const str = (tag: number, content: Buffer) => new der.DerReader(der.tlv(tag, content)).readString();
    expect(str(der.TAG.UTF8_STRING, Buffer.from("żółw"))).toBe("żółw");
    expect(str(der.TAG.BMP_STRING, hex("00680069"))).toBe("hi");
    expect(str(der.TAG.UNIVERSAL_STRING, hex("0001f600"))).toBe("😀");
    expect(str(der.TAG.TELETEX_STRING, hex("e9"))).toBe("é");
    expectCode(() => str(der.TAG.UTF8_STRING, hex("c3")), "bad_pem", /UTF-8/);
    expectCode(() => str(der.TAG.PRINTABLE_STRING, hex("e9")), "bad_pem", /non-ASCII/);
    expectCode(() => str(der.TAG.INTEGER, hex("01")), "bad_pem", /not a string/);
  });
});

describe("PEM", () => {
  const body = Buffer.from(Array.from({ length: 100 }, (_, i) => i));

  it("writes 64-column lines and reads them back", () => {
    const pem = toPem("CERTIFICATE", body);
    const lines = pem.trimEnd().split("\n");
    expect(lines[0]).toBe("-----BEGIN CERTIFICATE-----");
    expect(lines[1]!.length).toBe(64);
    expect(lines.at(-1)).toBe("-----END CERTIFICATE-----");
    expect(pemDecode(`junk\n${pem}\nsubject=foo\n${pem}`, ["CERTIFICATE"])).toEqual([body, body]);
  });

  it("names the problem in its errors", () => {
    expectCode(() => pemDecode(toPem("PRIVATE KEY", body), ["CERTIFICATE"]), "bad_pem", /found "PRIVATE KEY"/);
    expectCode(() => pemDecode("no pem here", ["CERTIFICATE"]), "bad_pem", /no PEM CERTIFICATE block/);
    expectCode(() => pemDecode("-----BEGIN CERTIFICATE-----\nAAAA\n", ["CERTIFICATE"]), "bad_pem", /without a matching END/);
    expectCode(() => pemDecode("-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----", ["CERTIFICATE"]), "bad_pem", /not base64/);
    expectCode(() => pemDecode("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----", ["CERTIFICATE"]), "bad_pem", /multiple of 4/);
    expectCode(() => pemDecode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----", ["CERTIFICATE"]), "bad_pem", /ends with/);
    expectCode(
      () => pemDecode("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----", ["RSA PRIVATE KEY"]),
      "bad_pem",
      /headers/,
    );
  });

  it("derOrPem takes DER, PEM, base64 and base64url", () => {
    const d = der.seq(der.octetString(Buffer.from([0xfb, 0xff, 0xfe])));
    expect(derOrPem(d, ["CERTIFICATE"])).toBe(d);
    expect(derOrPem(toPem("CERTIFICATE", d), ["CERTIFICATE"])).toEqual(d);
    expect(derOrPem(Buffer.from(toPem("CERTIFICATE", d)), ["CERTIFICATE"])).toEqual(d);
    expect(derOrPem(d.toString("base64"), ["CERTIFICATE"])).toEqual(d);
    expect(derOrPem(d.toString("base64url"), ["CERTIFICATE"])).toEqual(d);
    expectCode(() => derOrPem(toPem("CERTIFICATE", d) + toPem("CERTIFICATE", d), ["CERTIFICATE"]), "bad_pem", /one PEM block/);
    expectCode(() => derOrPem("AQID", ["CERTIFICATE"]), "bad_pem", /neither/);
    expectCode(() => derOrPem("", ["CERTIFICATE"]), "bad_pem", /empty/);
  });
});

describe("names", () => {
  it("encodes each attribute as its own RDN with the right string type", () => {
    const name = encodeName([
      { type: "C", value: "GB" },
      { type: "O", value: "Bär, Inc" },
      { type: "DC", value: "example" },
      { type: "serialNumber", value: "1234" },
      { type: "emailAddress", value: "a@b.example" },
      { type: "CN", value: "svc" },
    ]);
    const parsed = asn1js.fromBER(new Uint8Array(name));
    expect(parsed.offset).toBe(name.length);
    const rdns = (parsed.result as asn1js.Sequence).valueBlock.value as asn1js.Set[];
    const tags = rdns.map((rdn) => ((rdn.valueBlock.value[0] as asn1js.Sequence).valueBlock.value[1] as asn1js.BaseBlock).idBlock.tagNumber);
    expect(tags).toEqual([19, 12, 22, 19, 22, 12]);
    const p = parseName(name);
    expect(p.text).toBe("CN=svc,emailAddress=a@b.example,serialNumber=1234,DC=example,O=Bär\\, Inc,C=GB");
    expect(p.commonName).toBe("svc");
    expect(p.attrs[1]).toEqual({ type: "O", value: "Bär, Inc" });
  });

  it("refuses values their types cannot carry", () => {
    expectCode(() => encodeName([{ type: "C", value: "GBR" }]), "bad_request", /two-letter/);
    expectCode(() => encodeName([{ type: "emailAddress", value: "ä@b" }]), "bad_request", /ASCII/);
    expectCode(() => encodeName([{ type: "CN", value: "" }]), "bad_request", /empty/);
    expectCode(() => encodeName([{ type: "STREET" as "CN", value: "x" }]), "bad_request", /unsupported/);
  });

  it("renders RFC 4514 escaping, unknown types as #hex, and multi-valued RDNs with +", () => {
    const atv = (o: string, v: Buffer) => der.seq(der.oid(o), v);
    const name = der.seq(
      der.set(atv("2.5.4.3", der.utf8String(" #lead,\"q\"+<>;\\trail "))),
      der.set(atv("1.2.3.4", der.utf8String("x")), atv("2.5.4.11", der.utf8String("ou"))),
      der.set(atv("2.5.4.10", der.integer(5))),
    );
    const p = parseName(name);
    expect(p.text).toBe("O=#020105,1.2.3.4=#0c0178+OU=ou,CN=\\ #lead\\,\\\"q\\\"\\+\\<\\>\\;\\\\trail\\ ");
    expect(p.attrs.map((a) => a.type)).toEqual(["CN", "1.2.3.4", "OU", "O"]);
    expect(p.attrs[1]!.value).toBe("x");
    expect(p.attrs[3]!.value).toBe("#020105");
    expectCode(() => parseName(der.seq(der.set())), "bad_pem", /empty/);
    expectCode(() => parseName(hex("3000 00"), "bad_csr"), "bad_csr", /trailing/);
  });

  it("parses DN strings into DER order, honouring escapes", () => {
    expect(parseDistinguishedNameString("CN=foo,O=Bar Inc")).toEqual([
      { type: "O", value: "Bar Inc" },
      { type: "CN", value: "foo" },
    ]);
    expect(parseDistinguishedNameString("cn = a\\,b , o=\\+x\\\\y\\ ,c=GB, dc=ex")).toEqual([
      { type: "DC", value: "ex" },
      { type: "C", value: "GB" },
      { type: "O", value: "+x\\y " },
      { type: "CN", value: "a,b" },
    ]);
    expect(parseDistinguishedNameString("CN=caf\\C3\\A9")).toEqual([{ type: "CN", value: "café" }]);
    expect(parseDistinguishedNameString("")).toEqual([]);
    const s = "CN=svc\\, one,OU=Platform,O=Example\\+Co,C=GB";
    expect(parseName(encodeName(parseDistinguishedNameString(s))).text).toBe(s);
    expectCode(() => parseDistinguishedNameString("CN=a+O=b"), "bad_request", /multi-valued/);
    expectCode(() => parseDistinguishedNameString("X=a"), "bad_request", /unsupported attribute type/);
    expectCode(() => parseDistinguishedNameString("CN"), "bad_request", /TYPE=value/);
    expectCode(() => parseDistinguishedNameString("CN=a\\"), "bad_request", /backslash/);
    expectCode(() => parseDistinguishedNameString("CN=#0c0161"), "bad_request", /#hex/);
  });
});

describe("IP addresses", () => {
  it("formats IPv6 per RFC 5952", () => {
    const f = (ip: string) => formatIp(ipToBytes(ip));
    expect(f("10.0.0.1")).toBe("10.0.0.1");
    expect(f("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(f("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(f("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1");
    expect(f("2001:0:0:1:0:0:0:1")).toBe("2001:0:0:1::1");
    expect(f("::")).toBe("::");
    expect(f("::1")).toBe("::1");
    expect(f("fe80::")).toBe("fe80::");
    expect(f("::ffff:192.0.2.1")).toBe("::ffff:192.0.2.1");
    expect(f("1:2:3:4:5:6:7.8.9.10")).toBe("1:2:3:4:5:6:708:90a");
    expect(() => ipToBytes("fe80::1%eth0")).toThrow();
    expect(() => ipToBytes("010.0.0.1")).toThrow();
  });
});
