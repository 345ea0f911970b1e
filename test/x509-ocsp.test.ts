// The OCSP codec, with OpenSSL (and GnuTLS's ocsptool when installed) as the clients that write the
// requests and judge the responses.
import { spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isSignetError } from "../ca/errors.js";
import { SoftwareSigner, type Signer } from "../ca/signer.js";
import { assembleCertificate, buildTbsCertificate } from "../ca/x509/certificate-builder.js";
import { parseCertificate } from "../ca/x509/certificate-info.js";
import { TAG, contextExplicit, integer, nullValue, octetString, oid, seq, tlv } from "../ca/x509/der.js";
import * as ext from "../ca/x509/extensions.js";
import { encodeName, parseDistinguishedNameString } from "../ca/x509/name.js";
import {
  MAX_OCSP_REQUESTS,
  type CertIdHash,
  type OcspCertStatus,
  type OcspErrorStatus,
  type OcspRequest,
  assembleOcspResponse,
  buildCertId,
  buildResponseData,
  encodeSingleResponse,
  ocspErrorResponse,
  parseOcspRequest,
  parseOcspResponse,
  responderKeyHash,
} from "../ca/x509/ocsp.js";
import { HASH_OIDS, OCSP_OIDS, OID } from "../ca/x509/oids.js";
import { toPem } from "../ca/x509/pem.js";
import { subjectKeyIdentifier, subjectPublicKeyBytes } from "../ca/x509/spki.js";
import { memoryAuthority, removeTestCas } from "./support/ca-fixture.js";
import { makeCsr } from "./support/csr.js";
import { expectCode } from "./support/expect-code.js";

afterAll(() => removeTestCas());

const HOUR = 3_600_000;

/** Runs a tool in a fresh directory holding `files`; returns its exit status, stdout+stderr (OpenSSL
 * prints "Response verify OK" and the nonce warnings on stderr) and the files named in `outputs`. */
function run(tool: string, args: string[], files: Record<string, string | Buffer>, outputs: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), "signet-ocsp-"));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    const r = spawnSync(tool, args, { cwd: dir, encoding: "utf8" });
    if (r.error) throw r.error;
    const out: Record<string, Buffer> = {};
    for (const name of outputs) out[name] = readFileSync(join(dir, name));
    return { status: r.status, out: `${r.stdout}${r.stderr}`, files: out };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const hasOcsptool = spawnSync("ocsptool", ["--version"]).status === 0;

interface Fixture {
  signer: Signer;
  intDer: Buffer;
  intSubject: Buffer;
  intKeyBytes: Buffer;
  intSki: Buffer;
  /** PEM files every openssl call gets. */
  pems: { "int.pem": string; "chain.pem": string; "leaf1.pem": string; "leaf2.pem": string };
  leaves: Array<{ serialHex: string; der: Buffer }>;
}

let fixturePromise: Promise<Fixture> | undefined;

/** One CA and two leaves it issued, shared read-only by the tests. */
function fixture(): Promise<Fixture> {
  return (fixturePromise ??= (async () => {
    const { authority, ca } = await memoryAuthority("P-256");
    const leaves = [];
    for (const cn of ["ocsp-leaf-1", "ocsp-leaf-2"]) {
      const issued = await authority.sign({ csr: makeCsr({ cn }).pem, provisioner: "admin", via: "admin", actor: "test" });
      leaves.push({ serialHex: issued.serialHex, der: issued.der });
    }
    const int = parseCertificate(ca.intermediate.certDer);
    return {
      signer: ca.intermediate.signer,
      intDer: ca.intermediate.certDer,
      intSubject: int.subjectDer,
      intKeyBytes: subjectPublicKeyBytes(int.spki),
      intSki: int.subjectKeyId!,
      pems: {
        "int.pem": toPem("CERTIFICATE", ca.intermediate.certDer),
        "chain.pem": toPem("CERTIFICATE", ca.root.certDer) + toPem("CERTIFICATE", ca.intermediate.certDer),
        "leaf1.pem": toPem("CERTIFICATE", leaves[0]!.der),
        "leaf2.pem": toPem("CERTIFICATE", leaves[1]!.der),
      },
      leaves,
    };
  })());
}

/** A request written by `openssl ocsp`. */
function opensslRequest(f: Fixture, args: string[]): Buffer {
  const r = run("openssl", ["ocsp", "-issuer", "int.pem", ...args, "-reqout", "req.der"], f.pems, ["req.der"]);
  expect(r.status, r.out).toBe(0);
  return r.files["req.der"]!;
}

