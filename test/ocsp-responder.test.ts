// The pre-signing OCSP responder over a fake status source that counts its calls, with a clock the
// tests move: what it answers, what it keeps, when it asks storage again, and what it does when a
// revocation is pushed in. OpenSSL judges the delegated responder's answer to a nonce request.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes, verify } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newSerialHex, type IssuerContext } from "../ca/authority.js";
import { OcspResponder, type CertificateStatus, type CertificateStatusSource, type OcspAnswer, type ResponderCredentials } from "../ca/ocsp-responder.js";
import { SoftwareSigner, type Signer } from "../ca/signer.js";
import {
  assembleCertificate,
  authorityKeyIdentifier,
  buildTbsCertificate,
  encodeName,
  extKeyUsage,
  keyUsage,
  OID,
  ocspNoCheck,
  parseCertificate,
  subjectKeyIdentifierExtension,
  subjectPublicKeyBytes,
  keyIdentifier,
  toPem,
} from "../ca/x509/index.js";
import { buildCertId, buildOcspRequest, parseOcspRequest, parseOcspResponse, responderKeyHash, type CertIdHash, type ParsedOcspResponse } from "../ca/x509/ocsp.js";
import { issuer, removeTestCas, testCa } from "./support/ca-fixture.js";

afterAll(() => removeTestCas());

const DAY = 86_400_000;
const VALIDITY = 3600;
const UNKNOWN = 60;
/** Whole seconds, as the responder writes its times. */
const T0 = Math.floor(Date.now() / 1000) * 1000;

class Clock {
  ms = T0;
  readonly now = (): Date => new Date(this.ms);
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** Storage as the responder sees it; counts every call, can fail, and can be held mid-read. */
class FakeSource implements CertificateStatusSource {
  readonly statuses = new Map<string, CertificateStatus>();
  readonly calls: string[] = [];
  fail = false;
  #hold: Promise<void> | null = null;

  async statusOf(serialHex: string): Promise<CertificateStatus | null> {
    this.calls.push(serialHex);
    const hold = this.#hold;
    if (hold) await hold;
    if (this.fail) throw new Error("simulated database failure");
    return this.statuses.get(serialHex) ?? null;
  }

  /** The next reads wait until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.#hold = new Promise<void>((r) => (release = r));
    return () => {
      this.#hold = null;
      release();
    };
  }

  callsFor(serialHex: string): number {
    return this.calls.filter((s) => s === serialHex).length;
  }
}

/** A signer whose next signature waits until released: an HSM or KMS round trip (ca/signer.ts names
 * both as Signers to come), during which other events run. */
class GatedSigner implements Signer {
  readonly keyAlgorithm: Signer["keyAlgorithm"];
  readonly signatureAlgorithm: Signer["signatureAlgorithm"];
  readonly publicKey: Signer["publicKey"];
  waiting = 0;
  #hold: Promise<void> | null = null;

  constructor(private readonly inner: Signer) {
    this.keyAlgorithm = inner.keyAlgorithm;
    this.signatureAlgorithm = inner.signatureAlgorithm;
    this.publicKey = inner.publicKey;
  }

  holdNext(): () => void {
    let release!: () => void;
    this.#hold = new Promise<void>((r) => (release = r));
    return release;
  }

