// Revocation publishing against a real running Signet, judged by real clients: CRLs (full and delta)
// with `openssl crl`, `openssl verify -crl_check [-use_deltas]` and GnuTLS `certtool`; OCSP with
// `openssl ocsp` and GnuTLS `ocsptool` over POST and RFC 5019 GET, the delegated responder
// certificate, bad requests; revocation and enrolment blocks through the admin API; the live feed
// (cursor pages, long poll, Server-Sent Events); and two replicas on one PostgreSQL.
//
// Everything runs on loopback. Certificates point at SIGNET_HTTP_URL (a fake host in tests), so the
// real URL is always given to the clients explicitly. Waits for asynchronous effects (a CRL
// regenerated, an OCSP answer re-signed, another replica catching up) are bounded polling loops,
// never timing assertions.
import { spawnSync } from "node:child_process";
import { execFile } from "node:child_process";
import { createHash, randomBytes, verify as verifySignature, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import type { ClientRequest, IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IssuerContext } from "../ca/authority.js";
import { parseCrl, type ParsedCrl } from "../ca/x509/crl.js";
import { oid, seq } from "../ca/x509/der.js";
import { buildCertId, buildOcspRequest, parseOcspResponse, type OcspCertStatus, type ParsedOcspResponse } from "../ca/x509/ocsp.js";
import { ACCESS_METHOD_OIDS, EXTENSION_OIDS, parseCertificate, pemDecode, subjectPublicKeyBytes, toPem } from "../ca/x509/index.js";
import { TEST_HTTP_URL } from "./support/ca-fixture.js";
import { makeCsr } from "./support/csr.js";
import { dbTargets } from "./support/databases.js";
import { fetchRaw, replicaHome, startTestServer, type HttpResult, type TestServer } from "./support/server.js";

const hasGnutls = spawnSync("certtool", ["--version"]).status === 0 && spawnSync("ocsptool", ["--version"]).status === 0;

// Response bodies are checked field by field; their static type adds nothing here.
type Json = Record<string, any>;

/** Scheduled CRL runs that cannot fire during a test: a new anchor mid-test would make a delta CRL
 * inapplicable to a full CRL fetched a moment earlier. Revocations still regenerate both at once. */
const QUIET_SCHEDULES = { SIGNET_CRL_SCHEDULE: "0 0 1 1 *", SIGNET_DELTA_CRL_SCHEDULE: "0 0 1 1 *" };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Calls `fn` until `done` holds, at most `tries` times `ms` apart; returns the last value (the
 * caller asserts on it, so a timeout fails with the value that was seen). */
async function until<T>(fn: () => Promise<T>, done: (v: T) => boolean, tries = 50, ms = 100): Promise<T> {
  let v = await fn();
  for (let i = 1; i < tries && !done(v); i++) {
    await sleep(ms);
    v = await fn();
  }
  return v;
}

const tag = () => randomBytes(4).toString("hex");
const stripZeros = (hex: string) => hex.toLowerCase().replace(/^0+/, "");

// ---------------------------------------------------------------------------------------------
// Real tools, run without blocking the event loop (the server under test lives in this process).

const workdirs: string[] = [];
afterAll(() => {
  for (const d of workdirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

class Workdir {
  readonly dir = mkdtempSync(join(tmpdir(), "signet-revocation-"));

  constructor(files: Record<string, string | Buffer> = {}) {
    workdirs.push(this.dir);
    this.put(files);
  }

  put(files: Record<string, string | Buffer>): this {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, name), content);
    return this;
  }

  read(name: string): Buffer {
    return readFileSync(join(this.dir, name));
  }

  /** Exit code and stdout+stderr (openssl prints "Response verify OK" and nonce warnings on stderr). */
  run(tool: "openssl" | "certtool" | "ocsptool", args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      const child = execFile(tool, args, { cwd: this.dir, timeout: 20_000, encoding: "utf8" }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      });
      child.stdin?.end();
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The server under test

interface Pki {
  ts: TestServer;
  int: IssuerContext;
  intKeyBytes: Buffer;
  /** Hex SKI of the intermediate: the {issuerId} of /crl/{issuerId}.crl. */
  intId: string;
  rootId: string;
  files: { "root.pem": string; "int.pem": string; "chain.pem": string };
}

async function startPki(opts: Parameters<typeof startTestServer>[0] = {}): Promise<Pki> {
  const ts = await startTestServer({ ...opts, env: { ...QUIET_SCHEDULES, ...opts.env } });
  return pkiOf(ts);
}

function pkiOf(ts: TestServer): Pki {
  const { intermediate, root } = ts.server.services.authority;
  const intPem = readFileSync(join(ts.home, "ca", "intermediate.pem"), "utf8");
  return {
    ts,
    int: intermediate,
    intKeyBytes: subjectPublicKeyBytes(parseCertificate(intermediate.certDer).spki),
    intId: intermediate.id,
    rootId: root.id,
    files: { "root.pem": ts.rootPem, "int.pem": intPem, "chain.pem": `${ts.rootPem}${intPem}` },
  };
}

function api(ts: TestServer, method: "GET" | "POST" | "DELETE", url: string, body?: unknown): Promise<LightMyRequestResponse> {
  return ts.server.https.inject({
    method,
    url,
    headers: { authorization: `Bearer ${ts.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

function expectStatus(res: LightMyRequestResponse, status: number): Json {
  expect(res.statusCode, res.body).toBe(status);
  return res.body === "" ? {} : res.json<Json>();
}

function expectError(res: LightMyRequestResponse, status: number, code: string): Json {
  const body = expectStatus(res, status);
  expect(body).toMatchObject({ statusCode: status, code });
  return body;
}

interface Leaf {
  serial: string;
  pem: string;
  certificate: Json;
}

async function issue(ts: TestServer, body: Json = {}): Promise<Leaf> {
  const out = expectStatus(await api(ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: `leaf-${tag()}` }).pem, ...body }), 201);
  return { serial: out.certificate.serial as string, pem: out.pem as string, certificate: out.certificate as Json };
}

async function revoke(ts: TestServer, serial: string, body: Json = { reason: "keyCompromise" }): Promise<Json> {
  return expectStatus(await api(ts, "POST", `/admin/v1/certificates/${serial}/revoke`, body), 200);
}

// CRLs

async function getCrl(base: string, issuerId: string, kind: "full" | "delta" = "full"): Promise<{ res: HttpResult; crl: ParsedCrl }> {
  const res = await fetchRaw(`${base}/crl/${issuerId}${kind === "delta" ? "-delta" : ""}.crl`);
  expect(res.status, res.text).toBe(200);
  return { res, crl: parseCrl(res.body) };
}

/** The CRL of `kind` once it lists every serial (bounded wait: CRLs follow a revocation within ~1 s). */
async function crlListing(base: string, issuerId: string, kind: "full" | "delta", serials: string[]): Promise<{ res: HttpResult; crl: ParsedCrl }> {
  const got = await until(
    () => getCrl(base, issuerId, kind),
    ({ crl }) => serials.every((s) => crl.entries.some((e) => e.serialHex === s)),
  );
  const listed = got.crl.entries.map((e) => e.serialHex);
  for (const s of serials) expect(listed, `the ${kind} CRL should list ${s}`).toContain(s);
  return got;
}

const toPemCrl = (der: Buffer) => toPem("X509 CRL", der);

/** "X509v3 CRL Number:" and "Delta CRL Indicator" as `openssl crl -text` prints them (decimal when
 * small, hex with colons otherwise). */
function opensslNumber(text: string, label: RegExp): bigint | null {
  const m = new RegExp(`${label.source}[^\\n]*\\n\\s*([0-9A-Fa-f:]+)\\s*\\n`).exec(text);
  if (!m) return null;
  const v = m[1]!;
  return v.includes(":") ? BigInt(`0x${v.replace(/:/g, "")}`) : BigInt(v);
}

// OCSP

/** A DER OCSPRequest (SHA-1 CertIDs, no nonce) for serials of the intermediate. */
function ocspRequest(p: Pki, serials: string[]): Buffer {
  return seq(seq(seq(...serials.map((s) => seq(buildCertId("sha1", p.int.subjectDer, p.intKeyBytes, s))))));
}

async function postOcsp(base: string, body: Buffer, headers: Record<string, string> = { "content-type": "application/ocsp-request" }): Promise<HttpResult> {
  return fetchRaw(`${base}/ocsp`, { method: "POST", headers: { ...headers, "content-length": String(body.length) }, body });
}

async function ocspStatuses(p: Pki, serials: string[], base = p.ts.httpUrl): Promise<Array<OcspCertStatus["kind"]>> {
  const res = await postOcsp(base, ocspRequest(p, serials));
  expect(res.status).toBe(200);
  const parsed = parseOcspResponse(res.body);
  expect(parsed.status).toBe("successful");
  return serials.map((s) => parsed.responses!.find((r) => r.certId.serialHex === s)?.status.kind ?? "missing" as OcspCertStatus["kind"]);
}

/** The OCSP status once it reads `want` for every serial (answers are re-signed as the revocation is followed). */
async function ocspUntil(p: Pki, serials: string[], want: OcspCertStatus["kind"], base = p.ts.httpUrl): Promise<void> {
  const got = await until(() => ocspStatuses(p, serials, base), (v) => v.every((k) => k === want));
  expect(got).toEqual(serials.map(() => want));
}

// The live feed (HTTPS, real sockets: long polls and streams are about connections)

function feed(ts: TestServer, query: string, token: string | null = ts.token): Promise<HttpResult> {
  return fetchRaw(`${ts.httpsUrl}/revocations${query}`, { ca: ts.rootPem, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
}

async function feedPage(ts: TestServer, query: string): Promise<{ items: Json[]; cursor: string }> {
  const r = await feed(ts, query);
  expect(r.status, r.text).toBe(200);
  return r.json<{ items: Json[]; cursor: string }>();
}

interface SseEvent {
  id: string | null;
  event: string | null;
  data: string;
}

/** A Server-Sent Events client (the WHATWG parsing rules Signet's stream needs: fields, comments, blank-line dispatch). */
class EventStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly fields: Array<[string, string]> = [];
  #buf = "";

  private constructor(
    readonly res: IncomingMessage,
    readonly req: ClientRequest,
  ) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => this.#feed(chunk));
    res.on("error", () => undefined);
  }

  static open(ts: TestServer, query: string, headers: Record<string, string> = {}, tls?: { cert: string; key: string }): Promise<EventStream> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${ts.httpsUrl}/revocations/stream${query}`, {
        agent: false,
        ca: ts.rootPem,
        ...(tls ?? {}),
        headers: { ...(tls ? {} : { authorization: `Bearer ${ts.token}` }), accept: "text/event-stream", ...headers },
      });
      req.on("response", (res) => resolve(new EventStream(res, req)));
      req.on("error", reject);
      req.end();
    });
  }

  #feed(chunk: string): void {
    this.#buf += chunk.replace(/\r\n?/g, "\n");
    let i: number;
    while ((i = this.#buf.indexOf("\n\n")) >= 0) {
      const block = this.#buf.slice(0, i);
      this.#buf = this.#buf.slice(i + 2);
      const e: SseEvent = { id: null, event: null, data: "" };
      let hasData = false;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        this.fields.push([field, value]);
        if (field === "id") e.id = value;
        else if (field === "event") e.event = value;
        else if (field === "data") {
          e.data = hasData ? `${e.data}\n${value}` : value;
          hasData = true;
        }
      }
      if (hasData) this.events.push(e);
    }
  }

  /** The events once there are at least `n` (bounded wait). */
  async waitFor(n: number, tries = 100): Promise<SseEvent[]> {
    for (let i = 0; i < tries && this.events.length < n; i++) await sleep(100);
    return this.events;
  }

  items(): Json[] {
    return this.events.map((e) => JSON.parse(e.data) as Json);
  }

  close(): void {
    this.req.destroy();
  }
}

// ---------------------------------------------------------------------------------------------

describe("revocation on a running Signet", () => {
  let p: Pki;
  let ts: TestServer;

  beforeAll(async () => {
    p = await startPki();
    ts = p.ts;
  });

  afterAll(async () => {
    await ts?.close();
  });

  describe("CRLs on the HTTP port", () => {
    it("serves the full CRL as DER and as PEM, with validators and a bounded max-age, and 304 on If-None-Match", async () => {
      const { res, crl } = await getCrl(ts.httpUrl, p.intId);
      expect(res.headers["content-type"]).toBe("application/pkix-crl");
      expect(crl.issuerDer.equals(p.int.subjectDer)).toBe(true);
      expect(crl.authorityKeyId?.equals(p.int.subjectKeyId)).toBe(true);
      expect(crl.crlNumber).not.toBeNull();
      expect(crl.deltaBaseCrlNumber).toBeNull();
      expect(crl.freshestCrlUrls).toEqual([`${TEST_HTTP_URL}/crl/${p.intId}-delta.crl`]);
      expect(crl.nextUpdate).not.toBeNull();

      // Validators: ETag and Last-Modified (= thisUpdate); caches may keep it 300 s at most, never past nextUpdate.
      const etag = res.headers.etag as string;
      expect(etag).toMatch(/^"[^"]+"$/);
      expect(res.headers["last-modified"]).toBe(crl.thisUpdate.toUTCString());
      const cc = res.headers["cache-control"] as string;
      expect(cc).toMatch(/\bpublic\b/);
      const maxAge = Number(/max-age=(\d+)/.exec(cc)?.[1]);
      expect(maxAge).toBeGreaterThanOrEqual(0);
      expect(maxAge).toBeLessThanOrEqual(300);
      expect(maxAge).toBeLessThanOrEqual(Math.ceil((crl.nextUpdate!.getTime() - Date.now()) / 1000));

      const notModified = await fetchRaw(`${ts.httpUrl}/crl/${p.intId}.crl`, { headers: { "if-none-match": etag } });
      expect(notModified.status).toBe(304);
      expect(notModified.body.length).toBe(0);
      expect(notModified.headers.etag).toBe(etag);
      expect(notModified.headers["cache-control"]).toMatch(/max-age=\d+/);
      expect((await fetchRaw(`${ts.httpUrl}/crl/${p.intId}.crl`, { headers: { "if-none-match": '"something-else"' } })).status).toBe(200);

      // PEM by suffix and by Accept; the same CRL (same ETag) in both encodings.
      for (const [url, headers] of [
        [`${ts.httpUrl}/crl/${p.intId}.pem`, {}],
        [`${ts.httpUrl}/crl/${p.intId}.crl`, { accept: "application/x-pem-file" }],
      ] as const) {
        const pem = await until(
          () => fetchRaw(url, { headers }),
          (r) => r.headers.etag === etag,
        );
        expect(pem.status).toBe(200);
        expect(pem.headers["content-type"]).toMatch(/^application\/x-pem-file/);
        expect(pem.text).toMatch(/^-----BEGIN X509 CRL-----\n[A-Za-z0-9+/=\n]+-----END X509 CRL-----\n?$/);
        expect(pem.headers.etag).toBe(etag);
        expect(pemDecode(pem.text, ["X509 CRL"])).toEqual([res.body]);
      }
    });

    it("serves the delta CRL, the root's CRL, 404 for an issuer it does not serve and 400 for a bad name", async () => {
      const { res, crl } = await getCrl(ts.httpUrl, p.intId, "delta");
      expect(res.headers["content-type"]).toBe("application/pkix-crl");
      expect(crl.deltaBaseCrlNumber).not.toBeNull();
      expect(crl.freshestCrlUrls).toEqual([]);
      expect(res.headers.etag).toMatch(/^"[^"]+"$/);
      const maxAge = Number(/max-age=(\d+)/.exec(res.headers["cache-control"] as string)?.[1]);
      expect(maxAge).toBeLessThanOrEqual(Math.min(300, Math.ceil((crl.nextUpdate!.getTime() - Date.now()) / 1000)));
      const pem = await fetchRaw(`${ts.httpUrl}/crl/${p.intId}-delta.pem`);
      expect(pem.text).toMatch(/^-----BEGIN X509 CRL-----/);

      // The root's key is online in tests, so it publishes a CRL too (for the intermediate).
      const root = await getCrl(ts.httpUrl, p.rootId);
      const w = new Workdir({ ...p.files, "root.crl": root.res.body });
      const v = await w.run("openssl", ["crl", "-inform", "DER", "-in", "root.crl", "-CAfile", "root.pem", "-verify", "-noout"]);
      expect(v.out).toContain("verify OK");

      const unknown = await fetchRaw(`${ts.httpUrl}/crl/${"ab".repeat(20)}.crl`);
      expect(unknown.status).toBe(404);
      expect(unknown.json()).toMatchObject({ code: "not_found" });
      for (const bad of ["not-an-id.crl", `${p.intId}.der`, `${p.intId.toUpperCase()}.crl`]) {
        const r = await fetchRaw(`${ts.httpUrl}/crl/${bad}`);
        expect(r.status, bad).toBeGreaterThanOrEqual(400);
        expect(r.status, bad).toBeLessThan(500);
      }
    });

    it("puts CRL DP, Freshest CRL and AIA OCSP into leaves, at paths the HTTP port serves", async () => {
      const leaf = await issue(ts);
      const w = new Workdir({ "leaf.pem": leaf.pem });
      const text = (await w.run("openssl", ["x509", "-in", "leaf.pem", "-noout", "-text"])).out;
      const cdp = /X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/.exec(text)?.[1];
      const freshest = /X509v3 Freshest CRL:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/.exec(text)?.[1];
      const ocsp = /OCSP - URI:(\S+)/.exec(text)?.[1];
      expect([cdp, freshest, ocsp]).toEqual([`${TEST_HTTP_URL}/crl/${p.intId}.crl`, `${TEST_HTTP_URL}/crl/${p.intId}-delta.crl`, `${TEST_HTTP_URL}/ocsp`]);
      // The same paths on the real port: the CRLs, and the OCSP responder answering for this leaf.
      const full = await fetchRaw(`${ts.httpUrl}${new URL(cdp!).pathname}`);
      expect(full.status).toBe(200);
      expect(parseCrl(full.body).deltaBaseCrlNumber).toBeNull();
      const delta = await fetchRaw(`${ts.httpUrl}${new URL(freshest!).pathname}`);
      expect(delta.status).toBe(200);
      expect(parseCrl(delta.body).deltaBaseCrlNumber).not.toBeNull();
      expect(await ocspStatuses(p, [leaf.serial], `${ts.httpUrl}${new URL(ocsp!).pathname.replace(/\/ocsp$/, "")}`)).toEqual(["good"]);
    });

    it("openssl verifies both CRLs against the chain; openssl verify -crl_check refuses a revoked leaf and passes a good one", async () => {
      const good = await issue(ts);
      const bad = await issue(ts);
      await revoke(ts, bad.serial, { reason: "keyCompromise" });
      const full = await crlListing(ts.httpUrl, p.intId, "full", [bad.serial]);
      expect(full.crl.entries.map((e) => e.serialHex)).not.toContain(good.serial);
      const entry = full.crl.entries.find((e) => e.serialHex === bad.serial)!;
      expect(entry.reason).toBe(1);
      const delta = await getCrl(ts.httpUrl, p.intId, "delta");
      const root = await getCrl(ts.httpUrl, p.rootId);

      const w = new Workdir({
        ...p.files,
        "crl.der": full.res.body,
        "crl.pem": toPemCrl(full.res.body),
        "delta.der": delta.res.body,
        "root-crl.pem": toPemCrl(root.res.body),
        "good.pem": good.pem,
        "bad.pem": bad.pem,
      });
      for (const f of ["crl.der", "delta.der"]) {
        const v = await w.run("openssl", ["crl", "-inform", "DER", "-in", f, "-CAfile", "chain.pem", "-verify", "-noout"]);
        expect(v.code, v.out).toBe(0);
        expect(v.out, f).toContain("verify OK");
      }
      const text = (await w.run("openssl", ["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])).out;
      expect(text).toMatch(new RegExp(`Serial Number: 0*${stripZeros(bad.serial)}\\s*\\n\\s*Revocation Date: .*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Key Compromise`, "i"));

      const verify = (leaf: string, extra: string[] = []) =>
        w.run("openssl", ["verify", "-crl_check", ...extra, "-CAfile", "root.pem", "-untrusted", "int.pem", "-CRLfile", "crl.pem", leaf]);
      const refused = await verify("bad.pem");
      expect(refused.code).not.toBe(0);
      expect(refused.out).toContain("certificate revoked");
      const passed = await verify("good.pem");
      expect(passed.code, passed.out).toBe(0);
      expect(passed.out).toContain("good.pem: OK");
      // The whole chain, with the root's CRL for the intermediate.
      const all = await verify("good.pem", ["-crl_check_all", "-CRLfile", "root-crl.pem"]);
      expect(all.code, all.out).toBe(0);
      expect(all.out).toContain("good.pem: OK");
    });

    it("delta CRL: a Delta CRL Indicator naming a base no newer than the full CRL, listing what was revoked since; openssl -use_deltas applies it", async () => {
      // A full CRL fetched before the revocation: a relying party's cached base.
      const before = await getCrl(ts.httpUrl, p.intId);
      const leaf = await issue(ts);
      const other = await issue(ts);
      await revoke(ts, leaf.serial, { reason: "superseded" });
      const delta = await crlListing(ts.httpUrl, p.intId, "delta", [leaf.serial]);
      const full = await crlListing(ts.httpUrl, p.intId, "full", [leaf.serial]);
      expect(before.crl.entries.map((e) => e.serialHex)).not.toContain(leaf.serial);
      expect(delta.crl.entries.map((e) => e.serialHex)).not.toContain(other.serial);

      const w = new Workdir({
        ...p.files,
        "delta.der": delta.res.body,
        "full.der": full.res.body,
        "before.pem": toPemCrl(before.res.body),
        "full.pem": toPemCrl(full.res.body),
        "delta.pem": toPemCrl(delta.res.body),
        "leaf.pem": leaf.pem,
        "other.pem": other.pem,
      });
      const deltaText = (await w.run("openssl", ["crl", "-inform", "DER", "-in", "delta.der", "-noout", "-text"])).out;
      const fullText = (await w.run("openssl", ["crl", "-inform", "DER", "-in", "full.der", "-noout", "-text"])).out;
      const beforeText = (await w.run("openssl", ["crl", "-in", "before.pem", "-noout", "-text"])).out;
      expect(deltaText).toMatch(/X509v3 Delta CRL Indicator: critical/);
      expect(fullText).not.toMatch(/Delta CRL Indicator/);
      const base = opensslNumber(deltaText, /X509v3 Delta CRL Indicator: critical/);
      const deltaNumber = opensslNumber(deltaText, /X509v3 CRL Number:/);
      const fullNumber = opensslNumber(fullText, /X509v3 CRL Number:/);
      const beforeNumber = opensslNumber(beforeText, /X509v3 CRL Number:/);
      expect(base).not.toBeNull();
      expect([base, deltaNumber, fullNumber]).toEqual([delta.crl.deltaBaseCrlNumber, delta.crl.crlNumber, full.crl.crlNumber]);
      // RFC 5280 §5.2.4: the delta applies to a complete CRL numbered at least its base; its own
      // number is above every complete CRL it completes (numbers are shared by both kinds).
      expect(base!).toBeLessThanOrEqual(fullNumber!);
      expect(base!).toBeLessThanOrEqual(beforeNumber!);
      expect(deltaNumber!).toBeGreaterThan(beforeNumber!);
      expect(deltaText).toMatch(new RegExp(`Serial Number: 0*${stripZeros(leaf.serial)}\\s*\\n\\s*Revocation Date: .*\\n\\s*CRL entry extensions:\\s*\\n\\s*X509v3 CRL Reason Code:\\s*\\n\\s*Superseded`, "i"));

      const verify = (crls: string[], cert: string, deltas = true) =>
        w.run("openssl", ["verify", "-crl_check", ...(deltas ? ["-use_deltas"] : []), "-CAfile", "root.pem", "-untrusted", "int.pem", ...crls.flatMap((c) => ["-CRLfile", c]), cert]);
      // The stale base alone says nothing about the revocation; with the delta it is known.
      const staleOnly = await verify(["before.pem"], "leaf.pem", false);
      expect(staleOnly.code, staleOnly.out).toBe(0);
      const withDelta = await verify(["before.pem", "delta.pem"], "leaf.pem");
      expect(withDelta.code).not.toBe(0);
      expect(withDelta.out).toContain("certificate revoked");
      const current = await verify(["full.pem", "delta.pem"], "leaf.pem");
      expect(current.code).not.toBe(0);
      expect(current.out).toContain("certificate revoked");
      const unaffected = await verify(["before.pem", "delta.pem"], "other.pem");
      expect(unaffected.code, unaffected.out).toBe(0);
      expect(unaffected.out).toContain("other.pem: OK");
    });

    if (!hasGnutls) it.skip("GnuTLS (certtool, ocsptool: Debian gnutls-bin) is not on PATH: its reading of Signet's CRLs and OCSP is not tested", () => {});
    it.skipIf(!hasGnutls)("GnuTLS certtool lists the revoked serial and verifies the CRL against the intermediate", async () => {
      const leaf = await issue(ts);
      await revoke(ts, leaf.serial, { reason: "cessationOfOperation" });
      const full = await crlListing(ts.httpUrl, p.intId, "full", [leaf.serial]);
      const w = new Workdir({ ...p.files, "crl.der": full.res.body, "crl.pem": toPemCrl(full.res.body) });
      const info = await w.run("certtool", ["--crl-info", "--inder", "--infile", "crl.der"]);
      expect(info.code, info.out).toBe(0);
      const serials = [...info.out.matchAll(/Serial Number \(hex\): ([0-9a-f]+)/g)].map((m) => stripZeros(m[1]!));
      expect(serials).toContain(stripZeros(leaf.serial));
      expect(serials).toHaveLength(full.crl.entries.length);
      const v = await w.run("certtool", ["--verify-crl", "--load-ca-certificate", "int.pem", "--infile", "crl.pem"]);
      expect(v.code, v.out).toBe(0);
      expect(v.out).toMatch(/Verification output: Verified\./);
      // A CRL signed by someone else does not verify.
      const wrong = await w.run("certtool", ["--verify-crl", "--load-ca-certificate", "root.pem", "--infile", "crl.pem"]);
      expect(wrong.out).not.toMatch(/Verification output: Verified\./);
    });

    it("carries a revocation's invalidity date into the CRL entry", async () => {
      const leaf = await issue(ts);
      const invalidityDate = new Date(Math.floor(Date.now() / 1000) * 1000 - 86_400_000);
      const done = await revoke(ts, leaf.serial, { reason: "keyCompromise", invalidityDate: invalidityDate.toISOString() });
      expect(done).toMatchObject({ status: "revoked", revocationReason: "keyCompromise", invalidityDate: invalidityDate.toISOString() });
      const { crl, res } = await crlListing(ts.httpUrl, p.intId, "full", [leaf.serial]);
      expect(crl.entries.find((e) => e.serialHex === leaf.serial)).toMatchObject({ reason: 1, invalidityDate: invalidityDate.getTime() });
      const w = new Workdir({ "crl.der": res.body });
      const text = (await w.run("openssl", ["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])).out;
      const block = text.slice(text.search(new RegExp(`Serial Number: 0*${stripZeros(leaf.serial)}`, "i")));
      const printed = /^[^]*?CRL entry extensions:[^]*?Invalidity Date:\s*\n\s*(\w{3} +\d+ \d\d:\d\d:\d\d \d{4}) GMT/.exec(block)?.[1];
      expect(printed, block).toBeDefined();
      expect(Date.parse(`${printed!} UTC`)).toBe(invalidityDate.getTime());
    });
  });

  describe("OCSP on the HTTP port", () => {
    it("openssl ocsp: good, signed by a responder the chain verifies, with the default nonce and with -no_nonce", async () => {
      const leaf = await issue(ts);
      const w = new Workdir({ ...p.files, "leaf.pem": leaf.pem });
      for (const nonce of [[], ["-no_nonce"]]) {
        const r = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "leaf.pem", "-CAfile", "chain.pem", ...nonce, "-resp_text"]);
        expect(r.code, r.out).toBe(0);
        expect(r.out).toContain("Response verify OK");
        expect(r.out).toMatch(/^leaf\.pem: good$/m);
        expect(r.out).toMatch(/OCSP Response Status: successful \(0x0\)/);
        expect(r.out).toMatch(/Subject: CN ?= ?Signet OCSP Responder/); // the delegated responder's certificate rides along
        // No "WARNING: no nonce in response" / "nonce verify error".
        expect(r.out).not.toMatch(/WARNING|nonce verify error|error/i);
        if (nonce.length === 0) expect(r.out).toMatch(/Response Extensions:\s*\n\s*OCSP Nonce:/);
        else expect(r.out).not.toContain("OCSP Nonce");
      }
    });

    it("openssl ocsp: revoked with its reason once revoked; two certificates in one request; an unknown serial", async () => {
      const victim = await issue(ts);
      const bystander = await issue(ts);
      expect(await ocspStatuses(p, [victim.serial])).toEqual(["good"]); // a cached "good" that the revocation must replace
      const revoked = await revoke(ts, victim.serial, { reason: "keyCompromise" });
      await ocspUntil(p, [victim.serial], "revoked");

      const w = new Workdir({ ...p.files, "victim.pem": victim.pem, "bystander.pem": bystander.pem });
      const one = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "victim.pem", "-CAfile", "chain.pem"]);
      expect(one.code, one.out).toBe(0);
      expect(one.out).toContain("Response verify OK");
      expect(one.out).toMatch(/^victim\.pem: revoked$/m);
      expect(one.out).toMatch(/^\s*Reason: keyCompromise$/m);
      const at = /Revocation Time: (.+ GMT)/.exec(one.out)?.[1];
      expect(at).toBeDefined();
      expect(new Date(at!).getTime()).toBe(Math.floor(Date.parse(revoked.revokedAt as string) / 1000) * 1000);
      expect(one.out).not.toMatch(/WARNING/);

      const two = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "victim.pem", "-cert", "bystander.pem", "-CAfile", "chain.pem"]);
      expect(two.code, two.out).toBe(0);
      expect(two.out).toContain("Response verify OK");
      expect(two.out).toMatch(/^victim\.pem: revoked$/m);
      expect(two.out).toMatch(/^bystander\.pem: good$/m);
      expect(two.out).not.toMatch(/WARNING/);

      const unknown = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-serial", "0x1234", "-CAfile", "chain.pem"]);
      expect(unknown.code, unknown.out).toBe(0);
      expect(unknown.out).toContain("Response verify OK");
      expect(unknown.out).toMatch(/^0x1234: unknown$/m);
    });

    it("answers a request for 64 certificates (and refuses 65 as malformed)", async () => {
      const leaves = await Promise.all([issue(ts), issue(ts)]);
      const serials = [...leaves.map((l) => l.serial), ...Array.from({ length: 62 }, () => randomBytes(16).toString("hex").replace(/^./, "5"))];
      const res = await postOcsp(ts.httpUrl, ocspRequest(p, serials));
      const parsed = parseOcspResponse(res.body);
      expect(parsed.status).toBe("successful");
      expect(parsed.responses!.map((r) => r.certId.serialHex)).toEqual(serials);
      expect(parsed.responses!.map((r) => r.status.kind)).toEqual([...Array(2).fill("good"), ...Array(62).fill("unknown")]);
      const tooMany = await postOcsp(ts.httpUrl, ocspRequest(p, [...serials, "1234"]));
      expect(tooMany.status).toBe(200);
      expect(parseOcspResponse(tooMany.body).status).toBe("malformedRequest");
    });

    it("RFC 5019 GET: the same answer, with cache headers that never outlive nextUpdate, and 304 on If-None-Match; POST answers are no-store", async () => {
      const leaf = await issue(ts);
      const w = new Workdir({ ...p.files, "leaf.pem": leaf.pem });
      const made = await w.run("openssl", ["ocsp", "-issuer", "int.pem", "-cert", "leaf.pem", "-no_nonce", "-reqout", "req.der"]);
      expect(made.code, made.out).toBe(0);
      const req = w.read("req.der");
      const b64 = req.toString("base64");

      const get = await fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(b64)}`);
      expect(get.status).toBe(200);
      expect(get.headers["content-type"]).toBe("application/ocsp-response");
      const parsed = parseOcspResponse(get.body);
      expect(parsed.status).toBe("successful");
      const single = parsed.responses![0]!;
      expect(single.status.kind).toBe("good");
      const cc = get.headers["cache-control"] as string;
      for (const d of ["public", "no-transform", "must-revalidate"]) expect(cc).toMatch(new RegExp(`\\b${d}\\b`));
      const maxAge = Number(/max-age=(\d+)/.exec(cc)?.[1]);
      expect(maxAge).toBeGreaterThan(0);
      expect(maxAge).toBeLessThanOrEqual(Math.ceil((single.nextUpdate!.getTime() - Date.now()) / 1000));
      expect(get.headers["last-modified"]).toBe(single.thisUpdate.toUTCString());
      expect(get.headers.expires).toBe(single.nextUpdate!.toUTCString());
      expect(get.headers.etag).toMatch(/^"[^"]+"$/);

      // openssl judges the bytes fetched by GET.
      w.put({ "resp.der": get.body });
      const judged = await w.run("openssl", ["ocsp", "-respin", "resp.der", "-issuer", "int.pem", "-cert", "leaf.pem", "-CAfile", "chain.pem", "-no_nonce"]);
      expect(judged.code, judged.out).toBe(0);
      expect(judged.out).toContain("Response verify OK");
      expect(judged.out).toMatch(/^leaf\.pem: good$/m);

      // Clients that leave the base64 unescaped ('/' and '+' in the path) get the same answer.
      let odd = b64;
      for (let i = 0; i < 1000 && !/\+.*\/|\/.*\+/.test(odd); i++) odd = ocspRequest(p, [randomBytes(16).toString("hex").replace(/^./, "5")]).toString("base64");
      expect(odd).toMatch(/\+/);
      expect(odd).toMatch(/\//);
      const [escaped, raw] = await Promise.all([fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(odd)}`), fetchRaw(`${ts.httpUrl}/ocsp/${odd}`)]);
      expect(raw.status).toBe(200);
      const [e1, r1] = [parseOcspResponse(escaped.body), parseOcspResponse(raw.body)];
      expect(r1.status).toBe("successful");
      expect(r1.responses![0]!.certId.der.equals(e1.responses![0]!.certId.der)).toBe(true);
      expect(r1.responses![0]!.status.kind).toBe(e1.responses![0]!.status.kind);

      const notModified = await fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(b64)}`, { headers: { "if-none-match": get.headers.etag as string } });
      expect(notModified.status).toBe(304);
      expect(notModified.body.length).toBe(0);

      const post = await postOcsp(ts.httpUrl, req);
      expect(post.status).toBe(200);
      expect(post.headers["cache-control"]).toBe("no-store");
      expect(parseOcspResponse(post.body).responses![0]!.status.kind).toBe("good");

      // A nonce makes an answer unique: not cacheable even by GET.
      await w.run("openssl", ["ocsp", "-issuer", "int.pem", "-cert", "leaf.pem", "-reqout", "nonce.der"]);
      const withNonce = await fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(w.read("nonce.der").toString("base64"))}`);
      expect(withNonce.status).toBe(200);
      expect(withNonce.headers["cache-control"]).toBe("no-store");
      expect(parseOcspResponse(withNonce.body).nonceExtension).not.toBeNull();
    });

    // Regression: the 304 once carried only the ETag. RFC 9110 §15.4.5 requires a 304 to carry the
    // Cache-Control and Expires a 200 would have; a cache that revalidates keeps the stored
    // "max-age=N" and counts it from the 304's new Date, so it could serve the answer past its
    // nextUpdate (RFC 5019 §6.2 forbids that).
    it("a 304 to an OCSP GET carries Cache-Control and Expires (RFC 9110 §15.4.5)", async () => {
      const leaf = await issue(ts);
      const url = `${ts.httpUrl}/ocsp/${encodeURIComponent(ocspRequest(p, [leaf.serial]).toString("base64"))}`;
      const first = await fetchRaw(url);
      expect(first.status).toBe(200);
      const nextUpdate = parseOcspResponse(first.body).responses![0]!.nextUpdate!;
      const again = await fetchRaw(url, { headers: { "if-none-match": first.headers.etag as string } });
      expect(again.status).toBe(304);
      expect(again.headers.expires).toBe(nextUpdate.toUTCString());
      const maxAge = Number(/max-age=(\d+)/.exec((again.headers["cache-control"] as string | undefined) ?? "")?.[1] ?? NaN);
      expect(maxAge).toBeLessThanOrEqual(Math.ceil((nextUpdate.getTime() - Date.now()) / 1000));
    });

    it.skipIf(!hasGnutls)("GnuTLS ocsptool --ask reports good, then revoked, and verifies the saved answer", async () => {
      const leaf = await issue(ts);
      const w = new Workdir({ ...p.files, "leaf.pem": leaf.pem });
      const ask = (extra: string[] = []) => w.run("ocsptool", [`--ask=${ts.httpUrl}/ocsp`, "--load-issuer", "int.pem", "--load-cert", "leaf.pem", ...extra]);
      const good = await ask();
      expect(good.code, good.out).toBe(0);
      expect(good.out).toMatch(/Certificate Status: good/);
      expect(good.out).toMatch(/Verifying OCSP Response: Success\./);

      await revoke(ts, leaf.serial, { reason: "keyCompromise" });
      await ocspUntil(p, [leaf.serial], "revoked");
      const revoked = await ask(["--nonce", "--outfile", "resp.der"]);
      expect(revoked.code, revoked.out).toBe(0);
      expect(revoked.out).toMatch(/Certificate Status: revoked/);
      expect(revoked.out).toMatch(/Nonce: [0-9a-f]+/);
      expect(revoked.out).toMatch(/Verifying OCSP Response: Success\./);

      // The saved answer, verified offline against the chain (the responder certificate rides along).
      for (const trust of [["--load-trust", "chain.pem"], ["--load-signer", "int.pem"]]) {
        const e = await w.run("ocsptool", ["-e", "--infile", "resp.der", ...trust]);
        expect(e.out, trust.join(" ")).toMatch(/Verifying OCSP Response: Success\./);
      }
      const info = await w.run("ocsptool", ["-j", "--infile", "resp.der"]);
      expect(info.out).toMatch(new RegExp(`Serial Number: 0*${stripZeros(leaf.serial)}`));
      expect(info.out).toMatch(/Certificate Status: revoked/);
    });

    it("rotates the responder: a renewal switches answers to a new certificate and key, audited as an issuance", async () => {
      const leaf = await issue(ts);
      // With a nonce, so each answer is signed now rather than served from the cache.
      const signer = async () => parseOcspResponse((await postOcsp(ts.httpUrl, buildOcspRequest([buildCertId("sha1", p.int.subjectDer, p.intKeyBytes, leaf.serial)], randomBytes(16)))).body);
      const before = await signer();
      await ts.server.revocation.renewResponder();
      const after = await signer();
      expect(after.certs).toHaveLength(1);
      expect(after.certs![0]!.equals(before.certs![0]!)).toBe(false);
      expect(after.responderKeyHash!.equals(before.responderKeyHash!)).toBe(false);
      expect(parseCertificate(after.certs![0]!).extKeyUsage).toEqual(["OCSPSigning"]);
      expect(ts.server.revocation.responderCertificate?.equals(after.certs![0]!)).toBe(true);
    });

    it("signs with a delegated responder certificate: OCSPSigning, ocsp-nocheck, issued by the intermediate, no revocation pointers", async () => {
      const leaf = await issue(ts);
      const res = await postOcsp(ts.httpUrl, ocspRequest(p, [leaf.serial]));
      const parsed: ParsedOcspResponse = parseOcspResponse(res.body);
      expect(parsed.status).toBe("successful");
      expect(parsed.certs).toHaveLength(1);
      const der = parsed.certs![0]!;
      const info = parseCertificate(der);
      expect(info.extKeyUsage).toEqual(["OCSPSigning"]);
      expect(info.keyUsage).toContain("digitalSignature");
      expect(info.isCa).toBe(false);
      expect(info.extensions.find((e) => e.oid === EXTENSION_OIDS.ocspNoCheck)).toBeDefined();
      expect(info.extensions.find((e) => e.oid === EXTENSION_OIDS.cRLDistributionPoints)).toBeUndefined();
      expect(info.extensions.find((e) => e.oid === EXTENSION_OIDS.freshestCRL)).toBeUndefined();
      const aia = info.extensions.find((e) => e.oid === EXTENSION_OIDS.authorityInfoAccess);
      // caIssuers may be there; an OCSP pointer may not (a client must not ask the responder about itself).
      if (aia) expect(aia.value.includes(oid(ACCESS_METHOD_OIDS.ocsp))).toBe(false);
      expect(info.issuerDer.equals(p.int.subjectDer)).toBe(true);
      expect(info.authorityKeyId?.equals(p.int.subjectKeyId)).toBe(true);
      const x = new X509Certificate(der);
      const int = new X509Certificate(p.int.certDer);
      expect(x.checkIssued(int)).toBe(true);
      expect(x.verify(int.publicKey)).toBe(true);
      expect(x.infoAccess ?? "").not.toContain("OCSP");

      // The responder named in the answer is this certificate's key (byKey), and its signature holds.
      const spkiBits = subjectPublicKeyBytes(info.spki);
      expect(parsed.responderKeyHash?.equals(createHash("sha1").update(spkiBits).digest())).toBe(true);
      expect(verifySignature("sha256", parsed.responseData!, x.publicKey, parsed.signature!)).toBe(true);
      // An answer never outlives the certificate that vouches for it.
      expect(parsed.responses![0]!.nextUpdate!.getTime()).toBeLessThanOrEqual(new Date(x.validTo).getTime());

      // openssl reads the same extensions.
      const w = new Workdir({ "responder.pem": x.toString() });
      const text = (await w.run("openssl", ["x509", "-in", "responder.pem", "-noout", "-text"])).out;
      expect(text).toContain("OCSP Signing");
      expect(text).toContain("OCSP No Check");
      expect(text).not.toContain("CRL Distribution Points");
      expect(text).not.toContain("OCSP - URI");
      // The server's own record of it is the one in the answer.
      expect(ts.server.revocation.responderCertificate?.equals(der)).toBe(true);
    });

    it("answers bad requests with malformedRequest or a 4xx, never a 5xx", async () => {
      const leaf = await issue(ts);
      const valid = ocspRequest(p, [leaf.serial]);
      const cases: Array<[string, () => Promise<HttpResult>]> = [
        ["POST garbage", () => postOcsp(ts.httpUrl, Buffer.from("garbage\n"))],
        ["POST truncated DER", () => postOcsp(ts.httpUrl, valid.subarray(0, valid.length - 5))],
        ["POST DER with trailing bytes", () => postOcsp(ts.httpUrl, Buffer.concat([valid, Buffer.from([0])]))],
        ["POST empty body", () => postOcsp(ts.httpUrl, Buffer.alloc(0))],
        ["POST a certificate instead of a request", () => postOcsp(ts.httpUrl, new X509Certificate(leaf.pem).raw)],
        ["POST 20 KB", () => postOcsp(ts.httpUrl, randomBytes(20_000))],
        ["POST 200 KB", () => postOcsp(ts.httpUrl, randomBytes(200_000))],
        ["POST without a content type", () => postOcsp(ts.httpUrl, valid, {})],
        ["POST as JSON", () => postOcsp(ts.httpUrl, Buffer.from("{}"), { "content-type": "application/json" })],
        ["GET not base64", () => fetchRaw(`${ts.httpUrl}/ocsp/!!!notbase64`)],
        ["GET bad percent-encoding", () => fetchRaw(`${ts.httpUrl}/ocsp/%ZZ`)],
        ["GET empty", () => fetchRaw(`${ts.httpUrl}/ocsp/`)],
        ["GET truncated", () => fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(valid.subarray(0, 20).toString("base64"))}`)],
        ["GET 12 KB", () => fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(randomBytes(12_000).toString("base64"))}`)],
        ["GET 20 KB (past the header limit)", () => fetchRaw(`${ts.httpUrl}/ocsp/${randomBytes(20_000).toString("base64url")}`)],
        ["POST 20 KB chunked", () => fetchRaw(`${ts.httpUrl}/ocsp`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: randomBytes(20_000) })],
      ];
      for (const [name, send] of cases) {
        const r = await send();
        expect(r.status, name).toBeLessThan(500);
        if (r.status === 200) {
          expect(r.headers["content-type"], name).toBe("application/ocsp-response");
          expect(parseOcspResponse(r.body).status, name).toBe("malformedRequest");
          expect(r.headers["cache-control"], name).toBe("no-store");
        } else {
          expect(r.status, name).toBeGreaterThanOrEqual(400);
        }
      }
      // After all that the responder still answers.
      expect(await ocspStatuses(p, [leaf.serial])).toEqual(["good"]);
    });

    it("answers unauthorized for an issuer it does not serve, alone or beside one it does", async () => {
      const leaf = await issue(ts);
      const w = new Workdir({ ...p.files, "leaf.pem": leaf.pem });
      const steps: string[][] = [
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "fca.key", "-subj", "/CN=Foreign CA", "-days", "2", "-out", "fca.pem",
          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "fleaf.key", "-subj", "/CN=foreign leaf", "-out", "fleaf.csr"],
        ["x509", "-req", "-in", "fleaf.csr", "-CA", "fca.pem", "-CAkey", "fca.key", "-set_serial", "0x1234", "-days", "1", "-out", "fleaf.pem"],
      ];
      for (const args of steps) {
        const r = await w.run("openssl", args);
        expect(r.code, r.out).toBe(0);
      }
      const foreign = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "fca.pem", "-cert", "fleaf.pem", "-CAfile", "fca.pem"]);
      expect(foreign.out).toContain("Responder Error: unauthorized (6)");
      const mixed = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "leaf.pem", "-issuer", "fca.pem", "-cert", "fleaf.pem", "-CAfile", "chain.pem"]);
      expect(mixed.out).toContain("Responder Error: unauthorized (6)");
      // The same request by GET.
      await w.run("openssl", ["ocsp", "-issuer", "fca.pem", "-cert", "fleaf.pem", "-no_nonce", "-reqout", "freq.der"]);
      const get = await fetchRaw(`${ts.httpUrl}/ocsp/${encodeURIComponent(w.read("freq.der").toString("base64"))}`);
      expect(get.status).toBe(200);
      expect(parseOcspResponse(get.body).status).toBe("unauthorized");
      expect(get.headers["cache-control"]).toBe("no-store");
    });
  });

  describe("revocation and blocks through the admin API", () => {
    it("refuses bad revocations with stable codes", async () => {
      const leaf = await issue(ts);
      expectError(await api(ts, "POST", `/admin/v1/certificates/${randomBytes(16).toString("hex")}/revoke`, { reason: "keyCompromise" }), 404, "unknown_certificate");
      expectError(await api(ts, "POST", `/admin/v1/certificates/${leaf.serial}/revoke`, { reason: "stolen" }), 400, "bad_revocation_reason");
      expectError(await api(ts, "POST", `/admin/v1/certificates/${leaf.serial}/revoke`, { reason: "certificateHold" }), 400, "bad_revocation_reason");
      expectError(await api(ts, "POST", `/admin/v1/certificates/${leaf.serial}/revoke`, { reason: "removeFromCRL" }), 400, "bad_revocation_reason");
      const future = new Date(Date.now() + 3_600_000).toISOString();
      expectError(await api(ts, "POST", `/admin/v1/certificates/${leaf.serial}/revoke`, { reason: "keyCompromise", invalidityDate: future }), 400, "bad_request");
      expectError(await api(ts, "POST", `/admin/v1/certificates/${leaf.serial}/revoke`, { reason: "keyCompromise", invalidityDate: "yesterday" }), 400, "bad_request");
      // None of those revoked it.
      expect(expectStatus(await api(ts, "GET", `/admin/v1/certificates/${leaf.serial}`), 200).status).toBe("valid");
      expect(await ocspStatuses(p, [leaf.serial])).toEqual(["good"]);

      // A reason by its RFC 5280 code works; a second revocation is a conflict.
      expect(await revoke(ts, leaf.serial, { reason: 4 })).toMatchObject({ status: "revoked", revocationReason: "superseded" });
      expectError(await api(ts, "POST", `/admin/v1/certificates/${leaf.serial}/revoke`, { reason: "keyCompromise" }), 409, "already_revoked");

      const n = `bad-${tag()}`;
      expectError(await api(ts, "POST", "/admin/v1/revocations", { node: n, identity: `id-${n}` }), 400, "bad_request");
      expectError(await api(ts, "POST", "/admin/v1/revocations", { reason: "keyCompromise" }), 400, "bad_request");
      expectError(await api(ts, "POST", "/admin/v1/revocations", { node: n, reason: "nope" }), 400, "bad_revocation_reason");
      expectError(await api(ts, "POST", "/admin/v1/revocations", { node: n, invalidityDate: future }), 400, "bad_request");
      expectError(await api(ts, "POST", "/admin/v1/revocations", { node: n, serial: leaf.serial }), 400, "bad_request");
      // Refused requests left no block behind.
      const blocks = expectStatus(await api(ts, "GET", "/admin/v1/blocks"), 200).items as Json[];
      expect(blocks.filter((b) => b.value === n)).toEqual([]);
      expectError(await api(ts, "DELETE", `/admin/v1/blocks/node?value=${n}`), 404, "not_found");
      expectError(await api(ts, "DELETE", `/admin/v1/blocks/planet?value=${n}`), 400, "bad_request");
      expectError(await api(ts, "DELETE", "/admin/v1/blocks/node"), 400, "bad_request");
    });

    it("a revocation without a reason is unspecified: no reasonCode in the CRL entry or the OCSP answer (RFC 5280 §5.3.1)", async () => {
      const leaf = await issue(ts);
      const res = await ts.server.https.inject({ method: "POST", url: `/admin/v1/certificates/${leaf.serial}/revoke`, headers: { authorization: `Bearer ${ts.token}` } });
      expect(expectStatus(res, 200)).toMatchObject({ status: "revoked", revocationReason: "unspecified" });
      const { crl } = await crlListing(ts.httpUrl, p.intId, "full", [leaf.serial]);
      expect(crl.entries.find((e) => e.serialHex === leaf.serial)).toMatchObject({ reason: null, invalidityDate: null });
      await ocspUntil(p, [leaf.serial], "revoked");
      const answer = parseOcspResponse((await postOcsp(ts.httpUrl, ocspRequest(p, [leaf.serial]))).body);
      expect(answer.responses![0]!.status).toMatchObject({ kind: "revoked", reason: null });
      const w = new Workdir({ ...p.files, "leaf.pem": leaf.pem });
      const r = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "leaf.pem", "-CAfile", "chain.pem"]);
      expect(r.out).toMatch(/^leaf\.pem: revoked$/m);
      expect(r.out).not.toMatch(/Reason:/);
    });

    it("revoke --node: everything node n1 holds is revoked (OCSP, CRL, feed), n2 is untouched, n1 cannot enrol until unblocked", async () => {
      const t = tag();
      const n1 = `n1-${t}`;
      const n2 = `n2-${t}`;
      const mine = await Promise.all([issue(ts, { nodeId: n1 }), issue(ts, { nodeId: n1 }), issue(ts, { nodeId: n1 })]);
      const other = await issue(ts, { nodeId: n2 });
      const cursor = (await feedPage(ts, "?since=latest")).cursor;

      const res = expectStatus(await api(ts, "POST", "/admin/v1/revocations", { node: n1, reason: "keyCompromise", note: "host compromised" }), 200);
      expect(res.count).toBe(3);
      expect((res.revoked as Json[]).map((c) => c.serial).sort()).toEqual(mine.map((l) => l.serial).sort());
      for (const c of res.revoked as Json[]) expect(c).toMatchObject({ status: "revoked", revocationReason: "keyCompromise", nodeId: n1 });
      expect(res.block).toMatchObject({ kind: "node", value: n1, reason: "host compromised" });
      expect(expectStatus(await api(ts, "GET", `/admin/v1/certificates/${other.serial}`), 200).status).toBe("valid");

      // OCSP: revoked for all three (openssl, one request), good for n2.
      await ocspUntil(p, mine.map((l) => l.serial), "revoked");
      const w = new Workdir({ ...p.files, ...Object.fromEntries(mine.map((l, i) => [`n1-${i}.pem`, l.pem])), "n2.pem": other.pem });
      const r = await w.run("openssl", ["ocsp", "-url", `${ts.httpUrl}/ocsp`, "-issuer", "int.pem", ...mine.flatMap((_l, i) => ["-cert", `n1-${i}.pem`]), "-cert", "n2.pem", "-CAfile", "chain.pem"]);
      expect(r.code, r.out).toBe(0);
      expect(r.out).toContain("Response verify OK");
      for (let i = 0; i < 3; i++) expect(r.out).toMatch(new RegExp(`^n1-${i}\\.pem: revoked$`, "m"));
      expect(r.out).toMatch(/^n2\.pem: good$/m);
      expect(r.out.match(/Reason: keyCompromise/g)).toHaveLength(3);

      // The CRL and the feed list all three.
      await crlListing(ts.httpUrl, p.intId, "full", mine.map((l) => l.serial));
      const page = await feedPage(ts, `?since=${cursor}`);
      expect(page.items.map((i) => i.serial).sort()).toEqual(mine.map((l) => l.serial).sort());
      for (const item of page.items) expect(item).toMatchObject({ nodeId: n1, reason: "keyCompromise", reasonCode: 1, issuerId: p.intId });

      // Blocked: refused with a message naming the block; n2 still enrols.
      const refused = expectError(await api(ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "again" }).pem, nodeId: n1 }), 403, "blocked");
      expect(refused.message).toContain(`node "${n1}" is blocked`);
      expect(refused.message).toContain("host compromised");
      expect(refused.detail).toEqual({ kind: "node", value: n1 });
      await issue(ts, { nodeId: n2 });
      const listed = expectStatus(await api(ts, "GET", "/admin/v1/blocks"), 200).items as Json[];
      expect(listed.filter((b) => b.value === n1)).toEqual([expect.objectContaining({ kind: "node", value: n1, reason: "host compromised", createdBy: expect.stringMatching(/^admin-token:/) })]);

      // Unblocked: enrols again.
      const lifted = expectStatus(await api(ts, "DELETE", `/admin/v1/blocks/node?value=${encodeURIComponent(n1)}`), 200);
      expect(lifted).toMatchObject({ kind: "node", value: n1 });
      expect((expectStatus(await api(ts, "GET", "/admin/v1/blocks"), 200).items as Json[]).filter((b) => b.value === n1)).toEqual([]);
      const again = await issue(ts, { nodeId: n1 });
      expect(again.certificate.status).toBe("valid");
      // What was revoked stays revoked.
      expect(await ocspStatuses(p, [...mine.map((l) => l.serial), again.serial])).toEqual(["revoked", "revoked", "revoked", "good"]);
    });

    it("revoke --identity with a SPIFFE ID: revoked and blocked, unblocked through ?value= URL-encoded", async () => {
      const spiffeId = `spiffe://prod.example.test/ns/ml/sa/worker-${tag()}`;
      const mine = [await issue(ts, { spiffeId }), await issue(ts, { spiffeId })];
      const bystander = await issue(ts, { spiffeId: `${spiffeId}-other` });
      expect(mine[0]!.certificate).toMatchObject({ spiffeId, identity: spiffeId });

      const res = expectStatus(await api(ts, "POST", "/admin/v1/revocations", { identity: spiffeId, reason: "privilegeWithdrawn" }), 200);
      expect(res.count).toBe(2);
      expect(res.block).toMatchObject({ kind: "identity", value: spiffeId });
      await ocspUntil(p, mine.map((l) => l.serial), "revoked");
      expect(await ocspStatuses(p, [bystander.serial])).toEqual(["good"]);

      const refused = expectError(await api(ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "w" }).pem, spiffeId }), 403, "blocked");
      expect(refused.message).toContain(`identity ${JSON.stringify(spiffeId)} is blocked`);
      // The block holds whichever way the identity is named.
      expectError(await api(ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "w" }).pem, identity: spiffeId }), 403, "blocked");
      const blocks = expectStatus(await api(ts, "GET", "/admin/v1/blocks"), 200).items as Json[];
      expect(blocks.filter((b) => b.value === spiffeId)).toEqual([expect.objectContaining({ kind: "identity", value: spiffeId })]);

      expectStatus(await api(ts, "DELETE", `/admin/v1/blocks/identity?value=${encodeURIComponent(spiffeId)}`), 200);
      expect((await issue(ts, { spiffeId })).certificate.status).toBe("valid");
    });
  });

  describe("the live revocation feed on the HTTPS port", () => {
    it("requires admin credentials", async () => {
      for (const path of ["?since=latest", "/stream?since=latest"]) {
        for (const token of [null, "sgt_admin_not-a-real-token-not-a-real-token-00"]) {
          const r = await feed(ts, path, token);
          expect(r.status, `${path} ${token}`).toBe(401);
          expect(r.json()).toMatchObject({ code: "unauthenticated" });
        }
      }
    });

    it("a client certificate with the signet:revocation-reader role reads the stream but not /admin, and its stream ends when that certificate is revoked", async () => {
      const key = makeCsr({ cn: `reader-${tag()}` });
      const out = expectStatus(await api(ts, "POST", "/admin/v1/certificates", { csr: key.pem, roles: ["signet:revocation-reader"] }), 201);
      const tls = { cert: out.chainPem as string, key: key.keyPem };
      expect((await fetchRaw(`${ts.httpsUrl}/admin/v1/ca`, { ca: ts.rootPem, ...tls })).status).toBe(401);
      const page = await fetchRaw(`${ts.httpsUrl}/revocations?since=latest`, { ca: ts.rootPem, ...tls });
      expect(page.status, page.text).toBe(200);

      const s = await EventStream.open(ts, "?since=latest", {}, tls);
      expect(s.res.statusCode).toBe(200);
      const ended = new Promise<void>((resolve) => s.res.on("end", () => resolve()));
      const other = await issue(ts);
      await revoke(ts, other.serial);
      await revoke(ts, out.certificate.serial as string);
      await ended;
      // It saw the revocation before its own, and its own as the last event.
      expect(s.events.map((e) => JSON.parse(e.data).serial)).toEqual([other.serial, out.certificate.serial]);
    });

    it("pages by cursor: latest returns nothing old, a cursor returns exactly what came after it, in order", async () => {
      const old = await issue(ts);
      await revoke(ts, old.serial);
      const latest = await feedPage(ts, "?since=latest");
      expect(latest.items).toEqual([]);
      expect(BigInt(latest.cursor)).toBeGreaterThan(0n);

      const a = await issue(ts, { nodeId: `feed-${tag()}` });
      const b = await issue(ts, { spiffeId: `spiffe://prod.example.test/feed/${tag()}` });
      const invalidityDate = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000).toISOString();
      const ra = await revoke(ts, a.serial, { reason: "keyCompromise", invalidityDate });
      await revoke(ts, b.serial, { reason: "affiliationChanged" });

      const page = await feedPage(ts, `?since=${latest.cursor}`);
      expect(page.items.map((i) => i.serial)).toEqual([a.serial, b.serial]);
      const [ia, ib] = page.items as [Json, Json];
      expect(BigInt(ia.cursor)).toBeGreaterThan(BigInt(latest.cursor));
      expect(BigInt(ib.cursor)).toBeGreaterThan(BigInt(ia.cursor));
      expect(page.cursor).toBe(ib.cursor);
      expect(ia).toEqual({
        cursor: expect.stringMatching(/^\d+$/),
        serial: a.serial,
        issuerId: p.intId,
        revokedAt: ra.revokedAt,
        reason: "keyCompromise",
        reasonCode: 1,
        invalidityDate,
        notAfter: a.certificate.notAfter,
        nodeId: a.certificate.nodeId,
        identity: a.certificate.identity,
        spiffeId: null,
        actor: expect.stringMatching(/^admin-token:/),
      });
      expect(ib).toMatchObject({ reason: "affiliationChanged", reasonCode: 3, spiffeId: b.certificate.spiffeId, nodeId: null, invalidityDate: null });

      // limit pages one at a time; the last cursor returns nothing; since=0 has the old one too.
      const first = await feedPage(ts, `?since=${latest.cursor}&limit=1`);
      expect(first.items.map((i) => i.serial)).toEqual([a.serial]);
      expect(first.cursor).toBe(ia.cursor);
      const second = await feedPage(ts, `?since=${first.cursor}&limit=1`);
      expect(second.items.map((i) => i.serial)).toEqual([b.serial]);
      expect(await feedPage(ts, `?since=${second.cursor}`)).toEqual({ items: [], cursor: second.cursor, more: false });
      expect((await feedPage(ts, "?since=latest")).cursor).toBe(second.cursor);
      expect((await feedPage(ts, "?since=0")).items.map((i) => i.serial)).toEqual(expect.arrayContaining([old.serial, a.serial, b.serial]));

      for (const bad of ["?since=abc", "?since=-1", "?limit=0", "?wait=61", "?since=1&unknown=1"]) {
        const r = await feed(ts, bad);
        expect(r.status, bad).toBe(400);
      }
    });

    it("long poll: wait returns at once when a revocation arrives during the wait, and empty when none does", async () => {
      const leaf = await issue(ts);
      const { cursor } = await feedPage(ts, "?since=latest");

      const empty = await feedPage(ts, `?since=${cursor}&wait=1`);
      expect(empty).toEqual({ items: [], cursor, more: false });

      let arrived = 0;
      const poll = feed(ts, `?since=${cursor}&wait=5`).then((r) => {
        arrived = Date.now();
        return r;
      });
      await sleep(300); // let the poll start waiting
      expect(arrived).toBe(0);
      await revoke(ts, leaf.serial, { reason: "superseded" });
      const revokedAt = Date.now();
      const r = await poll;
      expect(r.status, r.text).toBe(200);
      const page = r.json<{ items: Json[]; cursor: string }>();
      expect(page.items.map((i) => i.serial)).toEqual([leaf.serial]);
      expect(page.cursor).toBe(page.items[0]!.cursor);
      // Promptly, not at the end of the 5 s wait (a wide margin: this is about which of the two happened).
      expect(arrived - revokedAt).toBeLessThan(4000);
    });

    it("SSE: backlog then live events, ids are cursors; a reconnect with Last-Event-ID receives exactly what it missed", async () => {
      const { cursor } = await feedPage(ts, "?since=latest");
      const backlog = [await issue(ts), await issue(ts)];
      for (const l of backlog) await revoke(ts, l.serial);

      const s1 = await EventStream.open(ts, `?since=${cursor}`);
      let lastId: string;
      try {
        expect(s1.res.statusCode).toBe(200);
        expect(s1.res.headers["content-type"]).toMatch(/^text\/event-stream/);
        expect(s1.res.headers["cache-control"]).toBe("no-store");
        await s1.waitFor(2);
        expect(s1.items().map((i) => i.serial)).toEqual(backlog.map((l) => l.serial));
        expect(s1.fields.find(([f]) => f === "retry")?.[1]).toMatch(/^\d+$/);

        const live = await issue(ts);
        await revoke(ts, live.serial, { reason: "cessationOfOperation" });
        await s1.waitFor(3);
        expect(s1.items().map((i) => i.serial)).toEqual([...backlog, live].map((l) => l.serial));
        for (const e of s1.events) {
          expect(e.event).toBe("revocation");
          expect(e.id).toBe((JSON.parse(e.data) as Json).cursor);
        }
        expect(s1.items()[2]).toMatchObject({ reason: "cessationOfOperation", reasonCode: 5, issuerId: p.intId });
        lastId = s1.events[2]!.id!;
      } finally {
        s1.close();
      }

      // Missed while disconnected.
      const missed = [await issue(ts), await issue(ts)];
      for (const l of missed) await revoke(ts, l.serial);
      const s2 = await EventStream.open(ts, "", { "last-event-id": lastId });
      try {
        await s2.waitFor(2);
        // A revocation after the reconnect marks the end: anything extra would show up before it.
        const sentinel = await issue(ts);
        await revoke(ts, sentinel.serial);
        await s2.waitFor(3);
        expect(s2.items().map((i) => i.serial)).toEqual([...missed, sentinel].map((l) => l.serial));
      } finally {
        s2.close();
      }
    });

    it("lets go of a stream whose client left (the open-streams gauge returns)", async () => {
      const gauge = async () => Number(/^signet_revocation_feed_clients (\d+)$/m.exec((await fetchRaw(`${ts.httpUrl}/metrics`)).text)?.[1] ?? NaN);
      const before = await gauge();
      const streams = [await EventStream.open(ts, "?since=latest"), await EventStream.open(ts, "?since=latest")];
      expect(await until(gauge, (n) => n === before + 2)).toBe(before + 2);
      for (const s of streams) s.close();
      expect(await until(gauge, (n) => n === before)).toBe(before);
    });
  });
});