/** A DER OCSPRequest around ready-made CertIDs, for the cases no real client writes. */
function requestFor(certIds: Buffer[], p: { extensions?: Buffer[]; version?: number; singleExtensions?: Buffer[] } = {}): Buffer {
  const requests = certIds.map((c) => (p.singleExtensions ? seq(c, contextExplicit(0, seq(...p.singleExtensions))) : seq(c)));
  return seq(
    seq(
      ...(p.version === undefined ? [] : [contextExplicit(0, integer(p.version))]),
      seq(...requests),
      ...(p.extensions ? [contextExplicit(2, seq(...p.extensions))] : []),
    ),
  );
}

const nonceExtension = (nonce: Buffer) => seq(oid(OCSP_OIDS.nonce), octetString(octetString(nonce)));

/** A signed response to `req`, one SingleResponse per CertID, signed by the issuing CA unless a
 * delegated responder is given. */
async function respond(
  f: Fixture,
  req: OcspRequest,
  statuses: OcspCertStatus[],
  opts: { responder?: { signer: Signer; der: Buffer }; nonceExtension?: Buffer | null; includeCerts?: boolean } = {},
): Promise<Buffer> {
  const now = Date.now();
  const responses = req.certIds.map((c, i) => encodeSingleResponse(c.der, statuses[i] ?? statuses[0]!, new Date(now - HOUR), new Date(now + 24 * HOUR)));
  const signer = opts.responder?.signer ?? f.signer;
  const responseData = buildResponseData({
    responderKeyHash: responderKeyHash(signer.publicKey.export({ type: "spki", format: "der" })),
    producedAt: new Date(now),
    responses,
    nonceExtension: opts.nonceExtension === undefined ? req.nonceExtension : opts.nonceExtension,
  });
  return assembleOcspResponse({
    responseData,
    signatureAlgorithm: signer.signatureAlgorithm.algorithmIdentifier,
    signature: await signer.sign(responseData),
    certs: opts.responder ? [opts.responder.der] : opts.includeCerts ? [f.intDer] : [],
  });
}

/** `openssl ocsp` reading a response (and the request it answers, when given). */
function opensslCheck(f: Fixture, resp: Buffer, req: Buffer | null, extra: string[] = [], files: Record<string, string | Buffer> = {}) {
  return run(
    "openssl",
    ["ocsp", "-respin", "resp.der", ...(req ? ["-reqin", "req.der"] : []), "-issuer", "int.pem", "-CAfile", "chain.pem", "-resp_text", ...extra],
    { ...f.pems, "resp.der": resp, ...(req ? { "req.der": req } : {}), ...files },
  );
}

const GOOD: OcspCertStatus = { kind: "good" };