  async sign(data: Buffer): Promise<Buffer> {
    const hold = this.#hold;
    this.#hold = null;
    if (hold) {
      this.waiting++;
      await hold;
      this.waiting--;
    }
    return this.inner.sign(data);
  }
}

interface Pki {
  int: IssuerContext;
  root: IssuerContext;
  intSigner: Signer;
  rootPem: string;
  intPem: string;
}

let pki: Pki;
beforeAll(async () => {
  const { ca } = await testCa("P-256");
  pki = {
    int: issuer(ca.intermediate.certDer, ca.intermediate.signer),
    root: issuer(ca.root.certDer, ca.root.signer ?? null),
    intSigner: ca.intermediate.signer,
    rootPem: toPem("CERTIFICATE", ca.root.certDer),
    intPem: toPem("CERTIFICATE", ca.intermediate.certDer),
  };
});

function setup(opts: { issuers?: IssuerContext[]; credentials?: (issuerId: string) => ResponderCredentials | null; maxEntries?: number; maxUnknown?: number } = {}) {
  const clock = new Clock();
  const source = new FakeSource();
  const responder = new OcspResponder({
    issuers: opts.issuers ?? [pki.int, pki.root],
    source,
    credentials: opts.credentials ?? (() => null),
    validitySeconds: VALIDITY,
    unknownSeconds: UNKNOWN,
    ...(opts.maxEntries === undefined ? {} : { maxEntries: opts.maxEntries }),
    ...(opts.maxUnknown === undefined ? {} : { maxUnknown: opts.maxUnknown }),
    clock: clock.now,
  });
  return { clock, source, responder };
}

const keyBytesOf = (certDer: Buffer) => subjectPublicKeyBytes(parseCertificate(certDer).spki);

function certId(iss: IssuerContext, serialHex: string, hash: CertIdHash = "sha1"): Buffer {
  return buildCertId(hash, iss.subjectDer, keyBytesOf(iss.certDer), serialHex);
}

function request(iss: IssuerContext, serialHex: string, opts: { hash?: CertIdHash; nonce?: Buffer } = {}): Buffer {
  return buildOcspRequest([certId(iss, serialHex, opts.hash)], opts.nonce);
}

function status(serialHex: string, iss: IssuerContext, over: Partial<CertificateStatus> = {}): CertificateStatus {
  return { serialHex, issuerId: iss.id, status: "good", revokedAt: null, reason: null, notAfter: new Date(T0 + 30 * DAY), ...over };
}

/** The one SingleResponse of a successful answer, with the parsed whole. */
function single(a: OcspAnswer): { parsed: ParsedOcspResponse; r: NonNullable<ParsedOcspResponse["responses"]>[number] } {
  const parsed = parseOcspResponse(a.body);
  expect(parsed.status).toBe("successful");
  expect(parsed.responses).toHaveLength(1);
  return { parsed, r: parsed.responses![0]! };
}

const kindOf = (a: OcspAnswer) => single(a).r.status.kind;

function signatureVerifies(parsed: ParsedOcspResponse, signer: Signer): boolean {
  return verify(signer.signatureAlgorithm.hash, parsed.responseData!, signer.publicKey, parsed.signature!);
}

/** A delegated responder certificate (id-kp-OCSPSigning, ocsp-nocheck) issued by the intermediate. */
async function delegatedResponder(notAfter: Date): Promise<ResponderCredentials & { spki: Buffer }> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const alg = pki.intSigner.signatureAlgorithm.algorithmIdentifier;
  const tbs = buildTbsCertificate({
    serial: Buffer.from(newSerialHex(), "hex"),
    signatureAlgorithm: alg,
    issuerNameDer: pki.int.subjectDer,
    notBefore: new Date(T0 - 3600_000),
    notAfter,
    subjectNameDer: encodeName([{ type: "CN", value: "Test OCSP Responder" }]),
    spki,
    extensions: [
      keyUsage(["digitalSignature"]),
      extKeyUsage([OID.ekuOcspSigning]),
      ocspNoCheck(),
      authorityKeyIdentifier(pki.int.subjectKeyId),
      subjectKeyIdentifierExtension(keyIdentifier(spki)),
    ],
  });
  const certDer = assembleCertificate(tbs, alg, await pki.intSigner.sign(tbs));
  return { signer: new SoftwareSigner(privateKey, publicKey, "P-256"), certDer, notAfter, spki };
}

/** Lets pending promise callbacks and I/O callbacks run until `done` holds (bounded). */
async function settle(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setImmediate(r));
  expect(done()).toBe(true);
}

