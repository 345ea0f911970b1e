// The CRL codec (RFC 5280 §5), with OpenSSL and (when installed) GnuTLS's certtool as the judges of
// what it writes, and our own strict parser reading it back.
import { spawnSync } from "node:child_process";
import { verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isSignetError } from "../ca/errors.js";
import { REVOCATION_REASONS } from "../ca/revocation.js";
import type { KeyAlgorithm, SoftwareSigner } from "../ca/signer.js";
import { type RevokedEntry, type TbsCertListParams, assembleCrl, buildTbsCertList, parseCrl } from "../ca/x509/crl.js";
import { TAG, readTlv, tlv } from "../ca/x509/der.js";
import { parseCertificate, toPem } from "../ca/x509/index.js";
import { memoryAuthority, removeTestCas, testCa } from "./support/ca-fixture.js";
import { makeCsr } from "./support/csr.js";
import { expectCode } from "./support/expect-code.js";

const tmp = mkdtempSync(join(tmpdir(), "signet-crl-"));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  removeTestCas();
});

const hasCerttool = spawnSync("certtool", ["--version"]).status === 0;

/** Runs a tool in the temp dir; `out` is stdout and stderr together (openssl crl -verify reports on stderr). */
function run(tool: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(tool, args, { cwd: tmp, encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

let files = 0;
/** Writes `content` to a fresh file in the temp dir and returns its name. */
function put(name: string, content: string | Buffer): string {
  const path = `${files++}-${name}`;
  writeFileSync(join(tmp, path), content);
  return path;
}

const DAY = 86_400_000;
const now = Math.floor(Date.now() / 1000) * 1000;
const R = REVOCATION_REASONS;

interface Issuer {
  signer: SoftwareSigner;
  subjectDer: Buffer;
  keyId: Buffer;
  /** The intermediate certificate, as a PEM file in the temp dir. */
  pemFile: string;
  /** Root and intermediate together, as a PEM file in the temp dir. */
  chainFile: string;
}

const issuers = new Map<KeyAlgorithm, Promise<Issuer>>();
function issuerFor(alg: KeyAlgorithm): Promise<Issuer> {
  let p = issuers.get(alg);
  if (!p) {
    p = testCa(alg).then(({ ca }) => {
      const cert = parseCertificate(ca.intermediate.certDer);
      const intPem = toPem("CERTIFICATE", ca.intermediate.certDer);
      return {
        signer: ca.intermediate.signer,
        subjectDer: cert.subjectDer,
        keyId: cert.subjectKeyId!,
        pemFile: put(`int-${alg}.pem`, intPem),
        chainFile: put(`chain-${alg}.pem`, toPem("CERTIFICATE", ca.root.certDer) + intPem),
      };
    });
    issuers.set(alg, p);
  }
  return p;
}

async function makeCrl(issuer: Issuer, over: Partial<TbsCertListParams> = {}): Promise<Buffer> {
  const alg = issuer.signer.signatureAlgorithm.algorithmIdentifier;
  const tbs = buildTbsCertList({
    signatureAlgorithm: alg,
    issuerDer: issuer.subjectDer,
    thisUpdate: new Date(now - 60_000),
    nextUpdate: new Date(now + DAY),
    entries: [],
    crlNumber: 1n,
    authorityKeyId: issuer.keyId,
    ...over,
  });
  return assembleCrl(tbs, alg, await issuer.signer.sign(tbs));
}

function opensslVerifiesCrl(issuer: Issuer, der: Buffer): string {
  const v = run("openssl", ["crl", "-inform", "DER", "-in", put("crl.der", der), "-CAfile", issuer.pemFile, "-verify", "-noout"]);
  expect(v.out).toContain("verify OK");
  expect(v.status).toBe(0);
  return run("openssl", ["crl", "-inform", "DER", "-in", put("crl.der", der), "-noout", "-text"]).out;
}

const ENTRIES: RevokedEntry[] = [
  { serialHex: "1a2b3c4d5e6f", revokedAt: now - 3_600_000, reason: R.keyCompromise, invalidityDate: now - 2 * DAY },
  // High bit set: the INTEGER needs a 0x00 pad.
  { serialHex: "80", revokedAt: now - 60_000, reason: null, invalidityDate: null },
  { serialHex: "ff".repeat(20), revokedAt: now - 30_000, reason: R.superseded, invalidityDate: null },
  { serialHex: "7fedcba987654321", revokedAt: now - 1000, reason: R.cessationOfOperation, invalidityDate: now - DAY },
  // Unspecified: no reasonCode extension at all (RFC 5280 §5.3.1).
  { serialHex: "0102", revokedAt: now, reason: R.unspecified, invalidityDate: null },
];

/** `entries` as parseCrl returns them: reason 0 becomes "no reasonCode", times whole seconds. */
const asParsed = (entries: readonly RevokedEntry[]): RevokedEntry[] =>
  entries.map((e) => ({
    serialHex: e.serialHex,
    revokedAt: Math.floor(e.revokedAt / 1000) * 1000,
    reason: e.reason === 0 ? null : e.reason,
    invalidityDate: e.invalidityDate === null ? null : Math.floor(e.invalidityDate / 1000) * 1000,
  }));

const FRESHEST = ["http://crl.signet.test/delta.crl", "http://crl2.signet.test/delta.crl"];

function replaceOnce(buf: Buffer, from: Buffer, to: Buffer): Buffer {
  const at = buf.indexOf(from);
  expect(at, `${from.toString("hex")} in the DER`).toBeGreaterThanOrEqual(0);
  expect(buf.indexOf(from, at + 1)).toBe(-1);
  return Buffer.concat([buf.subarray(0, at), to, buf.subarray(at + from.length)]);
}

describe("CRLs OpenSSL verifies", () => {
  it("a base CRL from a P-256 intermediate: number, AKI, reasons, invalidity dates, Freshest CRL", async () => {
    const issuer = await issuerFor("P-256");
    const der = await makeCrl(issuer, { entries: ENTRIES, crlNumber: 0x1234n, freshestCrlUrls: FRESHEST });
    const t = opensslVerifiesCrl(issuer, der);
    expect(t).toContain("Version 2 (0x1)");
    expect(t).toMatch(/X509v3 CRL Number: \n\s+4660\n/);
    expect(t).toContain("X509v3 Authority Key Identifier");
    expect(t).toContain(issuer.keyId.toString("hex").toUpperCase().match(/../g)!.join(":"));
    expect(t).toMatch(/X509v3 Freshest CRL: \n\s+Full Name:\n\s+URI:http:\/\/crl\.signet\.test\/delta\.crl\n\s+Full Name:\n\s+URI:http:\/\/crl2/);
    expect(t).not.toContain("Delta CRL Indicator");
    expect(t).toMatch(/Serial Number: 1A2B3C4D5E6F\n\s+Revocation Date: .*\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Key Compromise\n\s+Invalidity Date: \n\s+\w+ +\d+ [\d:]+ \d{4} GMT/);
    expect(t).toMatch(/Serial Number: 80\n\s+Revocation Date: [^\n]*\n\s+Serial Number: F{40}\n/);
    expect(t).toMatch(/X509v3 CRL Reason Code: \n\s+Superseded\n/);
    expect(t).toMatch(/X509v3 CRL Reason Code: \n\s+Cessation Of Operation\n\s+Invalidity Date:/);
    expect(t).toMatch(/Serial Number: 0102\n\s+Revocation Date: [^\n]*\n\s+Signature Algorithm/);
    expect(t.match(/Serial Number:/g)).toHaveLength(ENTRIES.length);
    expect(t.match(/Invalidity Date:/g)).toHaveLength(2);
  });

  it("a delta CRL carries a critical Delta CRL Indicator and may say removeFromCRL", async () => {
    const issuer = await issuerFor("P-256");
    const entries: RevokedEntry[] = [
      { serialHex: "0a0b0c", revokedAt: now - 5000, reason: R.removeFromCRL, invalidityDate: null },
      { serialHex: "0d0e0f", revokedAt: now - 4000, reason: R.privilegeWithdrawn, invalidityDate: now - 4000 },
    ];
    const der = await makeCrl(issuer, { entries, crlNumber: 12n, deltaBaseCrlNumber: 10n });
    const t = opensslVerifiesCrl(issuer, der);
    expect(t).toMatch(/X509v3 CRL Number: \n\s+12\n/);
    expect(t).toMatch(/X509v3 Delta CRL Indicator: critical\n\s+10\n/);
    expect(t).toContain("Remove From CRL");
    expect(t).toContain("Privilege Withdrawn");
    expect(t).not.toContain("Freshest CRL");
    const parsed = parseCrl(der);
    expect(parsed.crlNumber).toBe(12n);
    expect(parsed.deltaBaseCrlNumber).toBe(10n);
    expect(parsed.freshestCrlUrls).toEqual([]);
    expect(parsed.entries).toEqual(asParsed(entries));
  });

  it.each(["Ed25519", "RSA-2048"] as const)("a CRL from a %s intermediate", async (alg) => {
    const issuer = await issuerFor(alg);
    const der = await makeCrl(issuer, { entries: ENTRIES, crlNumber: 3n });
    const t = opensslVerifiesCrl(issuer, der);
    expect(t).toContain(alg === "Ed25519" ? "Signature Algorithm: ED25519" : "Signature Algorithm: sha256WithRSAEncryption");
    expect(parseCrl(der).entries).toEqual(asParsed(ENTRIES));
  });

  it("an empty CRL omits revokedCertificates entirely", async () => {
    const issuer = await issuerFor("P-256");
    const der = await makeCrl(issuer, { crlNumber: 1n });
    const t = opensslVerifiesCrl(issuer, der);
    expect(t).toContain("No Revoked Certificates.");
    const parsed = parseCrl(der);
    expect(parsed.entries).toEqual([]);
    // tbsCertList: version, signature, issuer, thisUpdate, nextUpdate, then straight to [0] crlExtensions.
    const nextUpdateEnd = parsed.tbs.indexOf(parsed.issuerDer) + parsed.issuerDer.length + 15 + 15;
    expect(parsed.tbs[nextUpdateEnd]).toBe(0xa0);
  });

  it("times after 2049 are GeneralizedTime, and invalidity dates always are", async () => {
    const issuer = await issuerFor("P-256");
    const entries: RevokedEntry[] = [
      { serialHex: "2051", revokedAt: Date.UTC(2051, 2, 4, 5, 6, 7), reason: R.affiliationChanged, invalidityDate: Date.UTC(2030, 0, 2, 3, 4, 5) },
      { serialHex: "2049", revokedAt: Date.UTC(2049, 11, 31, 23, 59, 59, 999), reason: null, invalidityDate: Date.UTC(2099, 0, 1) },
    ];
    const der = await makeCrl(issuer, {
      entries,
      thisUpdate: new Date(Date.UTC(2049, 11, 31, 23, 59, 59)),
      nextUpdate: new Date(Date.UTC(2050, 0, 1)),
    });
    const bin = (s: string) => Buffer.from(s, "latin1");
    expect(der.includes(bin("\x17\x0d491231235959Z\x18\x0f20500101000000Z"))).toBe(true);
    expect(der.includes(bin("\x18\x0f20510304050607Z"))).toBe(true);
    expect(der.includes(bin("\x18\x0f20300102030405Z"))).toBe(true); // invalidityDate, though 2030
    expect(der.includes(bin("\x17\x0d491231235959Z\x30"))).toBe(true); // revocationDate, ms dropped
    expect(der.includes(bin("\x18\x0f20990101000000Z"))).toBe(true);
    const t = opensslVerifiesCrl(issuer, der);
    expect(t).toContain("Next Update: Jan  1 00:00:00 2050 GMT");
    expect(t).toContain("Revocation Date: Mar  4 05:06:07 2051 GMT");
    expect(t).toContain("Jan  2 03:04:05 2030 GMT");
    const parsed = parseCrl(der);
    expect(parsed.nextUpdate).toEqual(new Date(Date.UTC(2050, 0, 1)));
    expect(parsed.entries).toEqual(asParsed(entries));
  });

  it("openssl verify -crl_check refuses a revoked leaf and accepts a good one", async () => {
    const { authority } = await memoryAuthority("P-256");
    const issuer = await issuerFor("P-256");
    const sign = (cn: string) =>
      authority.sign({ csr: makeCsr({ cn, sans: { dns: [`${cn}.internal`] } }).pem, provisioner: "admin", via: "admin", actor: "test" });
    const revoked = await sign("revoked");
    const good = await sign("good");
    const der = await makeCrl(issuer, {
      entries: [...ENTRIES, { serialHex: revoked.serialHex, revokedAt: now - 1000, reason: R.keyCompromise, invalidityDate: null }],
      crlNumber: 2n,
    });
    const crlFile = put("crl.pem", toPem("X509 CRL", der));
    const verify = (pem: string) => run("openssl", ["verify", "-crl_check", "-CAfile", issuer.chainFile, "-CRLfile", crlFile, put("leaf.pem", pem)]);
    const bad = verify(revoked.pem);
    expect(bad.out).toContain("certificate revoked");
    expect(bad.status).not.toBe(0);
    const ok = verify(good.pem);
    expect(ok.out).toMatch(/leaf\.pem: OK/);
    expect(ok.status).toBe(0);
  });

  if (!hasCerttool) it.skip("GnuTLS certtool is not on PATH (Debian gnutls-bin): its reading of the CRL is not tested", () => {});
  it.skipIf(!hasCerttool)("GnuTLS certtool lists every entry and verifies the signature", async () => {
    const issuer = await issuerFor("P-256");
    const der = await makeCrl(issuer, { entries: ENTRIES, crlNumber: 5n, freshestCrlUrls: FRESHEST });
    const info = run("certtool", ["--crl-info", "--inder", "--infile", put("crl.der", der)]);
    expect(info.status).toBe(0);
    expect(info.out).toContain(`Revoked certificates (${ENTRIES.length}):`);
    expect(info.out).toMatch(/CRL Number \(not critical\): 0?5\n/);
    // certtool prints the INTEGER content, sign pad included.
    for (const e of ENTRIES) expect(info.out).toMatch(new RegExp(`Serial Number \\(hex\\): (00)?${e.serialHex}\\n`));
    const verified = run("certtool", ["--verify-crl", "--load-ca-certificate", issuer.pemFile, "--infile", put("crl.pem", toPem("X509 CRL", der))]);
    expect(verified.out).toContain("Verification output: Verified.");
    expect(verified.status).toBe(0);
  });
});

describe("parseCrl", () => {
  it("reads back everything the builder wrote", async () => {
    const issuer = await issuerFor("P-256");
    const thisUpdate = new Date(now - 60_000);
    const der = await makeCrl(issuer, { entries: ENTRIES, crlNumber: 2n ** 159n - 1n, freshestCrlUrls: FRESHEST, thisUpdate });
    const p = parseCrl(der);
    expect(p.signatureAlgorithm).toEqual(issuer.signer.signatureAlgorithm.algorithmIdentifier);
    expect(p.issuerDer).toEqual(issuer.subjectDer);
    expect(p.thisUpdate).toEqual(thisUpdate);
    expect(p.nextUpdate).toEqual(new Date(now + DAY));
    expect(p.crlNumber).toBe(2n ** 159n - 1n);
    expect(p.deltaBaseCrlNumber).toBeNull();
    expect(p.authorityKeyId).toEqual(issuer.keyId);
    expect(p.freshestCrlUrls).toEqual(FRESHEST);
    expect(p.entries).toEqual(asParsed(ENTRIES));
    expect(p.tbs).toEqual(buildTbsCertList({
      signatureAlgorithm: p.signatureAlgorithm,
      issuerDer: p.issuerDer,
      thisUpdate: p.thisUpdate,
      nextUpdate: p.nextUpdate!,
      entries: p.entries,
      crlNumber: p.crlNumber!,
      authorityKeyId: p.authorityKeyId!,
      freshestCrlUrls: p.freshestCrlUrls,
    }));
    expect(verify(issuer.signer.signatureAlgorithm.hash, p.tbs, issuer.signer.publicKey, p.signature)).toBe(true);
  });

  it("writes serials as minimal positive INTEGERs whatever form the hex takes", async () => {
    const issuer = await issuerFor("P-256");
    const cases: [string, string, string][] = [
      // serialHex in, INTEGER content out, serialHex read back
      ["80", "0080", "80"],
      ["7f", "7f", "7f"],
      ["abc", "0abc", "0abc"],
      ["00ff", "00ff", "ff"],
      ["000001", "01", "01"],
      ["DEADBEEF", "00deadbeef", "deadbeef"],
      ["f".repeat(40), "00" + "f".repeat(40), "f".repeat(40)],
    ];
    const entries = cases.map(([serialHex]) => ({ serialHex, revokedAt: now, reason: null, invalidityDate: null }));
    const der = await makeCrl(issuer, { entries });
    for (const [, content] of cases) {
      const integer = Buffer.concat([Buffer.from([0x02, content.length / 2]), Buffer.from(content, "hex"), Buffer.from([0x17, 13])]);
      expect(der.includes(integer), content).toBe(true);
    }
    expect(parseCrl(der).entries.map((e) => e.serialHex)).toEqual(cases.map(([, , back]) => back));
  });

  it("reads a CRL of 200,000 entries", () => {
    const entries: RevokedEntry[] = [];
    for (let i = 0; i < 200_000; i++) {
      entries.push({
        serialHex: (0x5ca1ab1e00000000n + BigInt(i) * 0x9e3779b1n).toString(16) + "c0ffee",
        revokedAt: now - i * 1000,
        reason: i % 4 === 0 ? null : (i % 5) + 1,
        invalidityDate: i % 3 === 0 ? now - i * 2000 : null,
      });
    }
    const alg = Buffer.from("300a06082a8648ce3d040302", "hex");
    const tbs = buildTbsCertList({
      signatureAlgorithm: alg,
      issuerDer: Buffer.from("3011310f300d06035504030c06497373756572", "hex"),
      thisUpdate: new Date(now),
      nextUpdate: new Date(now + DAY),
      entries,
      crlNumber: 99n,
      authorityKeyId: Buffer.alloc(20, 7),
    });
    const parsed = parseCrl(assembleCrl(tbs, alg, Buffer.alloc(70, 1)));
    expect(parsed.entries).toHaveLength(200_000);
    expect(parsed.entries[199_999]).toEqual(asParsed([entries[199_999]!])[0]);
  });

  describe("refuses malformed DER with bad_crl", () => {
    let sample: Buffer;
    const getSample = async () => (sample ??= await makeCrl(await issuerFor("P-256"), { entries: ENTRIES, crlNumber: 9n, freshestCrlUrls: FRESHEST }));

    it("every truncation, and trailing garbage", async () => {
      const der = await getSample();
      for (let n = 0; n < der.length; n++) expectCode(() => parseCrl(der.subarray(0, n)), "bad_crl");
      expectCode(() => parseCrl(Buffer.concat([der, Buffer.from([0])])), "bad_crl", /trailing/);
      expectCode(() => parseCrl(Buffer.concat([der, der])), "bad_crl", /trailing/);
    });

    it("random buffers, and random single-octet damage never escapes as another error", async () => {
      let seed = 0x5eed;
      const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
      for (let i = 0; i < 50; i++) {
        const junk = Buffer.from(Array.from({ length: 1 + rand() * 4 }, rand));
        expectCode(() => parseCrl(junk), "bad_crl");
      }
      expectCode(() => parseCrl(Buffer.from("30820a00", "hex")), "bad_crl");
      const der = await getSample();
      for (let i = 0; i < 3000; i++) {
        const damaged = Buffer.from(der);
        const at = ((rand() << 8) | rand()) % der.length;
        damaged[at] = der[at]! ^ (1 + (rand() % 255));
        try {
          parseCrl(damaged);
        } catch (err) {
          expect(isSignetError(err, "bad_crl"), String(err)).toBe(true);
        }
      }
    });

    it("wrong tags", async () => {
      const der = await getSample();
      const tbs = readTlv(der, readTlv(der, 0).start);
      const withOctet = (at: number, v: number) => {
        const b = Buffer.from(der);
        b[at] = v;
        return b;
      };
      expectCode(() => parseCrl(withOctet(0, TAG.SET)), "bad_crl");
      expectCode(() => parseCrl(withOctet(tbs.offset, TAG.SET)), "bad_crl");
      expectCode(() => parseCrl(withOctet(tbs.start, 0x0a)), "bad_crl"); // version as ENUMERATED
      expectCode(() => parseCrl(withOctet(der.length - parseCrl(der).signature.length - 3, TAG.OCTET_STRING)), "bad_crl");
    });

    it("unknown critical extensions, in the CRL or in an entry", async () => {
      const issuer = await issuerFor("P-256");
      // The Delta CRL Indicator's OID (2.5.29.27) turned into issuingDistributionPoint's
      // (2.5.29.28), which Signet does not understand: critical, so the CRL cannot be used.
      const delta = await makeCrl(issuer, { crlNumber: 3n, deltaBaseCrlNumber: 2n });
      expect(parseCrl(delta).deltaBaseCrlNumber).toBe(2n);
      const idp = replaceOnce(delta, Buffer.from("0603551d1b0101ff", "hex"), Buffer.from("0603551d1c0101ff", "hex"));
      expectCode(() => parseCrl(idp), "bad_crl", /unknown critical extension 2\.5\.29\.28/);

      // An entry's invalidityDate (26 octets) swapped for a critical certificateIssuer (2.5.29.29,
      // indirect CRLs) of the same size.
      const invalidityDate = Date.UTC(2030, 0, 1);
      const one = await makeCrl(issuer, { entries: [{ serialHex: "01", revokedAt: now, reason: null, invalidityDate }] });
      expect(parseCrl(one).entries[0]!.invalidityDate).toBe(invalidityDate);
      const invalidityExtension = Buffer.concat([Buffer.from("30180603551d180411180f", "hex"), Buffer.from("20300101000000Z", "latin1")]);
      const certificateIssuer = Buffer.concat([Buffer.from("30180603551d1d0101ff040e", "hex"), Buffer.alloc(14)]);
      const indirect = replaceOnce(one, invalidityExtension, certificateIssuer);
      expectCode(() => parseCrl(indirect), "bad_crl", /unknown critical extension 2\.5\.29\.29 in crlEntryExtensions/);
    });

    it("what RFC 5280 or DER forbid though the bytes would parse", async () => {
      const issuer = await issuerFor("P-256");
      const delta = await makeCrl(issuer, { crlNumber: 3n, deltaBaseCrlNumber: 2n });
      // critical TRUE, INTEGER 2 -> no BOOLEAN, INTEGER 0x01000002: the same length, not critical.
      const nonCritical = replaceOnce(delta, Buffer.from("0101ff0403020102", "hex"), Buffer.from("0406020401000002", "hex"));
      expectCode(() => parseCrl(nonCritical), "bad_crl", /must be critical/);
      const explicitFalse = replaceOnce(delta, Buffer.from("0101ff", "hex"), Buffer.from("010100", "hex"));
      expectCode(() => parseCrl(explicitFalse), "bad_crl", /DEFAULT/);

      const empty = await makeCrl(issuer);
      const p = parseCrl(empty);
      const tbsContent = readTlv(p.tbs, 0).content;
      const thisUpdateAt = tbsContent.indexOf(p.issuerDer) + p.issuerDer.length;
      const nextUpdateEnd = thisUpdateAt + 15 + 15;
      /** The CRL again, its tbsCertList content edited (the signature no longer matches; parseCrl does not check it). */
      const edited = (edit: (c: Buffer) => Buffer[]) => assembleCrl(tlv(TAG.SEQUENCE, ...edit(tbsContent)), p.signatureAlgorithm, p.signature);
      expect(parseCrl(edited((c) => [c])).crlNumber).toBe(1n);
      const emptyList = edited((c) => [c.subarray(0, nextUpdateEnd), Buffer.from([TAG.SEQUENCE, 0]), c.subarray(nextUpdateEnd)]);
      expectCode(() => parseCrl(emptyList), "bad_crl", /absent rather than empty/);
      const v1 = edited((c) => [c.subarray(3)]);
      expectCode(() => parseCrl(v1), "bad_crl", /v1 CRL/);
      const v1Explicit = edited((c) => [Buffer.from([TAG.INTEGER, 1, 0]), c.subarray(3)]);
      expectCode(() => parseCrl(v1Explicit), "bad_crl", /must be v2/);
      // thisUpdate in 2026 written as GeneralizedTime.
      const generalized = edited((c) => [
        c.subarray(0, thisUpdateAt),
        Buffer.concat([Buffer.from([TAG.GENERALIZED_TIME, 15]), Buffer.from(String(p.thisUpdate.getUTCFullYear()).slice(0, 2)), c.subarray(thisUpdateAt + 2, thisUpdateAt + 15)]),
        c.subarray(thisUpdateAt + 15),
      ]);
      expectCode(() => parseCrl(generalized), "bad_crl", /must be UTCTime/);
      const otherAlgorithm = edited((c) => [replaceOnce(c, p.signatureAlgorithm, Buffer.from("300a06082a8648ce3d040303", "hex"))]);
      expectCode(() => parseCrl(otherAlgorithm), "bad_crl", /signatureAlgorithm differs/);
    });
  });
});

describe("buildTbsCertList refuses bad input (internal data: TypeError / RangeError)", () => {
  const base = (): TbsCertListParams => ({
    signatureAlgorithm: Buffer.from("300a06082a8648ce3d040302", "hex"),
    issuerDer: Buffer.from("3011310f300d06035504030c06497373756572", "hex"),
    thisUpdate: new Date(now),
    nextUpdate: new Date(now + DAY),
    entries: [],
    crlNumber: 5n,
    authorityKeyId: Buffer.alloc(20, 1),
  });
  const entry = (over: Partial<RevokedEntry>): RevokedEntry[] => [{ serialHex: "01", revokedAt: now, reason: null, invalidityDate: null, ...over }];

  it.each([
    ["empty serial", { entries: entry({ serialHex: "" }) }, TypeError],
    ["non-hex serial", { entries: entry({ serialHex: "12g4" }) }, TypeError],
    ["0x-prefixed serial", { entries: entry({ serialHex: "0x12" }) }, TypeError],
    ["41 hex digits", { entries: entry({ serialHex: "1".repeat(41) }) }, TypeError],
    ["serial zero", { entries: entry({ serialHex: "0000" }) }, RangeError],
    ["reason 7 (unassigned)", { entries: entry({ reason: 7 }) }, RangeError],
    ["reason 11", { entries: entry({ reason: 11 }) }, RangeError],
    ["reason 1.5", { entries: entry({ reason: 1.5 }) }, RangeError],
    ["removeFromCRL in a base CRL", { entries: entry({ reason: R.removeFromCRL }) }, RangeError],
    ["NaN revokedAt", { entries: entry({ revokedAt: Number.NaN }) }, RangeError],
    ["revokedAt after 9999", { entries: entry({ revokedAt: Date.UTC(10000, 0, 1) }) }, RangeError],
    ["infinite invalidityDate", { entries: entry({ invalidityDate: Infinity }) }, RangeError],
    ["nextUpdate before thisUpdate", { nextUpdate: new Date(now - 1000) }, RangeError],
    ["negative crlNumber", { crlNumber: -1n }, RangeError],
    ["crlNumber over 20 octets", { crlNumber: 2n ** 159n }, RangeError],
    ["delta base not below crlNumber", { deltaBaseCrlNumber: 5n }, RangeError],
    ["Freshest CRL in a delta", { deltaBaseCrlNumber: 4n, freshestCrlUrls: FRESHEST }, RangeError],
    ["issuer that is not a SEQUENCE", { issuerDer: Buffer.from("0500", "hex") }, TypeError],
    ["empty authorityKeyId", { authorityKeyId: Buffer.alloc(0) }, TypeError],
  ] as const)("%s", (_name, over, type) => {
    expect(() => buildTbsCertList({ ...base(), ...over } as TbsCertListParams)).toThrow(type);
  });

  it("accepts the largest values RFC 5280 allows", () => {
    const tbs = buildTbsCertList({ ...base(), crlNumber: 2n ** 159n - 1n, deltaBaseCrlNumber: 2n ** 159n - 2n, entries: entry({ reason: R.removeFromCRL, serialHex: "f".repeat(40) }) });
    const alg = base().signatureAlgorithm;
    const p = parseCrl(assembleCrl(tbs, alg, Buffer.alloc(8)));
    expect(p.crlNumber).toBe(2n ** 159n - 1n);
    expect(p.entries[0]!.reason).toBe(R.removeFromCRL);
  });
});