describe("parseOcspRequest with real clients", () => {
  it("reads an openssl request with a nonce: SHA-1 CertID matching buildCertId, the serial, the nonce extension", async () => {
    const f = await fixture();
    const der = opensslRequest(f, ["-cert", "leaf1.pem"]);
    const req = parseOcspRequest(der);
    expect(req.certIds).toHaveLength(1);
    const [id] = req.certIds;
    expect(id!.hash).toBe("sha1");
    expect(id!.serialHex).toBe(f.leaves[0]!.serialHex);
    const expected = buildCertId("sha1", f.intSubject, f.intKeyBytes, f.leaves[0]!.serialHex);
    // OpenSSL writes the hash AlgorithmIdentifier with NULL parameters, as buildCertId does.
    expect(id!.der.equals(expected)).toBe(true);
    expect(id!.issuerNameHash.equals(createHash("sha1").update(f.intSubject).digest())).toBe(true);
    expect(id!.issuerKeyHash.equals(createHash("sha1").update(f.intKeyBytes).digest())).toBe(true);
    // The issuer key hash is the CA's subject key identifier (both are method 1).
    expect(id!.issuerKeyHash.equals(f.intSki)).toBe(true);
    // The CertID and nonce are subarrays of the request, not copies.
    expect(id!.der.buffer).toBe(der.buffer);
    expect(req.nonceExtension).not.toBeNull();
    expect(der.includes(req.nonceExtension!)).toBe(true);
    const nonceText = run("openssl", ["ocsp", "-reqin", "req.der", "-req_text"], { "req.der": der }).out;
    const nonceHex = req.nonceExtension!.subarray(-16).toString("hex").toUpperCase();
    expect(nonceText.replace(/[\s:]/g, "")).toContain(nonceHex);
    expect(req.signed).toBe(false);
  });

  it("reads an openssl request without a nonce", async () => {
    const f = await fixture();
    const req = parseOcspRequest(opensslRequest(f, ["-no_nonce", "-cert", "leaf1.pem"]));
    expect(req.nonceExtension).toBeNull();
    expect(req.certIds.map((c) => c.serialHex)).toEqual([f.leaves[0]!.serialHex]);
  });

  it("reads a SHA-256 CertID (openssl -sha256 before -cert)", async () => {
    const f = await fixture();
    const req = parseOcspRequest(opensslRequest(f, ["-sha256", "-cert", "leaf2.pem"]));
    const [id] = req.certIds;
    expect(id!.hash).toBe("sha256");
    expect(id!.issuerNameHash).toHaveLength(32);
    expect(id!.issuerNameHash.equals(createHash("sha256").update(f.intSubject).digest())).toBe(true);
    expect(id!.issuerKeyHash.equals(createHash("sha256").update(f.intKeyBytes).digest())).toBe(true);
    expect(id!.serialHex).toBe(f.leaves[1]!.serialHex);
    expect(id!.der.equals(buildCertId("sha256", f.intSubject, f.intKeyBytes, f.leaves[1]!.serialHex))).toBe(true);
  });

  it("reads a two-certificate request in order", async () => {
    const f = await fixture();
    const req = parseOcspRequest(opensslRequest(f, ["-cert", "leaf1.pem", "-cert", "leaf2.pem"]));
    expect(req.certIds.map((c) => c.serialHex)).toEqual(f.leaves.map((l) => l.serialHex));
    expect(req.certIds[0]!.issuerKeyHash.equals(req.certIds[1]!.issuerKeyHash)).toBe(true);
    expect(req.nonceExtension).not.toBeNull();
  });

  it.skipIf(!hasOcsptool)("reads a GnuTLS ocsptool request", async () => {
    const f = await fixture();
    const r = run("ocsptool", ["--generate-request", "--load-issuer", "int.pem", "--load-cert", "leaf2.pem", "--outfile", "req.der"], f.pems, ["req.der"]);
    expect(r.status, r.out).toBe(0);
    const req = parseOcspRequest(r.files["req.der"]!);
    expect(req.certIds).toHaveLength(1);
    expect(req.certIds[0]!.hash).toBe("sha1");
    expect(req.certIds[0]!.serialHex).toBe(f.leaves[1]!.serialHex);
    expect(req.certIds[0]!.der.equals(buildCertId("sha1", f.intSubject, f.intKeyBytes, f.leaves[1]!.serialHex))).toBe(true);
    // ocsptool --generate-request sends no nonce.
    expect(req.nonceExtension).toBeNull();
  });
  if (!hasOcsptool) it.skip("GnuTLS ocsptool is not on PATH (Debian gnutls-bin): its request is not tested", () => {});
});