describe("the live feed with more than one page of backlog", () => {
  let p: Pki;
  let ts: TestServer;
  let cursor: string;
  let serials: string[];
  /** A revocation whose certificate has expired since: the feed leaves it out by default. */
  let expired: string;
  const PAGE = 1000; // src/server/revocation/feed.ts

  beforeAll(async () => {
    p = await startPki();
    ts = p.ts;
    cursor = (await feedPage(ts, "?since=latest")).cursor;
    const node = `bulk-${tag()}`;
    const issued: Leaf[] = [];
    for (let i = 0; i < PAGE + 10; i += 100) issued.push(...(await Promise.all(Array.from({ length: Math.min(100, PAGE + 10 - i) }, () => issue(ts, { nodeId: node })))));
    const res = expectStatus(await api(ts, "POST", "/admin/v1/revocations", { node, reason: "keyCompromise" }), 200);
    expect(res.count).toBe(PAGE + 10);
    const all = await feedPage(ts, `?since=${cursor}&limit=10000`);
    expect(all.items).toHaveLength(PAGE + 10);
    serials = all.items.map((i) => i.serial as string);
    // The minimum lifetime is 5 minutes, so "expired since" is written into the event the feed reads
    // (this server's audit chain is not checked afterwards).
    expired = serials[10]!;
    const seqOf = all.items[10]!.cursor as string;
    await ts.server.services.db.raw.query(`UPDATE audit_events SET data = jsonb_set(data::jsonb, '{notAfter}', '"2020-01-01T00:00:00.000Z"') WHERE seq = $1::bigint`, [seqOf]);
  }, 120_000);

  afterAll(async () => {
    await ts?.close();
  });

  it("GET /revocations pages through all of it by cursor, leaving out the expired one", async () => {
    const seen: string[] = [];
    let since = cursor;
    for (let i = 0; i < 10; i++) {
      const page = await feedPage(ts, `?since=${since}&limit=${PAGE}`);
      if (page.cursor === since) break;
      seen.push(...page.items.map((x) => x.serial as string));
      since = page.cursor;
    }
    const bulk = new Set(serials);
    expect(seen.filter((s) => bulk.has(s))).toEqual(serials.filter((s) => s !== expired));
    const withExpired = await feedPage(ts, `?since=${cursor}&limit=10000&includeExpired=true`);
    expect(withExpired.items.map((x) => x.serial).filter((s) => bulk.has(s))).toEqual(serials);
  });

  // Regression: the SSE backlog loop once stopped as soon as a page held fewer than PAGE *items*,
  // but feed() drops revocations of expired certificates from the items while still reading PAGE
  // rows: one expired certificate among the first 1000 rows ended the backlog there, and a consumer
  // resuming with Last-Event-ID after a long disconnection silently missed revocations.
  it("SSE sends the whole backlog even when a page of it holds an expired certificate", async () => {
    const s = await EventStream.open(ts, `?since=${cursor}`);
    try {
      await s.waitFor(1);
      // A live revocation marks the end of the backlog: the stream writes it after the backlog.
      const sentinel = await issue(ts);
      await revoke(ts, sentinel.serial);
      await until(async () => s.items(), (items) => items.some((i) => i.serial === sentinel.serial));
      expect(s.items().map((i) => i.serial)).toEqual([...serials.filter((x) => x !== expired), sentinel.serial]);
    } finally {
      s.close();
    }
  });
});