describe("OcspResponder answers", () => {
  it("good, revoked and unknown, signed by the CA key and identified by its key hash", async () => {
    const { source, responder } = setup();
    const [g, r, zero, p, m, other] = [newSerialHex(), newSerialHex(), newSerialHex(), newSerialHex(), newSerialHex(), newSerialHex()];
    const revokedAt = new Date(T0 - 7200_000);
    source.statuses.set(g, status(g, pki.int));
    source.statuses.set(r, status(r, pki.int, { status: "revoked", revokedAt, reason: 1 }));
    source.statuses.set(zero, status(zero, pki.int, { status: "revoked", revokedAt, reason: 0 }));
    // A pending intent: never signed, so not "good".
    source.statuses.set(p, status(p, pki.int, { status: "unknown" }));
    // Issued by the root, asked about under the intermediate.
    source.statuses.set(other, status(other, pki.root));

    const good = await responder.respond(request(pki.int, g));
    expect(good).toMatchObject({ outcome: "signed", cacheable: true });
    const { parsed, r: gr } = single(good);
    expect(gr.status).toEqual({ kind: "good" });
    expect(gr.certId.serialHex).toBe(g);
    expect(gr.certId.der.equals(certId(pki.int, g))).toBe(true);
    expect(gr.thisUpdate.getTime()).toBe(T0);
    expect(gr.nextUpdate!.getTime()).toBe(T0 + VALIDITY * 1000);
    expect(parsed.producedAt!.getTime()).toBe(T0);
    expect(parsed.responderKeyHash!.equals(responderKeyHash(parseCertificate(pki.int.certDer).spki))).toBe(true);
    expect(parsed.certs).toEqual([]);
    expect(parsed.nonceExtension).toBeNull();
    expect(signatureVerifies(parsed, pki.intSigner)).toBe(true);
    expect(good.thisUpdate?.getTime()).toBe(T0);
    expect(good.nextUpdate?.getTime()).toBe(T0 + VALIDITY * 1000);
    expect(good.etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect(good.lastModifiedHttp).toBe(new Date(T0).toUTCString());
    expect(good.expiresHttp).toBe(new Date(T0 + VALIDITY * 1000).toUTCString());

    expect(single(await responder.respond(request(pki.int, r))).r.status).toEqual({ kind: "revoked", revokedAt, reason: 1 });
    // reason 0 (unspecified) is written by leaving revocationReason out.
    expect(single(await responder.respond(request(pki.int, zero))).r.status).toEqual({ kind: "revoked", revokedAt, reason: null });

    for (const serial of [p, m, other]) {
      const a = await responder.respond(request(pki.int, serial));
      const u = single(a).r;
      expect(u.status, serial).toEqual({ kind: "unknown" });
      // An unknown answer lives only as long as it is kept.
      expect(u.nextUpdate!.getTime() - u.thisUpdate.getTime()).toBe(UNKNOWN * 1000);
    }
    expect(source.calls).toEqual([g, r, zero, p, m, other]);
  });

  it("serves the second identical request from memory, with no storage query", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    const first = await responder.respond(request(pki.int, serial));
    const second = await responder.respond(request(pki.int, serial));
    expect(first.outcome).toBe("signed");
    expect(second.outcome).toBe("cached");
    expect(second.body.equals(first.body)).toBe(true);
    expect(second.etag).toBe(first.etag);
    expect(source.calls).toEqual([serial]);
    expect(responder.stats).toMatchObject({ cached: 1, loads: 1 });
  });

  it("answers SHA-256 CertIDs, echoing them verbatim, from the status already loaded", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    await responder.respond(request(pki.int, serial));
    for (const hash of ["sha256", "sha384", "sha512"] as const) {
      const a = await responder.respond(request(pki.int, serial, { hash }));
      expect(a.outcome, hash).toBe("signed");
      const { r } = single(a);
      expect(r.status.kind).toBe("good");
      expect(r.certId.hash).toBe(hash);
      expect(r.certId.der.equals(certId(pki.int, serial, hash))).toBe(true);
      expect((await responder.respond(request(pki.int, serial, { hash }))).outcome).toBe("cached");
    }
    expect(source.calls).toEqual([serial]);
  });

  it("signs each nonce request afresh, echoing the nonce, from the cached status", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    const answers: OcspAnswer[] = [];
    const reqs: Buffer[] = [];
    for (let i = 0; i < 2; i++) {
      reqs.push(request(pki.int, serial, { nonce: randomBytes(16) }));
      answers.push(await responder.respond(reqs[i]!));
    }
    for (let i = 0; i < 2; i++) {
      expect(answers[i]).toMatchObject({ outcome: "signed", cacheable: false });
      expect(answers[i]!.etag).toBeUndefined();
      const { parsed, r } = single(answers[i]!);
      expect(r.status.kind).toBe("good");
      expect(parsed.nonceExtension!.equals(parseOcspRequest(reqs[i]!).nonceExtension!)).toBe(true);
      expect(signatureVerifies(parsed, pki.intSigner)).toBe(true);
    }
    expect(answers[0]!.body.equals(answers[1]!.body)).toBe(false);
    // The nonce-free answer the first call cached is what a plain request now gets.
    expect((await responder.respond(request(pki.int, serial))).outcome).toBe("cached");
    expect(source.calls).toEqual([serial]);
  });

  it("answers several certificates in one response, in request order", async () => {
    const { source, responder } = setup();
    const [g, r, m] = [newSerialHex(), newSerialHex(), newSerialHex()];
    const revokedAt = new Date(T0 - 60_000);
    source.statuses.set(g, status(g, pki.int));
    source.statuses.set(r, status(r, pki.int, { status: "revoked", revokedAt, reason: 4 }));
    const ids = [certId(pki.int, g), certId(pki.int, r, "sha256"), certId(pki.int, m)];
    const a = await responder.respond(buildOcspRequest(ids));
    expect(a).toMatchObject({ outcome: "signed", cacheable: false });
    const parsed = parseOcspResponse(a.body);
    expect(parsed.responses!.map((x) => x.status)).toEqual([{ kind: "good" }, { kind: "revoked", revokedAt, reason: 4 }, { kind: "unknown" }]);
    expect(parsed.responses!.map((x, i) => x.certId.der.equals(ids[i]!))).toEqual([true, true, true]);
    expect(signatureVerifies(parsed, pki.intSigner)).toBe(true);
    // Each certificate's answer was kept: a single request for one of them is served from memory.
    expect((await responder.respond(request(pki.int, g))).outcome).toBe("cached");
    expect(source.calls.sort()).toEqual([g, r, m].sort());
  });
});