describe("responses that openssl verifies", () => {
  it("answers good to a nonce request, signed by the issuing CA, and echoes the nonce", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-cert", "leaf1.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [GOOD]);
    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toMatch(/Cert Status: good/);
    expect(r.out).toContain("OCSP Nonce");
    expect(r.out).not.toMatch(/WARNING: no nonce in response/i);
    expect(r.out).not.toMatch(/nonce verify error/i);
    expect(r.status, r.out).toBe(0);
  });

  it("answers revoked with the reason and time", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-cert", "leaf1.pem"]);
    const revokedAt = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const resp = await respond(f, parseOcspRequest(reqDer), [{ kind: "revoked", revokedAt, reason: 1 }]);
    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toMatch(/Cert Status: revoked/);
    expect(r.out).toMatch(/Revocation Time: Jan {2}2 03:04:05 2026 GMT/);
    expect(r.out).toMatch(/Reason: keyCompromise/);
  });

  it("answers revoked without a reason by leaving revocationReason out", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-cert", "leaf1.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [{ kind: "revoked", revokedAt: new Date(), reason: null }]);
    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toMatch(/Cert Status: revoked/);
    expect(r.out).not.toMatch(/Reason:/);
  });

  it("answers unknown", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-cert", "leaf2.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [{ kind: "unknown" }]);
    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toMatch(/Cert Status: unknown/);
  });

  it("answers a two-certificate request with one SingleResponse each, and openssl matches them by CertID", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-sha256", "-cert", "leaf1.pem", "-cert", "leaf2.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [GOOD, { kind: "revoked", revokedAt: new Date(Date.now() - HOUR), reason: 4 }]);
    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    const statuses = [...r.out.matchAll(/Cert Status: (\w+)/g)].map((m) => m[1]);
    expect(statuses).toEqual(["good", "revoked"]);
    expect(r.out).toMatch(/Reason: superseded/);
    // Asking about the certificates by name makes openssl look each CertID up in the response.
    const byCert = run(
      "openssl",
      ["ocsp", "-respin", "resp.der", "-issuer", "int.pem", "-sha256", "-cert", "leaf1.pem", "-cert", "leaf2.pem", "-no_nonce", "-CAfile", "chain.pem"],
      { ...f.pems, "resp.der": resp },
    );
    expect(byCert.out).toContain("Response verify OK");
    expect(byCert.out).toMatch(/leaf1\.pem: good/);
    expect(byCert.out).toMatch(/leaf2\.pem: revoked/);
    expect(byCert.out).toMatch(/Reason: superseded/);
  });

  it("is signed by a delegated responder certificate carried in certs", async () => {
    const f = await fixture();
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const signer = new SoftwareSigner(privateKey, publicKey, "P-256");
    const spki = publicKey.export({ type: "spki", format: "der" });
    const alg = f.signer.signatureAlgorithm.algorithmIdentifier;
    const now = Date.now();
    const tbs = buildTbsCertificate({
      serial: randomBytes(16),
      signatureAlgorithm: alg,
      issuerNameDer: f.intSubject,
      notBefore: new Date(now - HOUR),
      notAfter: new Date(now + 24 * HOUR),
      subjectNameDer: encodeName(parseDistinguishedNameString("CN=Signet OCSP Responder")),
      spki,
      extensions: [
        ext.keyUsage(["digitalSignature"]),
        ext.extKeyUsage([OID.ekuOcspSigning]),
        ext.ocspNoCheck(),
        ext.authorityKeyIdentifier(f.intSki),
        ext.subjectKeyIdentifier(subjectKeyIdentifier(spki)),
      ],
    });
    const responderDer = assembleCertificate(tbs, alg, await f.signer.sign(tbs));
    const reqDer = opensslRequest(f, ["-cert", "leaf1.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [GOOD], { responder: { signer, der: responderDer } });

    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).toMatch(/Cert Status: good/);
    expect(r.out).toContain("Responder Id: " + responderKeyHash(spki).toString("hex").toUpperCase());
    const parsed = parseOcspResponse(resp);
    expect(parsed.certs).toHaveLength(1);
    expect(parsed.certs![0]!.equals(responderDer)).toBe(true);
    expect(parsed.responderKeyHash!.equals(subjectKeyIdentifier(spki))).toBe(true);
  });

  it("carrying the issuing CA's certificate in certs also verifies", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-cert", "leaf2.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [GOOD], { includeCerts: true });
    const r = run("openssl", ["ocsp", "-respin", "resp.der", "-reqin", "req.der", "-CAfile", "chain.pem", "-resp_text"], { ...f.pems, "resp.der": resp, "req.der": reqDer });
    expect(r.out).toContain("Response verify OK");
  });

  it("openssl complains when the response has no nonce, or a different one, or is checked against a new request", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-cert", "leaf1.pem"]);
    const req = parseOcspRequest(reqDer);

    const without = opensslCheck(f, await respond(f, req, [GOOD], { nonceExtension: null }), reqDer);
    expect(without.out).toMatch(/WARNING: no nonce in response/i);

    const other = opensslCheck(f, await respond(f, req, [GOOD], { nonceExtension: nonceExtension(randomBytes(16)) }), reqDer);
    expect(other.out).toMatch(/nonce verify error/i);

    // Without -reqin, openssl builds a request of its own (with a fresh nonce) for -cert.
    const echoed = await respond(f, req, [GOOD]);
    const fresh = opensslCheck(f, echoed, null, ["-cert", "leaf1.pem"]);
    expect(fresh.out).toMatch(/nonce verify error/i);
  });

  it("a request without a nonce gets a response without one, and openssl is content", async () => {
    const f = await fixture();
    const reqDer = opensslRequest(f, ["-no_nonce", "-cert", "leaf1.pem"]);
    const resp = await respond(f, parseOcspRequest(reqDer), [GOOD]);
    expect(parseOcspResponse(resp).nonceExtension).toBeNull();
    const r = opensslCheck(f, resp, reqDer);
    expect(r.out).toContain("Response verify OK");
    expect(r.out).not.toMatch(/nonce/i);
  });

  it.skipIf(!hasOcsptool)("GnuTLS ocsptool verifies a response signed by the issuing CA", async () => {
    const f = await fixture();
    const r0 = run("ocsptool", ["--generate-request", "--load-issuer", "int.pem", "--load-cert", "leaf1.pem", "--outfile", "req.der"], f.pems, ["req.der"]);
    const resp = await respond(f, parseOcspRequest(r0.files["req.der"]!), [GOOD]);
    const r = run("ocsptool", ["--verify-response", "--load-response", "resp.der", "--load-signer", "int.pem"], { ...f.pems, "resp.der": resp });
    expect(r.out).toMatch(/Verifying OCSP Response: Success/);
    expect(r.status, r.out).toBe(0);
    const info = run("ocsptool", ["--response-info", "--load-response", "resp.der"], { "resp.der": resp });
    expect(info.out).toMatch(/Certificate Status: good/);
  });

  it.each<[OcspErrorStatus, string]>([
    ["malformedRequest", "malformedrequest (1)"],
    ["internalError", "internalerror (2)"],
    ["tryLater", "trylater (3)"],
    ["sigRequired", "sigrequired (5)"],
    ["unauthorized", "unauthorized (6)"],
  ])("writes the %s error response", (status, text) => {
    const der = ocspErrorResponse(status);
    expect(der).toEqual(Buffer.from([0x30, 0x03, 0x0a, 0x01, Number(text.match(/\((\d)\)/)![1])]));
    expect(ocspErrorResponse(status)).toBe(der); // precomputed
    const r = run("openssl", ["ocsp", "-respin", "err.der", "-resp_text"], { "err.der": der });
    expect(r.out).toContain(`Responder Error: ${text}`);
    expect(parseOcspResponse(der)).toEqual({ status });
  });
});

