// RFC 8555 at the HTTP level: a raw client (test/support/acme-raw.ts) sends correct and deliberately
// wrong requests to a running Signet and checks the status, the problem document (RFC 7807, §6.7
// types), and the headers every ACME response must carry. Every response any test receives is
// checked after the test for a Replay-Nonce (§6.5) and for never being a 5xx.
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildCsr } from "../ca/x509/index.js";
import { admin, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { AccountKey, AcmeRawClient, b64u, JOSE, madeUpNonce, type AcmeResponse, type FlattenedJws, type KeyType, type OrderView } from "./support/acme-raw.js";
import { makeCsr } from "./support/csr.js";
import { dbTargets } from "./support/databases.js";
import { replicaHome } from "./support/server.js";

const PROBLEM = /^application\/problem\+json(\s*;.*)?$/;
const NONCE = /^[A-Za-z0-9_-]{16,}$/;
const ACCEPTED_ALGS = ["ES256", "ES384", "RS256", "EdDSA"];

/** Every response of the running test, checked in afterEach. */
let seen: AcmeResponse[] = [];
const record = (r: AcmeResponse) => void seen.push(r);

afterEach(() => {
  const responses = seen;
  seen = [];
  for (const r of responses) {
    const what = `${r.status} ${r.text.slice(0, 300)}`;
    expect(r.status, `a 5xx: ${what}`).toBeLessThan(500);
    expect(r.nonce, `no Replay-Nonce on ${what}`).toMatch(NONCE);
  }
});

/** The response is an RFC 7807 problem of ACME type `type` with HTTP status `status`. */
function expectProblem(res: AcmeResponse, status: number, type: string): Record<string, any> {
  const what = `${res.status} ${res.header("content-type")} ${res.text.slice(0, 500)}`;
  expect(res.status, what).toBe(status);
  expect(res.header("content-type"), what).toMatch(PROBLEM);
  const doc = res.json();
  expect(doc.type, what).toBe(`urn:ietf:params:acme:error:${type}`);
  if (doc.status !== undefined) expect(doc.status, what).toBe(status);
  expect(res.nonce, what).toMatch(NONCE);
  return doc;
}

function expectStatus(res: AcmeResponse, status: number): Record<string, any> {
  expect(res.status, res.text.slice(0, 500)).toBe(status);
  return res.header("content-type")?.startsWith("application/json") ? res.json() : {};
}

let seq = 0;
/** A fresh DNS name under acme.test, so no two tests share an identifier. */
const name = (label: string) => `${label}-${++seq}-${process.pid}.acme.test`;

/** A CSR for `names` whose key is RSA-1024: well formed, correctly signed, and too weak. */
function weakRsaCsr(names: string[]): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
  return buildCsr({ privateKey, publicKey, keyAlgorithm: "RSA-2048", subject: [], sans: { dns: names } });
}

const targets = dbTargets();