const postgres = dbTargets().find((t) => t.name === "postgresql");

describe.skipIf(postgres === undefined)("two replicas on one PostgreSQL", () => {
  let a: Pki;
  let b: Pki;

  beforeAll(async () => {
    const databaseUrl = await postgres!.create();
    a = await startPki({ databaseUrl });
    // Replica B: the same CA files and admin token in its own home, the same database and passphrase.
    const home = replicaHome(a.ts.home);
    b = await startPki({ databaseUrl, home });
  }, 120_000);

  afterAll(async () => {
    await b?.ts.close();
    await a?.ts.close();
    await postgres?.dropAll();
  });

  it("serves the same CA from both", () => {
    expect(b.intId).toBe(a.intId);
    expect(b.ts.rootPem).toBe(a.ts.rootPem);
    expect(b.ts.server.services.db.kind).toBe("postgresql");
  });

  it("a revocation on A reaches B's OCSP, CRLs, long poll and SSE stream", async () => {
    const leaf = await issue(a.ts);
    // B has answered "good" before: the revocation must replace what it keeps.
    expect(await ocspStatuses(b, [leaf.serial])).toEqual(["good"]);
    const { cursor } = await feedPage(b.ts, "?since=latest");
    const stream = await EventStream.open(b.ts, "?since=latest");
    try {
      await until(async () => stream.comments.length, (n) => n > 0); // the stream has read its (empty) backlog
      const poll = feedPage(b.ts, `?since=${cursor}&wait=10`);
      await sleep(300);

      await revoke(a.ts, leaf.serial, { reason: "keyCompromise" });

      await ocspUntil(b, [leaf.serial], "revoked");
      const w = new Workdir({ ...b.files, "leaf.pem": leaf.pem });
      const r = await w.run("openssl", ["ocsp", "-url", `${b.ts.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "leaf.pem", "-CAfile", "chain.pem"]);
      expect(r.out).toContain("Response verify OK");
      expect(r.out).toMatch(/^leaf\.pem: revoked$/m);
      expect(r.out).toMatch(/Reason: keyCompromise/);

      await crlListing(b.ts.httpUrl, b.intId, "full", [leaf.serial]);
      await crlListing(b.ts.httpUrl, b.intId, "delta", [leaf.serial]);

      const page = await poll;
      expect(page.items.map((i) => i.serial)).toEqual([leaf.serial]);
      await stream.waitFor(1);
      expect(stream.items().map((i) => i.serial)).toEqual([leaf.serial]);
      expect(stream.events[0]!.id).toBe(page.items[0]!.cursor);
    } finally {
      stream.close();
    }
  });

  it("a block set on A refuses enrolment on B, and lifting it on A lets B issue again", async () => {
    const node = `pg-${tag()}`;
    const leaf = await issue(b.ts, { nodeId: node });
    const res = expectStatus(await api(a.ts, "POST", "/admin/v1/revocations", { node, reason: "keyCompromise" }), 200);
    expect(res.count).toBe(1);
    await ocspUntil(b, [leaf.serial], "revoked");
    // B's database refuses the intent even before its block list has caught up.
    expectError(await api(b.ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "pg" }).pem, nodeId: node }), 403, "blocked");
    expectStatus(await api(a.ts, "DELETE", `/admin/v1/blocks/node?value=${node}`), 200);
    const again = await until(
      () => api(b.ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "pg" }).pem, nodeId: node }),
      (r) => r.statusCode === 201,
    );
    expect(again.statusCode, again.body).toBe(201);
  });

  // Regression: lifting a block was once seen by the replica that lifted it only after its audit
  // follower had read the event back, so an enrolment right after `DELETE /admin/v1/blocks/...`
  // returned 200, on the same server, was refused 403 "blocked" by the stale in-memory list. Blocks
  // now apply as their transaction commits; the loop makes a regression show every run.
  it("after unblocking, the same replica issues at once", async () => {
    const node = `pg-race-${tag()}`;
    for (let i = 0; i < 20; i++) {
      expectStatus(await api(a.ts, "POST", "/admin/v1/revocations", { node, reason: "superseded" }), 200);
      expectStatus(await api(a.ts, "DELETE", `/admin/v1/blocks/node?value=${node}`), 200);
      const r = await api(a.ts, "POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "pg-race" }).pem, nodeId: node });
      expect(r.statusCode, `attempt ${i + 1}: ${r.body}`).toBe(201);
    }
  });
});