describe("OcspResponder refuses", () => {
  it("a CertID naming an issuer it does not serve, or the right key with another issuer's name, as unauthorized", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    const foreign = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" });
    const cases = [
      buildCertId("sha1", pki.int.subjectDer, subjectPublicKeyBytes(foreign), serial),
      buildCertId("sha256", pki.int.subjectDer, subjectPublicKeyBytes(foreign), serial),
      // The intermediate's key hash with the root's name hash.
      buildCertId("sha1", pki.root.subjectDer, keyBytesOf(pki.int.certDer), serial),
    ];
    for (const id of cases) {
      const a = await responder.respond(buildOcspRequest([id]));
      expect(a).toMatchObject({ outcome: "unauthorized", cacheable: false });
      expect(parseOcspResponse(a.body).status).toBe("unauthorized");
    }
    // One foreign CertID among good ones spoils the request.
    const mixed = await responder.respond(buildOcspRequest([certId(pki.int, serial), cases[0]!]));
    expect(mixed.outcome).toBe("unauthorized");
    expect(source.calls).toEqual([]);
  });

  it("one request about certificates of two CAs (one responder cannot vouch for both)", async () => {
    const { responder } = setup();
    const a = await responder.respond(buildOcspRequest([certId(pki.int, newSerialHex()), certId(pki.root, newSerialHex())]));
    expect(a.outcome).toBe("unauthorized");
    expect(parseOcspResponse(a.body).status).toBe("unauthorized");
  });

  it("questions about an offline root, which answers nothing", async () => {
    const offlineRoot = { ...pki.root, signer: null };
    const { responder } = setup({ issuers: [pki.int, offlineRoot] });
    const a = await responder.respond(request(pki.root, newSerialHex()));
    expect(a.outcome).toBe("unauthorized");
  });

  it("malformed input with malformedRequest, never a throw", async () => {
    const { source, responder } = setup();
    const good = request(pki.int, newSerialHex());
    const md5CertId = Buffer.from(certId(pki.int, "01"));
    // sha1's OID 1.3.14.3.2.26 turned into 1.3.14.3.2.27, which no CertID may use.
    md5CertId[8] = 27;
    for (const der of [Buffer.alloc(0), Buffer.from("not ocsp"), good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([0])]), buildOcspRequest([md5CertId])]) {
      const a = await responder.respond(der);
      expect(a).toMatchObject({ outcome: "malformed", cacheable: false });
      expect(parseOcspResponse(a.body).status).toBe("malformedRequest");
    }
    expect(source.calls).toEqual([]);
  });

  it("a failing certificate store with tryLater (status 3), and answers once it is back", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    source.fail = true;
    const a = await responder.respond(request(pki.int, serial));
    expect(a).toMatchObject({ outcome: "unavailable", cacheable: false });
    expect(a.body.equals(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]))).toBe(true);
    expect(parseOcspResponse(a.body).status).toBe("tryLater");
    const multi = await responder.respond(buildOcspRequest([certId(pki.int, serial), certId(pki.int, newSerialHex())], randomBytes(8)));
    expect(parseOcspResponse(multi.body).status).toBe("tryLater");
    expect(responder.size).toBe(0);
    source.fail = false;
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("good");
  });
});