describe("parseOcspRequest refuses malformed input with bad_ocsp_request", () => {
  const certId = (hash: CertIdHash = "sha1", serialHex = "1a2b") => buildCertId(hash, Buffer.from("30003000", "hex"), Buffer.from("key"), serialHex);

  it("refuses serials longer than 20 octets and over-long extension OIDs (memory and CPU a client could otherwise spend)", () => {
    const req = (ids: Buffer[], exts?: Buffer) => seq(seq(seq(...ids.map((id) => seq(id))), ...(exts ? [contextExplicit(2, exts)] : [])));
    expect(parseOcspRequest(req([certId("sha1", "7f" + "ab".repeat(19))])).certIds[0]!.serialHex).toHaveLength(40);
    expectCode(() => parseOcspRequest(req([certId("sha1", "7f" + "ab".repeat(20))])), "bad_ocsp_request", /20 octets/);
    expectCode(() => parseOcspRequest(req([certId("sha1", "7f" + "ab".repeat(8000))])), "bad_ocsp_request", /20 octets/);
    const longOid = tlv(TAG.OID, Buffer.concat([Buffer.from([0x2a]), Buffer.alloc(4000, 0x81), Buffer.from([0x01])]));
    expectCode(() => parseOcspRequest(req([certId()], seq(seq(longOid, octetString(Buffer.from("0400", "hex")))))), "bad_ocsp_request", /longer than 64 octets/);
  });

  it("refuses empty and random input", () => {
    expectCode(() => parseOcspRequest(Buffer.alloc(0)), "bad_ocsp_request");
    for (let i = 0; i < 200; i++) expectCode(() => parseOcspRequest(randomBytes(1 + (i % 90))), "bad_ocsp_request");
    expectCode(() => parseOcspRequest(Buffer.from("3000", "hex")), "bad_ocsp_request", /tbsRequest/);
  });

  it("refuses every truncation of a real request, and trailing bytes", async () => {
    const f = await fixture();
    const der = opensslRequest(f, ["-cert", "leaf1.pem", "-cert", "leaf2.pem"]);
    for (let n = 0; n < der.length; n++) expectCode(() => parseOcspRequest(der.subarray(0, n)), "bad_ocsp_request");
    expectCode(() => parseOcspRequest(Buffer.concat([der, Buffer.from([0])])), "bad_ocsp_request", /trailing/);
  });

  it("never throws anything but bad_ocsp_request on a damaged real request", async () => {
    const f = await fixture();
    const der = opensslRequest(f, ["-cert", "leaf1.pem"]);
    for (let i = 0; i < der.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(der);
        bad[i]! ^= flip;
        try {
          parseOcspRequest(bad);
        } catch (err) {
          expect(isSignetError(err, "bad_ocsp_request"), `byte ${i} ^ ${flip}: ${String(err)}`).toBe(true);
        }
      }
    }
  });

  it(`accepts ${MAX_OCSP_REQUESTS} CertIDs and refuses ${MAX_OCSP_REQUESTS + 1}`, () => {
    const ids = Array.from({ length: MAX_OCSP_REQUESTS + 1 }, (_, i) => certId("sha1", (i + 1).toString(16)));
    expect(parseOcspRequest(requestFor(ids.slice(0, MAX_OCSP_REQUESTS))).certIds).toHaveLength(MAX_OCSP_REQUESTS);
    expectCode(() => parseOcspRequest(requestFor(ids)), "bad_ocsp_request", /at most 64/);
  });

  it("refuses an empty requestList", () => {
    expectCode(() => parseOcspRequest(requestFor([])), "bad_ocsp_request", /requestList is empty/);
  });

  it("refuses hashes whose length does not match the algorithm", () => {
    const sha256Oid = seq(oid(HASH_OIDS.sha256), nullValue());
    const h20 = Buffer.alloc(20, 1);
    const bad = seq(sha256Oid, octetString(h20), octetString(h20), integer(5));
    expectCode(() => parseOcspRequest(requestFor([bad])), "bad_ocsp_request", /32 octets for sha256/);
    const mixed = seq(sha256Oid, octetString(Buffer.alloc(32)), octetString(h20), integer(5));
    expectCode(() => parseOcspRequest(requestFor([mixed])), "bad_ocsp_request", /32 octets/);
  });

  it("refuses an unknown hash algorithm and parameters other than NULL, and accepts absent parameters", () => {
    const h = Buffer.alloc(16);
    const md5 = seq(seq(oid("1.2.840.113549.2.5"), nullValue()), octetString(h), octetString(h), integer(5));
    expectCode(() => parseOcspRequest(requestFor([md5])), "bad_ocsp_request", /1\.2\.840\.113549\.2\.5 is not supported/);
    const h20 = Buffer.alloc(20);
    const withParams = seq(seq(oid(HASH_OIDS.sha1), integer(0)), octetString(h20), octetString(h20), integer(5));
    expectCode(() => parseOcspRequest(requestFor([withParams])), "bad_ocsp_request", /parameters/);
    const absent = seq(seq(oid(HASH_OIDS.sha1)), octetString(h20), octetString(h20), integer(5));
    const req = parseOcspRequest(requestFor([absent]));
    expect(req.certIds[0]!.hash).toBe("sha1");
    // The CertID is kept exactly as sent, so the response echoes the absent parameters.
    expect(req.certIds[0]!.der.equals(absent)).toBe(true);
  });

  it("refuses negative and non-minimal serials; keeps the hex minimal", () => {
    const h20 = Buffer.alloc(20);
    const withSerial = (content: number[]) => seq(seq(oid(HASH_OIDS.sha1), nullValue()), octetString(h20), octetString(h20), tlv(TAG.INTEGER, Buffer.from(content)));
    expectCode(() => parseOcspRequest(requestFor([withSerial([0xff])])), "bad_ocsp_request", /serialNumber: negative/);
    expectCode(() => parseOcspRequest(requestFor([withSerial([0x00, 0x01])])), "bad_ocsp_request", /non-minimal/);
    expectCode(() => parseOcspRequest(requestFor([withSerial([])])), "bad_ocsp_request", /empty INTEGER/);
    expect(parseOcspRequest(requestFor([withSerial([0x00, 0x80])])).certIds[0]!.serialHex).toBe("80");
    expect(parseOcspRequest(requestFor([certId("sha1", "00ff")])).certIds[0]!.serialHex).toBe("ff");
    expect(parseOcspRequest(requestFor([certId("sha1", "abc")])).certIds[0]!.serialHex).toBe("0abc");
  });

  it("accepts an explicit v1 and refuses any other version", () => {
    expect(parseOcspRequest(requestFor([certId()], { version: 0 })).certIds).toHaveLength(1);
    expectCode(() => parseOcspRequest(requestFor([certId()], { version: 1 })), "bad_ocsp_request", /v1/);
  });

  it("limits the nonce to 128 octets and refuses an empty one", () => {
    expect(parseOcspRequest(requestFor([certId()], { extensions: [nonceExtension(Buffer.alloc(128, 7))] })).nonceExtension).not.toBeNull();
    expectCode(() => parseOcspRequest(requestFor([certId()], { extensions: [nonceExtension(Buffer.alloc(129, 7))] })), "bad_ocsp_request", /128/);
    expectCode(() => parseOcspRequest(requestFor([certId()], { extensions: [nonceExtension(Buffer.alloc(0))] })), "bad_ocsp_request", /empty/);
    // RFC 2560-era clients put the raw octets in extnValue; the limit applies to them too.
    const raw = (n: number) => seq(oid(OCSP_OIDS.nonce), octetString(Buffer.alloc(n, 0x42)));
    expect(parseOcspRequest(requestFor([certId()], { extensions: [raw(16)] })).nonceExtension!.equals(raw(16))).toBe(true);
    expectCode(() => parseOcspRequest(requestFor([certId()], { extensions: [raw(200)] })), "bad_ocsp_request", /128/);
  });

  it("refuses unknown critical extensions, ignores unknown non-critical ones, refuses duplicates", () => {
    const unknown = (critical: boolean) => ext.extension("1.3.6.1.5.5.7.48.1.4", critical, seq(oid("1.3.6.1.5.5.7.48.1.1")));
    const nonce = nonceExtension(Buffer.alloc(16, 1));
    const ok = parseOcspRequest(requestFor([certId()], { extensions: [unknown(false), nonce] }));
    expect(ok.nonceExtension!.equals(nonce)).toBe(true);
    expectCode(() => parseOcspRequest(requestFor([certId()], { extensions: [unknown(true)] })), "bad_ocsp_request", /critical extension 1\.3\.6\.1\.5\.5\.7\.48\.1\.4/);
    expectCode(() => parseOcspRequest(requestFor([certId()], { singleExtensions: [unknown(true)] })), "bad_ocsp_request", /singleRequestExtensions/);
    expect(parseOcspRequest(requestFor([certId()], { singleExtensions: [unknown(false)] })).certIds).toHaveLength(1);
    expectCode(() => parseOcspRequest(requestFor([certId()], { extensions: [nonce, nonce] })), "bad_ocsp_request", /twice/);
    // A critical nonce is one Signet understands.
    const criticalNonce = ext.extension(OCSP_OIDS.nonce, true, octetString(Buffer.alloc(8, 2)));
    expect(parseOcspRequest(requestFor([certId()], { extensions: [criticalNonce] })).nonceExtension!.equals(criticalNonce)).toBe(true);
  });

  it("refuses wrong tags", () => {
    const id = certId();
    expectCode(() => parseOcspRequest(tlv(TAG.SET, seq(seq(seq(id))))), "bad_ocsp_request", /OCSPRequest/);
    expectCode(() => parseOcspRequest(seq(seq(tlv(TAG.SET, seq(id))))), "bad_ocsp_request", /requestList/);
    expectCode(() => parseOcspRequest(seq(seq(seq(seq(octetString(id)))))), "bad_ocsp_request", /reqCert/);
    expectCode(() => parseOcspRequest(seq(seq(seq(seq(id)), contextExplicit(3, seq())))), "bad_ocsp_request", /trailing/);
  });

  it("notes a signed request without verifying it", () => {
    const signature = contextExplicit(0, seq(seq(oid("1.2.840.10045.4.3.2")), tlv(TAG.BIT_STRING, Buffer.from([0, 1, 2]))));
    const der = seq(seq(seq(seq(certId()))), signature);
    expect(parseOcspRequest(der).signed).toBe(true);
    expectCode(() => parseOcspRequest(seq(seq(seq(seq(certId()))), contextExplicit(0, seq()))), "bad_ocsp_request", /signatureAlgorithm/);
  });
});