for (const target of targets) {
  describe(`ACME protocol over HTTP (${target.name})`, () => {
    let bed: AcmeTestbed;

    beforeAll(async () => {
      bed = await startAcmeTestbed({ databaseUrl: await target.create() });
    }, 120_000);
    afterAll(async () => {
      await bed?.close();
      await target.dropAll();
    });

    const connect = (opts: { key?: AccountKey } = {}) => AcmeRawClient.connect(bed.directory(), bed.signet.rootPem, { onResponse: record, ...opts });

    /** A client with a fresh P-256 account. */
    const withAccount = async () => {
      const c = await connect();
      expectStatus(await c.createAccount(), 201);
      return c;
    };

    const serveHttp01 = (token: string, ka: string) => void bed.http01.set(token, ka);

    /** A client whose order for `names` is ready to finalize. */
    const readyOrder = async (names: string[]): Promise<{ c: AcmeRawClient; order: OrderView }> => {
      const c = await withAccount();
      const order = await c.order(names);
      await c.authorize(order, serveHttp01);
      const ready = await c.pollUntil(order.url, (o) => o.status !== "pending");
      expect(ready.status).toBe("ready");
      return { c, order: { ...order, status: "ready" } };
    };

    describe("replay nonces (§6.5)", () => {
      it("a replayed nonce is badNonce, and the error's own fresh nonce then works", async () => {
        const c = await withAccount();
        const nonce = await c.freshNonce();
        expectStatus(await c.post(c.kid!, undefined, { nonce }), 200);

        const replay = await c.post(c.kid!, undefined, { nonce });
        expectProblem(replay, 400, "badNonce");
        expect(replay.nonce).not.toBe(nonce);

        const retried = await c.post(c.kid!, undefined, { nonce: replay.nonce! });
        expect(expectStatus(retried, 200).status).toBe("valid");
      });

      it("a nonce replayed on newAccount (jwk) is badNonce too", async () => {
        const c = await connect();
        const nonce = await c.freshNonce();
        expectStatus(await c.createAccount(undefined, { nonce }), 201);
        expectProblem(await c.createAccount(undefined, { nonce }), 400, "badNonce");
      });

      it("a made-up nonce is badNonce", async () => {
        const c = await withAccount();
        expectProblem(await c.post(c.kid!, undefined, { nonce: madeUpNonce() }), 400, "badNonce");
        expectProblem(await c.post(c.kid!, undefined, { nonce: "not-a-nonce" }), 400, "badNonce");
        expectProblem(await c.post(c.kid!, undefined, { nonce: "" }), 400, "badNonce");
      });

      it("a missing nonce is badNonce", async () => {
        const c = await withAccount();
        expectProblem(await c.post(c.kid!, undefined, { nonce: null }), 400, "badNonce");
        expectProblem(await connect().then((n) => n.createAccount(undefined, { nonce: null })), 400, "badNonce");
      });

      it("a request refused before its signature is checked does not spend its nonce", async () => {
        const c = await withAccount();
        const nonce = await c.freshNonce();
        expectProblem(await c.post(c.kid!, undefined, { nonce, url: c.dir.newOrder }), 403, "unauthorized");
        expectStatus(await c.post(c.kid!, undefined, { nonce }), 200);
      });
    });

    describe("the JWS url (§6.4)", () => {
      it("a url other than the request URL is unauthorized", async () => {
        const c = await withAccount();
        const identifiers = [{ type: "dns", value: name("url") }];
        expectProblem(await c.post(c.dir.newOrder, { identifiers }, { url: c.dir.newAccount }), 403, "unauthorized");
        expectProblem(await c.post(c.dir.newOrder, { identifiers }, { url: c.dir.newOrder.replace("127.0.0.1", "signet.example") }), 403, "unauthorized");
        expectProblem(await c.post(c.dir.newOrder, { identifiers }, { url: `${c.dir.newOrder}/` }), 403, "unauthorized");
      });

      it("a JWS without a url is malformed", async () => {
        const c = await withAccount();
        expectProblem(await c.post(c.kid!, undefined, { url: null }), 400, "malformed");
      });
    });

    describe("signature algorithms and account keys (§6.2)", () => {
      // "none" is sent as RFC 7515 §A.5 has it, with an empty signature; and once with some bytes, so a
      // failure tells whether the algorithm or the empty signature is what the server trips on.
      const refused: { alg: string; key: KeyType; signature?: string; how: string }[] = [
        { alg: "none", key: "P-256", how: "an empty signature" },
        { alg: "none", key: "P-256", signature: "AAAA", how: "a non-empty signature" },
        { alg: "HS256", key: "P-256", how: "an HMAC" },
        { alg: "RS1", key: "RSA-2048", how: "an RSA-SHA1 signature" },
        { alg: "ES512", key: "P-521", how: "a P-521 signature" },
      ];

      it.each(refused)("alg $alg with $how is badSignatureAlgorithm, listing the accepted algorithms", async ({ alg, key, signature }) => {
        const c = await connect({ key: AccountKey.generate(key) });
        const reshape = signature === undefined ? undefined : (j: FlattenedJws) => ({ ...j, signature });
        const doc = expectProblem(await c.createAccount(undefined, { alg, ...(reshape ? { reshape } : {}) }), 400, "badSignatureAlgorithm");
        expect(Array.isArray(doc.algorithms), JSON.stringify(doc)).toBe(true);
        expect([...doc.algorithms].sort()).toEqual([...ACCEPTED_ALGS].sort());
      });

      it("alg none is refused on a kid-signed request too", async () => {
        const c = await withAccount();
        const doc = expectProblem(await c.post(c.kid!, undefined, { alg: "none" }), 400, "badSignatureAlgorithm");
        expect(doc.algorithms).toEqual(expect.arrayContaining(ACCEPTED_ALGS));
      });

      it.each<KeyType>(["P-256", "P-384", "RSA-2048", "Ed25519"])("a %s account key signs newAccount, account reads and newOrder", async (type) => {
        const c = await connect({ key: AccountKey.generate(type) });
        const created = await c.createAccount();
        expect(expectStatus(created, 201).status).toBe("valid");
        expect(created.location).toMatch(new RegExp(`^${c.base}/account/[A-Za-z0-9_-]+$`));
        expect(expectStatus(await c.post(c.kid!), 200).status).toBe("valid");
        const order = await c.newOrder([name(type.toLowerCase())]);
        expect(expectStatus(order, 201).status).toBe("pending");
      });

      it("an RSA-1024 account key is badPublicKey", async () => {
        const c = await connect({ key: AccountKey.generate("RSA-1024") });
        expectProblem(await c.createAccount(), 400, "badPublicKey");
      });

      it("a signature that does not verify is refused without creating the account", async () => {
        const c = await connect();
        const other = AccountKey.generate("P-256");
        expectProblem(await c.createAccount(undefined, { key: other, jwk: c.key.jwk }), 400, "malformed");
        expectProblem(await c.createAccount({ onlyReturnExisting: true }), 400, "accountDoesNotExist");
      });
    });

    describe("identifying the account: kid and jwk (§6.2)", () => {
      it("the kid of a deactivated account is unauthorized", async () => {
        const c = await withAccount();
        const deactivated = await c.post(c.kid!, { status: "deactivated" });
        expect(expectStatus(deactivated, 200).status).toBe("deactivated");
        expectProblem(await c.post(c.kid!), 403, "unauthorized");
        expectProblem(await c.newOrder([name("deactivated")]), 403, "unauthorized");
      });

      it("the kid of an unknown account is accountDoesNotExist", async () => {
        const c = await connect();
        expectProblem(await c.newOrder([name("unknown")], { kid: `${c.base}/account/AAAAAAAAAAAAAAAA` }), 400, "accountDoesNotExist");
        expectProblem(await c.newOrder([name("unknown")], { kid: "https://elsewhere.example/acme/acme/account/x" }), 400, "accountDoesNotExist");
      });

      it("jwk on a kid-only endpoint (newOrder) is malformed", async () => {
        const c = await withAccount();
        expectProblem(await c.newOrder([name("jwk")], { as: "jwk" }), 400, "malformed");
      });

      it("kid on newAccount is malformed", async () => {
        const c = await withAccount();
        expectProblem(await c.post(c.dir.newAccount, { termsOfServiceAgreed: true }, { as: "kid" }), 400, "malformed");
      });

      it("both jwk and kid, or neither, is malformed", async () => {
        const c = await withAccount();
        expectProblem(await c.newOrder([name("both")], { as: "both" }), 400, "malformed");
        expectProblem(await c.newOrder([name("neither")], { as: "neither" }), 400, "malformed");
      });
    });

    describe("accounts (§7.3)", () => {
      it("POST-as-GET on the account URL returns the account", async () => {
        const c = await connect();
        expectStatus(await c.createAccount({ termsOfServiceAgreed: true, contact: ["mailto:ops@acme.test"] }), 201);
        const res = await c.post(c.kid!);
        const account = expectStatus(res, 200);
        expect(res.header("content-type")).toMatch(/^application\/json/);
        expect(account).toMatchObject({ status: "valid", contact: ["mailto:ops@acme.test"], orders: `${c.kid}/orders` });
      });

      it("another account's URL, read with this account's kid, is unauthorized", async () => {
        const mine = await withAccount();
        const theirs = await withAccount();
        expectProblem(await mine.post(theirs.kid!), 403, "unauthorized");
        expectProblem(await mine.post(theirs.kid!, { status: "deactivated" }), 403, "unauthorized");
        expect(expectStatus(await theirs.post(theirs.kid!), 200).status).toBe("valid");
      });

      it("onlyReturnExisting with an unknown key is accountDoesNotExist", async () => {
        const c = await connect();
        expectProblem(await c.createAccount({ onlyReturnExisting: true }), 400, "accountDoesNotExist");
      });

      it("onlyReturnExisting with a known key returns the account (200) with its Location", async () => {
        const c = await withAccount();
        const again = await connect({ key: c.key });
        const res = await again.createAccount({ onlyReturnExisting: true });
        expectStatus(res, 200);
        expect(res.location).toBe(c.kid);
      });

      it("newAccount twice with the same key: 201, then 200 with the same Location", async () => {
        const c = await connect();
        const first = await c.createAccount();
        expectStatus(first, 201);
        const second = await c.createAccount();
        expect(expectStatus(second, 200).status).toBe("valid");
        expect(second.location).toBe(first.location);
      });
    });

    describe("identifiers and name policy (§7.4)", () => {
      it("an identifier type other than dns and ip is unsupportedIdentifier", async () => {
        const c = await withAccount();
        expectProblem(await c.newOrder([{ type: "email", value: "ops@acme.test" }]), 400, "unsupportedIdentifier");
      });

      it.each(["under_score.acme.test", "a..b.acme.test", "-lead.acme.test", `${"x".repeat(64)}.acme.test`])("an invalid DNS name (%s) is rejectedIdentifier", async (value) => {
        const c = await withAccount();
        const doc = expectProblem(await c.newOrder([value]), 400, "rejectedIdentifier");
        expect(doc.subproblems?.[0]?.identifier).toEqual({ type: "dns", value });
      });

      it("a wildcard when the provisioner does not offer them is rejectedIdentifier", async () => {
        const c = await withAccount();
        expectProblem(await c.newOrder([`*.${name("wild")}`]), 400, "rejectedIdentifier");
      });

      it("an order beyond the provisioner's name policy is rejectedIdentifier, naming the refused identifier in subproblems", async () => {
        const put = await admin(bed.signet, "PUT", "/admin/v1/provisioners/acme/policy", { allow: { dns: ["*.allowed.test"] } });
        expect(put.status, JSON.stringify(put.body)).toBe(200);
        try {
          const c = await withAccount();
          const doc = expectProblem(await c.newOrder(["x.forbidden.test", "ok.allowed.test"]), 400, "rejectedIdentifier");
          expect(doc.subproblems, JSON.stringify(doc)).toHaveLength(1);
          expect(doc.subproblems[0]).toMatchObject({ type: "urn:ietf:params:acme:error:rejectedIdentifier", identifier: { type: "dns", value: "x.forbidden.test" } });
          // What the policy allows still orders.
          expectStatus(await c.newOrder(["ok.allowed.test"]), 201);
        } finally {
          const reset = await admin(bed.signet, "PUT", "/admin/v1/provisioners/acme/policy", {});
          expect(reset.status, JSON.stringify(reset.body)).toBe(200);
        }
      });
    });

    describe("finalize (§7.4)", () => {
      it("a CSR naming something not in the order is badCSR; the order stays ready and a correct CSR then issues", async () => {
        const host = name("fin");
        const { c, order } = await readyOrder([host]);

        const extra = makeCsr({ sans: { dns: [host, name("not-ordered")] } });
        expectProblem(await c.finalize(order, extra.der), 400, "badCSR");
        expect((await c.readOrder(order.url)).status).toBe("ready");

        const good = makeCsr({ sans: { dns: [host] } });
        const finalized = await c.finalize(order, good.der);
        expect(["processing", "valid"]).toContain(expectStatus(finalized, 200).status);
        const done = await c.pollUntil(order.url, (o) => o.status !== "processing");
        expect(done.status).toBe("valid");
        expect(typeof done.certificate).toBe("string");

        const cert = await c.post(done.certificate);
        expectStatus(cert, 200);
        expect(cert.header("content-type")).toBe("application/pem-certificate-chain");
        expect(opensslVerify(bed.rootFile, cert.text)).toContain("OK");
        expect(cert.links("alternate")).toEqual([`${done.certificate}/1`]);
        const alternate = await c.post(`${done.certificate}/1`);
        expectStatus(alternate, 200);
        expect(alternate.text.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
      });

      it("a CSR with an RSA-1024 key is badCSR, and the order stays ready", async () => {
        const host = name("weak");
        const { c, order } = await readyOrder([host]);
        expectProblem(await c.finalize(order, weakRsaCsr([host])), 400, "badCSR");
        expect((await c.readOrder(order.url)).status).toBe("ready");
      });

      it("a csr that is not a DER PKCS#10 request is badCSR, and the order stays ready", async () => {
        const { c, order } = await readyOrder([name("garbage-csr")]);
        expectProblem(await c.finalize(order, Buffer.from("this is no certificate request")), 400, "badCSR");
        expect((await c.readOrder(order.url)).status).toBe("ready");
      });

      it("finalize before the authorizations are valid is orderNotReady", async () => {
        const c = await withAccount();
        const host = name("early");
        const order = await c.order([host]);
        expect(order.status).toBe("pending");
        expectProblem(await c.finalize(order, makeCsr({ sans: { dns: [host] } }).der), 403, "orderNotReady");
        expect((await c.readOrder(order.url)).status).toBe("pending");
      });
    });

    describe("transport: content types, methods and bodies (§6.2, §6.3)", () => {
      it("a POST with Content-Type application/json is 415 malformed", async () => {
        const c = await connect();
        const body = await c.body(c.dir.newAccount, { termsOfServiceAgreed: true }, { as: "jwk" });
        expectProblem(await c.postBody(c.dir.newAccount, body, "application/json"), 415, "malformed");
        // The same body as application/jose+json is fine (its nonce was not spent).
        expectStatus(await c.postBody(c.dir.newAccount, body, JOSE), 201);
      });

      it("application/jose+json is recognised with parameters and in any case (RFC 9110 §8.3.1)", async () => {
        for (const type of ["application/jose+json; charset=utf-8", "Application/JOSE+JSON"]) {
          const c = await connect();
          const body = await c.body(c.dir.newAccount, { termsOfServiceAgreed: true }, { as: "jwk" });
          expectStatus(await c.postBody(c.dir.newAccount, body, type), 201);
        }
      });

      it("a POST with no Content-Type is 415 malformed", async () => {
        const c = await connect();
        const body = await c.body(c.dir.newAccount, { termsOfServiceAgreed: true }, { as: "jwk" });
        expectProblem(await c.send("POST", c.dir.newAccount, { body }), 415, "malformed");
      });

      it("GET on an order is 405 with Allow: POST", async () => {
        const c = await withAccount();
        const order = await c.order([name("get")]);
        const res = await c.send("GET", order.url);
        expectProblem(res, 405, "malformed");
        expect(res.header("allow")).toMatch(/\bPOST\b/);
      });

      it("the directory of an unknown provisioner, or of one that is not ACME, is a 404 problem", async () => {
        const c = await connect();
        for (const other of ["no-such-provisioner", "signet-system", "NOT_A_NAME"]) {
          expectProblem(await c.send("GET", c.directoryUrl.replace("/acme/acme/", `/acme/${other}/`)), 404, "malformed");
        }
      });

      it("an unknown resource under a provisioner is a 404 problem", async () => {
        const c = await connect();
        expectProblem(await c.post(`${c.base}/no-such-resource`, {}, { as: "jwk" }), 404, "malformed");
      });

      const garbage: { what: string; status: number; body: (c: AcmeRawClient) => Promise<string> }[] = [
        { what: "not JSON", status: 400, body: async () => "{this is not json" },
        { what: "a JSON array", status: 400, body: async () => "[]" },
        { what: "a JSON string", status: 400, body: async () => JSON.stringify("a.b.c") },
        { what: "empty", status: 400, body: async () => "" },
        { what: "a JWS compact serialization", status: 400, body: async (c) => Object.values(JSON.parse(await c.body(c.dir.newAccount, {}, { as: "jwk" })) as string[]).join(".") },
        {
          what: "a JWS with an unprotected header member",
          status: 400,
          body: (c) => c.body(c.dir.newAccount, {}, { as: "jwk", reshape: (j) => ({ ...j, header: { kid: "x" } }) }),
        },
        {
          what: "a JWS in general serialization",
          status: 400,
          body: (c) => c.body(c.dir.newAccount, {}, { as: "jwk", reshape: (j) => ({ payload: j.payload, signatures: [{ protected: j.protected, signature: j.signature }] }) }),
        },
        { what: "a JWS whose payload is not base64url", status: 400, body: (c) => c.body(c.dir.newAccount, {}, { as: "jwk", rawPayload: "not+base64/url=" }) },
        { what: "a JWS whose payload is base64url of non-JSON", status: 400, body: (c) => c.body(c.dir.newAccount, {}, { as: "jwk", rawPayload: b64u("{oops") }) },
        { what: "a JWS whose protected header is not JSON", status: 400, body: (c) => c.body(c.dir.newAccount, {}, { as: "jwk", reshape: (j) => ({ ...j, protected: b64u("nope") }) }) },
        { what: "a JWS whose members are not strings", status: 400, body: (c) => c.body(c.dir.newAccount, {}, { as: "jwk", reshape: (j) => ({ ...j, payload: 42 }) }) },
        { what: "a JWS whose jwk is a string", status: 400, body: (c) => c.body(c.dir.newAccount, {}, { as: "neither", header: { jwk: "key" } }) },
        { what: "larger than 64 KiB", status: 413, body: async (c) => c.body(c.dir.newAccount, { pad: "x".repeat(70 * 1024) }, { as: "jwk" }) },
      ];

      it.each(garbage)("a body that is $what is a $status problem, never a 5xx", async ({ body, status }) => {
        const c = await connect();
        expectProblem(await c.postBody(c.dir.newAccount, await body(c)), status, "malformed");
      });
    });

    describe("directory and newNonce (§7.1.1, §7.2)", () => {
      it("HEAD newNonce is 200 and GET is 204, both with a Replay-Nonce and Cache-Control: no-store", async () => {
        const c = await connect();
        const head = await c.send("HEAD", c.dir.newNonce);
        expect(head.status).toBe(200);
        const get = await c.send("GET", c.dir.newNonce);
        expect(get.status).toBe(204);
        for (const r of [head, get]) {
          expect(r.nonce).toMatch(NONCE);
          expect(r.header("cache-control")).toMatch(/\bno-store\b/);
          expect(r.links("index")).toEqual([c.directoryUrl]);
        }
        expect(head.nonce).not.toBe(get.nonce);
        expect(get.text).toBe("");
      });

      it("the directory lists the resources and meta.externalAccountRequired and meta.profiles", async () => {
        const c = await connect();
        const res = await c.send("GET", c.directoryUrl);
        const dir = expectStatus(res, 200);
        for (const k of ["newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"]) expect(dir[k], k).toMatch(new RegExp(`^${c.base}/`));
        expect(dir.meta.externalAccountRequired).toBe(false);
        expect(dir.meta.profiles).toEqual(expect.objectContaining({ client: expect.any(String), server: expect.any(String), "client-server": expect.any(String) }));
      });

      it('responses other than the directory carry Link rel="index", errors included', async () => {
        const c = await withAccount();
        const order = await c.order([name("index")]);
        const responses = [await c.post(c.kid!), await c.post(order.url), await c.post(order.authorizations[0]!), await c.post(c.kid!, undefined, { nonce: madeUpNonce() })];
        for (const r of responses) expect(r.links("index"), `${r.status} ${r.header("link")}`).toEqual([c.directoryUrl]);
      });
    });
  });
}

const postgres = targets.find((t) => t.name === "postgresql");

describe.skipIf(postgres === undefined)("nonces across two replicas on one PostgreSQL (§6.5)", () => {
  let a: AcmeTestbed;
  let b: AcmeTestbed;

  beforeAll(async () => {
    const databaseUrl = await postgres!.create();
    a = await startAcmeTestbed({ databaseUrl });
    // Replica B: A's CA files and admin token in its own home, the same database and passphrase.
    const home = replicaHome(a.signet.home);
    b = await startAcmeTestbed({ databaseUrl, home });
  }, 180_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await postgres?.dropAll();
  });

  const connect = (bed: AcmeTestbed, key?: AccountKey) => AcmeRawClient.connect(bed.directory(), bed.signet.rootPem, { onResponse: record, ...(key ? { key } : {}) });

  it("a nonce from replica A works once on replica B, and is then badNonce on A", async () => {
    const onA = await connect(a);
    const onB = await connect(b);
    expect(onB.base).not.toBe(onA.base);
    const nonce = await onA.freshNonce();

    expectStatus(await onB.createAccount(undefined, { nonce }), 201);
    expectProblem(await onA.createAccount(undefined, { nonce }), 400, "badNonce");
    // ... and on B as well.
    expectProblem(await onB.post(onB.kid!, undefined, { nonce }), 400, "badNonce");
  });

  it("an account created through B is used through A with B's nonces", async () => {
    const onB = await connect(b);
    expectStatus(await onB.createAccount(), 201);
    const onA = await connect(a, onB.key);
    onA.kid = onB.kid!.replace(onB.base, onA.base);
    const nonce = await onB.freshNonce();
    expect(expectStatus(await onA.post(onA.kid, undefined, { nonce }), 200).status).toBe("valid");
    expectProblem(await onB.post(onB.kid!, undefined, { nonce }), 400, "badNonce");
  });
});