describe("OcspResponder keeps its answers current", () => {
  it("revoked() re-signs the cached answers at once: the next answer says revoked, from memory", async () => {
    const { source, responder, clock } = setup();
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("good");
    expect(kindOf(await responder.respond(request(pki.int, serial, { hash: "sha256" })))).toBe("good");

    clock.advance(5);
    const revokedAt = new Date(clock.ms - 1000);
    await responder.revoked(serial, pki.int.id, revokedAt, 1, new Date(T0 + 30 * DAY));
    for (const hash of ["sha1", "sha256"] as const) {
      const a = await responder.respond(request(pki.int, serial, { hash }));
      expect(a.outcome, hash).toBe("cached");
      const { r } = single(a);
      expect(r.status).toEqual({ kind: "revoked", revokedAt, reason: 1 });
      expect(r.thisUpdate.getTime()).toBe(clock.ms);
    }
    expect(source.calls).toEqual([serial]);
    // Told again (the follower delivers what this replica already applied): nothing changes.
    const before = (await responder.respond(request(pki.int, serial))).body;
    await responder.revoked(serial, pki.int.id, new Date(), 4, new Date(T0 + 30 * DAY));
    expect((await responder.respond(request(pki.int, serial))).body.equals(before)).toBe(true);
  });

  it("revoked() for a serial it never loaded answers revoked without asking storage", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    const revokedAt = new Date(T0 - 1000);
    await responder.revoked(serial, pki.int.id, revokedAt, 0, new Date(T0 + DAY));
    expect(single(await responder.respond(request(pki.int, serial))).r.status).toEqual({ kind: "revoked", revokedAt, reason: null });
    expect(source.calls).toEqual([]);
  });

  it("a revocation pushed while storage is being read wins over the status read", async () => {
    const { source, responder } = setup();
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    const release = source.hold();
    const pending = responder.respond(request(pki.int, serial));
    await settle(() => source.calls.length === 1);
    const revokedAt = new Date(T0 - 1000);
    await responder.revoked(serial, pki.int.id, revokedAt, 1, new Date(T0 + DAY));
    release();
    expect(single(await pending).r.status).toEqual({ kind: "revoked", revokedAt, reason: 1 });
    expect(single(await responder.respond(request(pki.int, serial))).r.status.kind).toBe("revoked");
    expect(source.calls).toEqual([serial]);
  });

  it("a revocation that lands on a previously unknown serial replaces the unknown answers", async () => {
    const { responder } = setup();
    const serial = newSerialHex();
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("unknown");
    await responder.revoked(serial, pki.int.id, new Date(T0), 1, new Date(T0 + DAY));
    const a = await responder.respond(request(pki.int, serial));
    expect(a.outcome).toBe("cached");
    expect(kindOf(a)).toBe("revoked");
    expect(single(a).r.nextUpdate!.getTime()).toBe(T0 + VALIDITY * 1000);
  });

  // Regression: an answer whose signature was in flight when revoked() ran used to overwrite the
  // re-signed "revoked" answer with the stale "good" one, served from memory until its refresh. With
  // SoftwareSigner the window is a microtask; a Signer that awaits I/O (an HSM, a KMS) opens it.
  // Repro: cache a good answer, move the clock past its refresh, start a request whose signature is
  // held, push revoked(), release the signature: the next request must say "revoked".
  it("a revocation during an in-flight re-signature is not overwritten by the stale good answer", async () => {
    const gated = new GatedSigner(pki.intSigner);
    const { source, responder, clock } = setup({ issuers: [{ ...pki.int, signer: gated }] });
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("good");
    clock.advance(VALIDITY / 2 + 1);

    const release = gated.holdNext();
    const inFlight = responder.respond(request(pki.int, serial));
    await settle(() => gated.waiting === 1);
    await responder.revoked(serial, pki.int.id, new Date(clock.ms - 1000), 1, new Date(T0 + DAY));
    // What revoked() left in memory says revoked...
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("revoked");
    release();
    await inFlight; // answered good: it was asked before the revocation, which is fine
    // ...and must go on saying it.
    const after = await responder.respond(request(pki.int, serial));
    expect(after.outcome).toBe("cached");
    expect(kindOf(after)).toBe("revoked");
  });

  it("refresh() re-signs answers past half their validity and drops certificates expired longer than a validity period", async () => {
    const { source, responder, clock } = setup();
    const [live, expiredLong, expiredRecently] = [newSerialHex(), newSerialHex(), newSerialHex()];
    source.statuses.set(live, status(live, pki.int));
    source.statuses.set(expiredLong, status(expiredLong, pki.int, { notAfter: new Date(T0 - VALIDITY * 1000 - 1000) }));
    source.statuses.set(expiredRecently, status(expiredRecently, pki.int, { notAfter: new Date(T0 - (VALIDITY * 1000) / 4) }));
    for (const s of [live, expiredLong, expiredRecently]) await responder.respond(request(pki.int, s));
    expect(responder.size).toBe(3);

    expect(await responder.refresh()).toEqual({ resigned: 0, dropped: 1 });
    expect(responder.size).toBe(2);

    clock.advance(VALIDITY / 2 - 1);
    expect(await responder.refresh()).toEqual({ resigned: 0, dropped: 0 });
    clock.advance(1);
    expect(await responder.refresh()).toEqual({ resigned: 2, dropped: 0 });
    const a = await responder.respond(request(pki.int, live));
    expect(a.outcome).toBe("cached");
    expect(a.thisUpdate!.getTime()).toBe(clock.ms);
    expect(a.nextUpdate!.getTime()).toBe(clock.ms + VALIDITY * 1000);

    // Once the recently expired certificate's last answer has run out too, it goes.
    clock.advance(VALIDITY);
    expect(await responder.refresh()).toEqual({ resigned: 1, dropped: 1 });
    expect(responder.size).toBe(1);
    expect(source.calls).toEqual([live, expiredLong, expiredRecently]);
    // A dropped certificate is read again if asked about.
    await responder.respond(request(pki.int, expiredLong));
    expect(source.callsFor(expiredLong)).toBe(2);
  });

  it("asks storage about an unknown serial again after unknownSeconds, not before", async () => {
    const { source, responder, clock } = setup();
    const serial = newSerialHex();
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("unknown");
    expect((await responder.respond(request(pki.int, serial))).outcome).toBe("cached");
    // Issued by another replica meanwhile; this one does not know yet.
    source.statuses.set(serial, status(serial, pki.int));
    clock.advance(UNKNOWN / 2);
    const resigned = await responder.respond(request(pki.int, serial));
    expect(resigned.outcome).toBe("signed");
    expect(kindOf(resigned)).toBe("unknown");
    expect(source.callsFor(serial)).toBe(1);
    clock.advance(UNKNOWN / 2);
    expect(kindOf(await responder.respond(request(pki.int, serial)))).toBe("good");
    expect(source.callsFor(serial)).toBe(2);
    // Known now: never asked about again.
    clock.advance(UNKNOWN * 10);
    await responder.respond(request(pki.int, serial));
    expect(source.callsFor(serial)).toBe(2);
  });

  it("issued() forgets a cached unknown, so the next request reads storage; a known status stays", async () => {
    const { source, responder } = setup();
    const [fresh, known] = [newSerialHex(), newSerialHex()];
    source.statuses.set(known, status(known, pki.int));
    expect(kindOf(await responder.respond(request(pki.int, fresh)))).toBe("unknown");
    await responder.respond(request(pki.int, known));
    source.statuses.set(fresh, status(fresh, pki.int));
    responder.issued(fresh);
    responder.issued(known);
    expect(kindOf(await responder.respond(request(pki.int, fresh)))).toBe("good");
    expect((await responder.respond(request(pki.int, known))).outcome).toBe("cached");
    expect(source.callsFor(fresh)).toBe(2);
    expect(source.callsFor(known)).toBe(1);
  });

  it("refresh() drops unknown serials whose recheck is due", async () => {
    const { responder, clock } = setup();
    await responder.respond(request(pki.int, newSerialHex()));
    expect(await responder.refresh()).toEqual({ resigned: 0, dropped: 0 });
    clock.advance(UNKNOWN);
    expect(await responder.refresh()).toEqual({ resigned: 0, dropped: 1 });
    expect(responder.size).toBe(0);
  });

  it("keeps at most maxEntries certificates, dropping the oldest loaded", async () => {
    const { source, responder } = setup({ maxEntries: 2 });
    const serials = [newSerialHex(), newSerialHex(), newSerialHex()];
    for (const s of serials) source.statuses.set(s, status(s, pki.int));
    for (const s of serials) await responder.respond(request(pki.int, s));
    expect(responder.size).toBe(2);
    expect((await responder.respond(request(pki.int, serials[2]!))).outcome).toBe("cached");
    expect((await responder.respond(request(pki.int, serials[1]!))).outcome).toBe("cached");
    expect((await responder.respond(request(pki.int, serials[0]!))).outcome).toBe("signed");
    expect(source.callsFor(serials[0]!)).toBe(2);
    expect(responder.size).toBe(2);
    // Loading the first again pushed out the next oldest.
    expect((await responder.respond(request(pki.int, serials[1]!))).outcome).toBe("signed");
    expect(source.callsFor(serials[1]!)).toBe(2);
  });
});