describe("encoders and parseOcspResponse", () => {
  it("round-trips a multi-response with a nonce, certs and every status", async () => {
    const f = await fixture();
    const ids = f.leaves.map((l) => buildCertId("sha256", f.intSubject, f.intKeyBytes, l.serialHex));
    ids.push(buildCertId("sha1", f.intSubject, f.intKeyBytes, "0102"));
    const thisUpdate = new Date(Date.UTC(2026, 10, 23, 10, 0, 0));
    const nextUpdate = new Date(Date.UTC(2026, 10, 24, 10, 0, 0));
    const revokedAt = new Date(Date.UTC(2026, 10, 1, 12, 30, 15));
    const statuses: OcspCertStatus[] = [{ kind: "good" }, { kind: "revoked", revokedAt, reason: 1 }, { kind: "unknown" }];
    const nonce = nonceExtension(randomBytes(32));
    const producedAt = new Date(Date.UTC(2026, 10, 23, 10, 5, 0));
    const keyHash = responderKeyHash(parseCertificate(f.intDer).spki);
    const responseData = buildResponseData({
      responderKeyHash: keyHash,
      producedAt,
      responses: ids.map((id, i) => encodeSingleResponse(id, statuses[i]!, thisUpdate, nextUpdate)),
      nonceExtension: nonce,
    });
    const signature = await f.signer.sign(responseData);
    const der = assembleOcspResponse({ responseData, signatureAlgorithm: f.signer.signatureAlgorithm.algorithmIdentifier, signature, certs: [f.intDer] });

    const p = parseOcspResponse(der);
    expect(p.status).toBe("successful");
    expect(p.producedAt).toEqual(producedAt);
    expect(p.responderKeyHash!.equals(f.intSki)).toBe(true);
    expect(p.nonceExtension!.equals(nonce)).toBe(true);
    expect(p.certs!.map((c) => c.equals(f.intDer))).toEqual([true]);
    expect(p.responseData!.equals(responseData)).toBe(true);
    expect(p.signatureAlgorithm!.equals(f.signer.signatureAlgorithm.algorithmIdentifier)).toBe(true);
    expect(p.signature!.equals(signature)).toBe(true);
    expect(p.responses!.map((r) => r.status)).toEqual(statuses);
    expect(p.responses!.map((r) => [r.thisUpdate, r.nextUpdate])).toEqual(ids.map(() => [thisUpdate, nextUpdate]));
    expect(p.responses!.map((r) => r.certId.der.equals(ids[p.responses!.indexOf(r)]!))).toEqual([true, true, true]);
    expect(p.responses!.map((r) => [r.certId.hash, r.certId.serialHex])).toEqual([
      ["sha256", f.leaves[0]!.serialHex],
      ["sha256", f.leaves[1]!.serialHex],
      ["sha1", "0102"],
    ]);
    const r = run("openssl", ["ocsp", "-respin", "resp.der", "-issuer", "int.pem", "-CAfile", "chain.pem", "-resp_text", "-no_cert_checks"], { ...f.pems, "resp.der": der });
    expect(r.out).toContain("Response verify OK");
  });

  it("writes GeneralizedTime with whole seconds, also before 2050, and byKey with no version", async () => {
    const f = await fixture();
    const id = buildCertId("sha1", f.intSubject, f.intKeyBytes, "01");
    const single = encodeSingleResponse(id, GOOD, new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 999)), new Date(Date.UTC(2030, 0, 2)));
    const text = single.toString("latin1");
    expect(text).toContain("\x18\x0f20300101000000Z");
    expect(text).toContain("\xa0\x11\x18\x0f20300102000000Z");
    // good is [0] IMPLICIT NULL right after the CertID.
    expect(single.subarray(2 + id.length, 4 + id.length)).toEqual(Buffer.from([0x80, 0x00]));
    const data = buildResponseData({ responderKeyHash: f.intSki, producedAt: new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 500)), responses: [single] });
    const header = data[1]! & 0x80 ? 2 + (data[1]! & 0x7f) : 2;
    expect(data.subarray(header, header + 4)).toEqual(Buffer.from([0xa2, 0x16, 0x04, 0x14]));
    expect(data.toString("latin1")).toContain("\x18\x0f19991231235959Z");
    expect(parseOcspResponse(assembleOcspResponse({ responseData: data, signatureAlgorithm: f.signer.signatureAlgorithm.algorithmIdentifier, signature: Buffer.alloc(8), certs: [] })).nonceExtension).toBeNull();
  });

  it("refuses bad encoder input with SignetError rather than writing bad DER", async () => {
    const f = await fixture();
    const id = buildCertId("sha1", f.intSubject, f.intKeyBytes, "01");
    const t = new Date();
    expectCode(() => encodeSingleResponse(id, { kind: "revoked", revokedAt: t, reason: 7 }, t, t), "internal", /CRLReason/);
    expectCode(() => encodeSingleResponse(id, GOOD, t, new Date(t.getTime() - 1000)), "internal", /nextUpdate/);
    expectCode(() => encodeSingleResponse(Buffer.from([4, 0]), GOOD, t, t), "internal", /CertID/);
    expectCode(() => buildResponseData({ responderKeyHash: Buffer.alloc(32), producedAt: t, responses: [encodeSingleResponse(id, GOOD, t, t)] }), "internal", /20 octets/);
    expectCode(() => buildCertId("sha1", f.intSubject, f.intKeyBytes, "xyz"), "bad_serial");
  });

  it("parseOcspResponse refuses malformed responses with bad_pem", async () => {
    const f = await fixture();
    const reqDer = requestFor([buildCertId("sha1", f.intSubject, f.intKeyBytes, "01")]);
    const der = await respond(f, parseOcspRequest(reqDer), [GOOD]);
    for (let n = 0; n < der.length; n += 7) expectCode(() => parseOcspResponse(der.subarray(0, n)), "bad_pem");
    expectCode(() => parseOcspResponse(Buffer.concat([der, Buffer.from([0])])), "bad_pem", /trailing/);
    expectCode(() => parseOcspResponse(Buffer.from("30030a0104", "hex")), "bad_pem", /responseStatus 4/);
    expectCode(() => parseOcspResponse(Buffer.from("30030a0100", "hex")), "bad_pem", /must carry responseBytes/);
  });
});