describe("OcspResponder under a flood of unknown serials", () => {
  it("keeps at most maxUnknown unknown serials, so anyone asking about random serials cannot grow memory without bound, and keeps what it issued", async () => {
    const { source, responder } = setup({ maxUnknown: 3 });
    const known = newSerialHex();
    source.statuses.set(known, status(known, pki.int));
    await responder.respond(request(pki.int, known));
    const junk = Array.from({ length: 50 }, () => newSerialHex());
    for (const s of junk) expect(kindOf(await responder.respond(request(pki.int, s)))).toBe("unknown");
    expect(responder.size).toBe(1 + 3);
    expect((await responder.respond(request(pki.int, known))).outcome).toBe("cached");
    expect((await responder.respond(request(pki.int, junk[49]!))).outcome).toBe("cached");
    expect((await responder.respond(request(pki.int, junk[0]!))).outcome).toBe("signed");
    expect(source.callsFor(junk[0]!)).toBe(2);
  });
});

describe("OcspResponder with a delegated responder", () => {
  const tmp = mkdtempSync(join(tmpdir(), "signet-ocsp-responder-"));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("signs with the responder's key, carries its certificate, and never answers beyond its notAfter", async () => {
    const soon = await delegatedResponder(new Date(T0 + 1800_500));
    const { source, responder, clock } = setup({ credentials: (id) => (id === pki.int.id ? soon : null) });
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int));
    const a = await responder.respond(request(pki.int, serial));
    const { parsed, r } = single(a);
    expect(r.status.kind).toBe("good");
    expect(parsed.certs!.map((c) => c.equals(soon.certDer))).toEqual([true]);
    expect(parsed.responderKeyHash!.equals(responderKeyHash(soon.spki))).toBe(true);
    expect(signatureVerifies(parsed, soon.signer)).toBe(true);
    expect(signatureVerifies(parsed, pki.intSigner)).toBe(false);
    // An hour of validity asked for; the responder certificate ends in half an hour (whole seconds, down).
    expect(r.nextUpdate!.getTime()).toBe(T0 + 1800_000);
    expect(a.nextUpdate!.getTime()).toBeLessThanOrEqual(soon.notAfter.getTime());
    // Half its (shortened) life on, it is re-signed.
    clock.advance(900);
    expect((await responder.respond(request(pki.int, serial))).outcome).toBe("signed");

    // The root has no delegated responder: it signs its own answers.
    const rootSerial = newSerialHex();
    source.statuses.set(rootSerial, status(rootSerial, pki.root));
    const rootAnswer = single(await responder.respond(request(pki.root, rootSerial)));
    expect(rootAnswer.parsed.certs).toEqual([]);
    expect(rootAnswer.r.nextUpdate!.getTime() - rootAnswer.r.thisUpdate.getTime()).toBe(VALIDITY * 1000);

    // A responder certificate that outlives the answers does not shorten them.
    const later = await delegatedResponder(new Date(T0 + 10 * DAY));
    const long = setup({ credentials: () => later });
    long.source.statuses.set(serial, status(serial, pki.int));
    const l = single(await long.responder.respond(request(pki.int, serial)));
    expect(l.r.nextUpdate!.getTime() - l.r.thisUpdate.getTime()).toBe(VALIDITY * 1000);
  });

  it("answers a nonce request that openssl verifies against the chain, nonce checked", async () => {
    const creds = await delegatedResponder(new Date(T0 + DAY));
    const { source, responder } = setup({ credentials: () => creds });
    const serial = newSerialHex();
    source.statuses.set(serial, status(serial, pki.int, { status: "revoked", revokedAt: new Date(T0 - 60_000), reason: 1 }));
    const req = request(pki.int, serial, { nonce: randomBytes(16) });
    const a = await responder.respond(req);
    expect(a.outcome).toBe("signed");
    writeFileSync(join(tmp, "req.der"), req);
    writeFileSync(join(tmp, "resp.der"), a.body);
    writeFileSync(join(tmp, "chain.pem"), pki.rootPem + pki.intPem);
    writeFileSync(join(tmp, "int.pem"), pki.intPem);
    const r = spawnSync("openssl", ["ocsp", "-respin", "resp.der", "-reqin", "req.der", "-issuer", "int.pem", "-CAfile", "chain.pem", "-resp_text"], {
      cwd: tmp,
      encoding: "utf8",
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toContain("Response verify OK");
    expect(out).toMatch(/Cert Status: revoked/);
    expect(out).toMatch(/Reason: keyCompromise/);
    expect(out).toContain("OCSP Nonce");
    expect(out).not.toMatch(/nonce verify error|no nonce in response/i);
  });
});
