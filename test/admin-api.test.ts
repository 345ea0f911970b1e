// The admin API against a real server and a real database (PGlite, and PostgreSQL when
// TEST_DATABASE_URL is set): authentication on every route, issuance and search, the stable error
// codes for bad input, provisioners, name policies, the audit chain and the OpenAPI description.
import { randomBytes, randomUUID, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { STATUS_CODES } from "node:http";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEventHash, GENESIS_HASH } from "../ca/audit.js";
import { makeCsr, openssl, opensslCsr } from "./support/csr.js";
import { dbTargets } from "./support/databases.js";
import { startTestServer, type TestServer } from "./support/server.js";

// Response bodies are checked field by field; their static type adds nothing here.
type Json = Record<string, any>;

interface CallOptions {
  /** Bearer token; `null` sends no Authorization header. Defaults to the bootstrap admin token. */
  token?: string | null;
  body?: unknown;
  /** A raw payload, sent as is (with `headers` choosing its content type). */
  payload?: string | Buffer;
  headers?: Record<string, string>;
}

function call(ts: TestServer, method: string, url: string, opts: CallOptions = {}): Promise<LightMyRequestResponse> {
  const token = opts.token === undefined ? ts.token : opts.token;
  const headers: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
  let payload: string | Buffer | undefined = opts.payload;
  if (opts.body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(opts.body);
  }
  Object.assign(headers, opts.headers);
  return ts.server.https.inject({ method: method as "GET", url, headers, ...(payload === undefined ? {} : { payload }) });
}

/** A 4xx with the admin API's error body and the stable code. Returns the body. */
function expectError(res: LightMyRequestResponse, status: number, code: string): Json {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = res.json<Json>();
  expect(body).toMatchObject({ statusCode: status, code, error: STATUS_CODES[status] });
  expect(typeof body.message).toBe("string");
  expect(body.message.length).toBeGreaterThan(0);
  return body;
}

function expectStatus(res: LightMyRequestResponse, status: number): Json {
  expect(res.statusCode, res.body).toBe(status);
  return res.body === "" ? {} : res.json<Json>();
}

function suffix(): string {
  return randomBytes(4).toString("hex");
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?/g;

describe.each(dbTargets())("admin API on $name", (target) => {
  let ts: TestServer;

  beforeAll(async () => {
    ts = await startTestServer({ databaseUrl: await target.create() });
  });

  afterAll(async () => {
    await ts?.close();
    await target.dropAll();
  });

  async function issue(body: Json, opts: CallOptions = {}): Promise<Json> {
    return expectStatus(await call(ts, "POST", "/admin/v1/certificates", { ...opts, body }), 201);
  }

  function csrFor(name: string): string {
    return makeCsr({ cn: name, sans: { dns: [name] } }).pem;
  }

  async function putProvisioner(name: string, body: Json): Promise<LightMyRequestResponse> {
    return call(ts, "PUT", `/admin/v1/provisioners/${name}`, { body });
  }

  async function auditEvents(query: string): Promise<Json[]> {
    return expectStatus(await call(ts, "GET", `/admin/v1/audit/events?limit=1000&${query}`), 200).items as Json[];
  }

  async function openapi(): Promise<Json> {
    return expectStatus(await call(ts, "GET", "/admin/openapi.json"), 200);
  }

  describe("authentication", () => {
    it("refuses every route in the OpenAPI document, and the document itself, without credentials", async () => {
      const doc = await openapi();
      const params: Record<string, string> = { serial: "01", name: "admin", id: randomUUID(), kind: "node", kid: "eab_x" };
      const routes: [string, string][] = [["GET", "/admin/openapi.json"]];
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Json>)) {
        const url = path.replace(/\{(\w+)\}/g, (_m, p: string) => {
          expect(params, `no test value for path parameter ${p}`).toHaveProperty(p);
          return params[p]!;
        });
        for (const method of Object.keys(ops)) routes.push([method.toUpperCase(), url]);
      }
      // Every operation the API has: certificates (4), provisioners (4), policies (4), audit (2),
      // admin tokens (3), CA (1), and the document.
      expect(routes.length).toBeGreaterThanOrEqual(19);

      const before = (await auditEvents("event=admin.auth_failed")).length;
      for (const [method, url] of routes) {
        // A body that would be valid or nearly so: authentication must come before parsing it.
        const res = await call(ts, method, url, { token: null, ...(method === "POST" || method === "PUT" ? { body: {} } : {}) });
        const body = expectError(res, 401, "unauthenticated");
        expect(body.message, `${method} ${url}`).toMatch(/admin authentication required/);
        expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="signet-admin"/);
      }
      const failures = (await auditEvents("event=admin.auth_failed")).slice(before);
      expect(failures).toHaveLength(routes.length);
      for (const e of failures) {
        expect(e.actor).toBe("anonymous");
        expect(e.data.reason).toBe("missing_credentials");
      }
      expect(failures.map((e) => `${e.data.method} ${e.data.route}`)).toContain("DELETE /admin/v1/provisioners/:name");
      // The token that was withheld does work on the same routes.
      expectStatus(await call(ts, "GET", "/admin/v1/provisioners"), 200);
    });

    it("refuses a bad token, a malformed header, an expired token and a revoked token, each as an audit event", async () => {
      const attempts: { headers: Record<string, string>; reason: string }[] = [
        { headers: { authorization: `Bearer sgt_admin_${randomBytes(32).toString("base64url")}` }, reason: "invalid_token" },
        { headers: { authorization: "Bearer not-a-signet-token" }, reason: "invalid_token" },
        { headers: { authorization: `Basic ${Buffer.from("admin:admin").toString("base64")}` }, reason: "malformed_authorization" },
        { headers: { authorization: "Bearer" }, reason: "malformed_authorization" },
        { headers: { authorization: `Bearer ${ts.token} extra` }, reason: "malformed_authorization" },
      ];

      // Expired: made with the shortest allowed lifetime, then moved into the past before first use
      // (a token once verified is cached for 10 s, expiry included).
      const expired = expectStatus(await call(ts, "POST", "/admin/v1/admin-tokens", { body: { name: "soon-expired", ttlSeconds: 60 } }), 201);
      expect(expired.token).toMatch(/^sgt_admin_/);
      await ts.server.services.db.prisma.adminToken.update({ where: { id: expired.info.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
      attempts.push({ headers: { authorization: `Bearer ${expired.token}` }, reason: "invalid_token" });

      // Revoked: used first (so it sits in the verification cache), then revoked through the API.
      const revoked = expectStatus(await call(ts, "POST", "/admin/v1/admin-tokens", { body: { name: "to-revoke" } }), 201);
      expectStatus(await call(ts, "GET", "/admin/v1/provisioners", { token: revoked.token }), 200);
      expectStatus(await call(ts, "DELETE", `/admin/v1/admin-tokens/${revoked.info.id}`), 204);
      expectError(await call(ts, "DELETE", `/admin/v1/admin-tokens/${revoked.info.id}`), 409, "conflict");
      attempts.push({ headers: { authorization: `Bearer ${revoked.token}` }, reason: "invalid_token" });

      const before = (await auditEvents("event=admin.auth_failed")).length;
      for (const a of attempts) {
        const res = await call(ts, "GET", "/admin/v1/certificates", { token: null, headers: a.headers });
        expectError(res, 401, "unauthenticated");
        expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="signet-admin"/);
      }
      const failures = (await auditEvents("event=admin.auth_failed")).slice(before);
      expect(failures.map((e) => e.data.reason)).toEqual(attempts.map((a) => a.reason));
      for (const e of failures) expect(e.data.route).toBe("/admin/v1/certificates");

      // A token made the same way and left alone works: the refusals above are about expiry and revocation.
      const fresh = expectStatus(await call(ts, "POST", "/admin/v1/admin-tokens", { body: { name: "control", ttlSeconds: 60 } }), 201);
      expectStatus(await call(ts, "GET", "/admin/v1/certificates?limit=1", { token: fresh.token }), 200);
      const listed = expectStatus(await call(ts, "GET", "/admin/v1/admin-tokens"), 200).items as Json[];
      expect(listed.find((t) => t.id === revoked.info.id)?.revokedAt).toEqual(expect.any(String));
      // Token values never come back from the list.
      expect(JSON.stringify(listed)).not.toContain("sgt_admin_");
    });
  });

  describe("issuance", () => {
    it("issues from a CSR: certificate JSON, PEM and a chain openssl verifies against the root", async () => {
      const name = `svc-${suffix()}.example.test`;
      const out = await issue({ csr: csrFor(name), identity: `id-${name}`, nodeId: "node-1", roles: ["tenant:blue"], lifetimeSeconds: 3600 });
      const c = out.certificate as Json;
      expect(c).toMatchObject({ status: "valid", commonName: name, dnsNames: [name], identity: `id-${name}`, nodeId: "node-1", roles: ["tenant:blue"], provisioner: "admin", profile: "client", keyAlgorithm: expect.stringMatching(/P-256/) });
      expect(c.serial).toMatch(/^[0-9a-f]{32}$/);
      const notBefore = Date.parse(c.notBefore);
      expect(Date.parse(c.notAfter) - notBefore).toBeGreaterThan(3600_000 - 1); // backdated notBefore
      const x = new X509Certificate(out.pem);
      expect(x.serialNumber.toLowerCase()).toBe(c.serial);
      expect(x.subject).toBe(`CN=${name}`);
      expect(x.fingerprint256.replace(/:/g, "").toLowerCase()).toBe(c.fingerprint);

      const chain = (out.chainPem as string).match(PEM_CERT) ?? [];
      expect(chain).toHaveLength(2);
      expect(chain[0]).toBe(out.pem);
      expect(chain[1]).toBe(readFileSync(join(ts.home, "ca", "intermediate.pem"), "utf8"));
      const v = openssl(["verify", "-purpose", "sslclient", "-CAfile", "root.pem", "-untrusted", "chain.pem", "leaf.pem"], {
        "root.pem": ts.rootPem,
        "chain.pem": out.chainPem,
        "leaf.pem": out.pem,
      });
      expect(v.out).toContain("leaf.pem: OK");

      const got = expectStatus(await call(ts, "GET", `/admin/v1/certificates/${c.serial}`), 200);
      expect(got).toMatchObject({ ...c, pem: out.pem });
      // Serials are accepted as printed by other tools: upper case, colons.
      const colons = (c.serial as string).toUpperCase().match(/../g)!.join(":");
      expect(expectStatus(await call(ts, "GET", `/admin/v1/certificates/${colons}`), 200).serial).toBe(c.serial);
      const pem = await call(ts, "GET", `/admin/v1/certificates/${c.serial}?format=pem`);
      expect(pem.statusCode).toBe(200);
      expect(pem.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
      expect(pem.body).toBe(out.pem);
    });

    it("lists with each filter", async () => {
      const tag = suffix();
      expectStatus(await putProvisioner(`lister-${tag}`, { type: "admin", profile: "client", maxLifetimeSeconds: 7 * 86400 }), 201);
      const short = await issue({ csr: csrFor(`short-${tag}.example.test`), identity: `alice-${tag}`, nodeId: `node-a-${tag}`, lifetimeSeconds: 3600 });
      const long = await issue({
        csr: csrFor(`long-${tag}.example.test`),
        identity: `bob-${tag}`,
        nodeId: `node-b-${tag}`,
        spiffeId: `spiffe://test.example/ns/${tag}/sa/bob`,
        provisioner: `lister-${tag}`,
        lifetimeSeconds: 5 * 86400,
      });
      const revoked = await issue({ csr: csrFor(`gone-${tag}.example.test`), identity: `alice-${tag}` });
      expectStatus(await call(ts, "POST", `/admin/v1/certificates/${revoked.certificate.serial}/revoke`, { body: { reason: "superseded" } }), 200);

      const serials = async (query: string): Promise<string[]> => {
        const page = expectStatus(await call(ts, "GET", `/admin/v1/certificates?limit=500&${query}`), 200);
        expect(page.next).toBeNull();
        return (page.items as Json[]).map((i) => i.serial as string);
      };
      const [s, l, r] = [short.certificate.serial, long.certificate.serial, revoked.certificate.serial];
      expect(await serials(`identity=alice-${tag}`)).toEqual([r, s]);
      expect(await serials(`identity=alice-${tag}&status=valid`)).toEqual([s]);
      expect(await serials(`identity=alice-${tag}&status=revoked`)).toEqual([r]);
      expect(await serials(`node=node-b-${tag}`)).toEqual([l]);
      expect(await serials(`spiffeId=${encodeURIComponent(`spiffe://test.example/ns/${tag}/sa/bob`)}`)).toEqual([l]);
      expect(await serials(`provisioner=lister-${tag}`)).toEqual([l]);
      expect(await serials(`dnsName=SHORT-${tag}.example.test`)).toEqual([s]);
      expect(await serials(`commonName=long-${tag}.example.test`)).toEqual([l]);

      // The expiry window: the 1 h certificate ends before now+2h, the 5 d one after now+4d.
      const twoHours = new Date(Date.now() + 2 * 3600_000).toISOString();
      const fourDays = new Date(Date.now() + 4 * 86400_000).toISOString();
      const soon = await serials(`expiresBefore=${twoHours}`);
      expect(soon).toContain(s);
      expect(soon).not.toContain(l);
      const late = await serials(`expiresAfter=${fourDays}`);
      expect(late).toContain(l);
      expect(late).not.toContain(s);
      expect(await serials(`expiresAfter=${fourDays}&node=node-a-${tag}`)).toEqual([]);
      const items = expectStatus(await call(ts, "GET", `/admin/v1/certificates?limit=500&expiresBefore=${twoHours}`), 200).items as Json[];
      for (const i of items) expect(Date.parse(i.notAfter)).toBeLessThan(Date.parse(twoHours));
      // List items carry no PEM; the single-certificate view does.
      expect(items[0]).not.toHaveProperty("pem");

      expectError(await call(ts, "GET", "/admin/v1/certificates?status=bogus"), 400, "bad_request");
      expectError(await call(ts, "GET", "/admin/v1/certificates?expiresBefore=tomorrow"), 400, "bad_request");
      expectError(await call(ts, "GET", "/admin/v1/certificates?limit=501"), 400, "bad_request");
      expectError(await call(ts, "GET", "/admin/v1/certificates?cursor=not-a-cursor"), 400, "bad_request");
      expectError(await call(ts, "GET", "/admin/v1/certificates?colour=blue"), 400, "bad_request");
    });

    it("pages through next cursors, newest first, without duplicates or gaps", async () => {
      const identity = `pager-${suffix()}`;
      const issued: string[] = [];
      for (let i = 0; i < 7; i++) issued.push((await issue({ csr: csrFor(`p${i}.${identity}.example.test`), identity })).certificate.serial);
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 10; pages++) {
        const q: string = `/admin/v1/certificates?identity=${identity}&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
        const page = expectStatus(await call(ts, "GET", q), 200);
        sizes.push(page.items.length);
        seen.push(...(page.items as Json[]).map((c) => c.serial as string));
        cursor = page.next as string | null;
        if (cursor === null) break;
      }
      expect(cursor).toBeNull();
      expect(sizes).toEqual([3, 3, 1]);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual([...issued].reverse());
    });
  });

  describe("bad input", () => {
    it("answers each with a 4xx and its stable code, and records no certificate for any of them", async () => {
      const prisma = ts.server.services.db.prisma;
      const rowsBefore = await prisma.certificate.count();
      let successes = 0;
      const ok = async (body: Json) => {
        const out = await issue(body);
        successes++;
        return out;
      };
      const post = (body: Json) => call(ts, "POST", "/admin/v1/certificates", { body });
      const good = makeCsr({ cn: "good.example.test", sans: { dns: ["good.example.test"] } });

      // Malformed PEM, and something that is not a CSR at all.
      expectError(await post({ csr: "-----BEGIN CERTIFICATE REQUEST-----\nnot*base64\n-----END CERTIFICATE REQUEST-----\n" }), 400, "bad_csr");
      expectError(await post({ csr: "hello" }), 400, "bad_csr");
      expectError(await post({ csr: ts.rootPem }), 400, "bad_csr");

      // A flipped byte in the signature: proof of possession fails.
      const flipped = Buffer.from(good.der);
      flipped[flipped.length - 1]! ^= 0x01;
      expectError(await post({ csr: flipped.toString("base64") }), 400, "bad_csr_signature");
      await ok({ csr: good.der.toString("base64") }); // the same CSR unflipped, as base64 DER

      const weak = expectError(await post({ csr: opensslCsr(["-newkey", "rsa:1024"], "/CN=weak.example.test") }), 403, "forbidden_key");
      expect(weak.message).toMatch(/RSA/);

      // A name outside a provisioner's policy; the message names the offending name.
      const restricted = `restricted-${suffix()}`;
      expectStatus(await putProvisioner(restricted, { type: "admin", policy: { allow: { dns: [".allowed.test"] } } }), 201);
      const refused = expectError(
        await post({ csr: makeCsr({ sans: { dns: ["ok.allowed.test", "evil.example.com"] } }).pem, provisioner: restricted }),
        403,
        "forbidden_name",
      );
      expect(refused.message).toContain('"evil.example.com"');
      expect(refused.detail).toMatchObject({ name: "evil.example.com", kind: "dns" });
      await ok({ csr: makeCsr({ sans: { dns: ["ok.allowed.test"] } }).pem, provisioner: restricted });

      expectError(await post({ csr: good.pem, provisioner: "no-such-provisioner" }), 404, "unknown_provisioner");
      const unknownField = expectError(await post({ csr: good.pem, colour: "blue" }), 400, "bad_request");
      expect(unknownField.message).toContain('unknown field "colour"');
      expectError(await post({}), 400, "bad_request");
      expectError(await post({ csr: good.pem, roles: ["has space"] }), 400, "bad_request");

      const asXml = await call(ts, "POST", "/admin/v1/certificates", { payload: "<csr/>", headers: { "content-type": "application/xml" } });
      expectError(asXml, 415, "unsupported_media_type");
      const asForm = await call(ts, "POST", "/admin/v1/certificates", { payload: "csr=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
      expectError(asForm, 415, "unsupported_media_type");

      const huge = JSON.stringify({ csr: "A".repeat(70 * 1024) });
      expectError(await call(ts, "POST", "/admin/v1/certificates", { payload: huge, headers: { "content-type": "application/json" } }), 413, "body_too_large");
      expectError(await call(ts, "POST", "/admin/v1/certificates", { payload: '{"csr": "x",', headers: { "content-type": "application/json" } }), 400, "bad_request");
      expectError(await call(ts, "POST", "/admin/v1/certificates", { payload: "", headers: { "content-type": "application/json" } }), 400, "bad_request");

      const tooShort = expectError(await post({ csr: good.pem, lifetimeSeconds: 10 }), 400, "bad_lifetime");
      expect(tooShort.message).toMatch(/at least 300s/);
      expectError(await post({ csr: good.pem, lifetimeSeconds: 365 * 86400 }), 400, "bad_lifetime");
      expectError(await post({ csr: good.pem, profile: "intermediate" }), 403, "forbidden_profile");

      expectError(await call(ts, "GET", "/admin/v1/certificates/not-hex"), 400, "bad_serial");
      expectError(await call(ts, "GET", `/admin/v1/certificates/${"ab".repeat(21)}`), 400, "bad_serial");
      expectError(await call(ts, "POST", "/admin/v1/certificates/xyz/revoke", { body: {} }), 400, "bad_serial");
      expectError(await call(ts, "GET", "/admin/v1/certificates/0123456789abcdef"), 404, "unknown_certificate");
      expectError(await call(ts, "POST", "/admin/v1/certificates/0123456789abcdef/revoke", { body: {} }), 404, "unknown_certificate");

      const victim = (await ok({ csr: makeCsr({ cn: "victim.example.test" }).pem })).certificate.serial as string;
      expectError(await call(ts, "POST", `/admin/v1/certificates/${victim}/revoke`, { body: { reason: "because" } }), 400, "bad_revocation_reason");
      expectError(await call(ts, "POST", `/admin/v1/certificates/${victim}/revoke`, { body: { reason: "certificateHold" } }), 400, "bad_revocation_reason");
      expectError(await call(ts, "POST", `/admin/v1/certificates/${victim}/revoke`, { body: { reason: 99 } }), 400, "bad_revocation_reason");
      expect(expectStatus(await call(ts, "GET", `/admin/v1/certificates/${victim}`), 200).status).toBe("valid");
      const done = expectStatus(await call(ts, "POST", `/admin/v1/certificates/${victim}/revoke`, { body: { reason: "keyCompromise" } }), 200);
      expect(done).toMatchObject({ serial: victim, status: "revoked", revocationReason: "keyCompromise", revokedAt: expect.any(String) });
      const again = expectError(await call(ts, "POST", `/admin/v1/certificates/${victim}/revoke`, { body: { reason: "superseded" } }), 409, "already_revoked");
      expect(again.message).toContain(victim);
      expect(expectStatus(await call(ts, "GET", `/admin/v1/certificates/${victim}`), 200).revocationReason).toBe("keyCompromise");

      // Nothing half-recorded: one row per successful issuance, none pending or failed.
      expect(await prisma.certificate.count()).toBe(rowsBefore + successes);
      expect(await prisma.certificate.count({ where: { status: { in: ["pending", "failed"] } } })).toBe(0);
      expect(successes).toBe(3);
    });
  });

  describe("provisioners", () => {
    const definition = { type: "admin", profile: "client", defaultLifetimeSeconds: 3600, maxLifetimeSeconds: 86400, policy: {}, options: { allowedProfiles: ["server"] }, enabled: true };

    it("PUT creates (201), repeats without a change (200, same version), replaces (200, version+1); DELETE removes", async () => {
      const name = `team-${suffix()}`;
      const created = expectStatus(await putProvisioner(name, definition), 201);
      expect(created).toMatchObject({ ...definition, name, version: 1 });
      const same = expectStatus(await putProvisioner(name, definition), 200);
      expect(same.version).toBe(1);
      expect(same.updatedAt).toBe(created.updatedAt);
      const changed = expectStatus(await putProvisioner(name, { ...definition, maxLifetimeSeconds: 2 * 86400 }), 200);
      expect(changed).toMatchObject({ id: created.id, version: 2, maxLifetimeSeconds: 2 * 86400 });
      expect(expectStatus(await call(ts, "GET", `/admin/v1/provisioners/${name}`), 200)).toMatchObject({ version: 2, maxLifetimeSeconds: 2 * 86400 });
      const listed = expectStatus(await call(ts, "GET", "/admin/v1/provisioners"), 200).items as Json[];
      expect(listed.map((p) => p.name)).toEqual(expect.arrayContaining(["admin", "signet-system", name]));

      // Its type cannot change.
      expectError(await putProvisioner(name, { ...definition, type: "acme" }), 409, "conflict");
      expect(expectStatus(await call(ts, "GET", `/admin/v1/provisioners/${name}`), 200)).toMatchObject({ type: "admin", version: 2 });

      expectStatus(await call(ts, "DELETE", `/admin/v1/provisioners/${name}`), 204);
      expectError(await call(ts, "GET", `/admin/v1/provisioners/${name}`), 404, "unknown_provisioner");
      expectError(await call(ts, "DELETE", `/admin/v1/provisioners/${name}`), 404, "unknown_provisioner");
      expectError(await call(ts, "POST", "/admin/v1/certificates", { body: { csr: csrFor("x.example.test"), provisioner: name } }), 404, "unknown_provisioner");

      // One event per change; the unchanged PUT and the refused type change are none.
      const events = await auditEvents(`target=${name}`);
      expect(events.map((e) => e.event)).toEqual(["provisioner.created", "provisioner.updated", "provisioner.deleted"]);
      expect(events[1]!.data).toMatchObject({ changed: ["maxLifetimeSeconds"], version: 2 });
      expect(events.every((e) => e.actor.startsWith("admin-token:"))).toBe(true);
    });

    it.each([
      ["a bad name", "Bad_Name", {}, "bad_provisioner", "name"],
      ["a name too long", "a".repeat(64), {}, "bad_request", "params/name"],
      ["default above max", "ok-name", { defaultLifetimeSeconds: 7200, maxLifetimeSeconds: 3600 }, "bad_provisioner", "defaultLifetimeSeconds"],
      ["a default below 300 s", "ok-name", { defaultLifetimeSeconds: 299 }, "bad_provisioner", "defaultLifetimeSeconds"],
      ["a maximum below 300 s", "ok-name", { defaultLifetimeSeconds: 300, maxLifetimeSeconds: 120 }, "bad_provisioner", "maxLifetimeSeconds"],
      ["a maximum above the authority's", "ok-name", { maxLifetimeSeconds: 400 * 86400 }, "bad_provisioner", "maxLifetimeSeconds"],
      ["an unknown profile", "ok-name", { profile: "bogus" }, "bad_request", "body/profile"],
      ["an unknown allowed profile", "ok-name", { options: { allowedProfiles: ["bogus"] } }, "bad_provisioner", "options.allowedProfiles"],
      ["a bad policy entry", "ok-name", { policy: { allow: { dns: ["bad..name"] } } }, "bad_policy", "allow.dns[0]"],
      ["an unknown policy kind", "ok-name", { policy: { allow: { fqdn: ["x.test"] } } }, "bad_request", 'body/policy/allow must NOT have additional properties (unknown field "fqdn")'],
      ["an unknown field", "ok-name", { colour: "blue" }, "bad_request", 'unknown field "colour"'],
    ])("refuses a definition with %s, naming the field", async (_what, name, extra, code, field) => {
      const res = await putProvisioner(name, { type: "admin", ...extra });
      const body = expectError(res, 400, code);
      expect(body.message).toContain(field);
      if (code !== "bad_request") expect(body.detail?.path).toBe(field);
      expectError(await call(ts, "GET", "/admin/v1/provisioners/ok-name"), 404, "unknown_provisioner");
    });

    it("refuses to issue through an acme provisioner from the admin API", async () => {
      const name = `acme-${suffix()}`;
      expectStatus(await putProvisioner(name, { type: "acme", profile: "server" }), 201);
      const body = expectError(await call(ts, "POST", "/admin/v1/certificates", { body: { csr: csrFor("acme.example.test"), provisioner: name } }), 403, "forbidden");
      expect(body.message).toContain(name);
      expect(await ts.server.services.db.prisma.certificate.count({ where: { provisionerName: name } })).toBe(0);
    });

    it("refuses to issue through a disabled provisioner, and issues again once it is enabled", async () => {
      const name = `off-${suffix()}`;
      expectStatus(await putProvisioner(name, { type: "admin", enabled: false }), 201);
      expectError(await call(ts, "POST", "/admin/v1/certificates", { body: { csr: csrFor("off.example.test"), provisioner: name } }), 403, "provisioner_disabled");
      expectStatus(await putProvisioner(name, { type: "admin", enabled: true }), 200);
      expect((await issue({ csr: csrFor("on.example.test"), provisioner: name })).certificate.provisioner).toBe(name);
    });
  });

  describe("name policies", () => {
    it("an authority-wide deny rule refuses issuance of a denied name", async () => {
      const before = expectStatus(await call(ts, "GET", "/admin/v1/policy"), 200);
      try {
        const put = expectStatus(await call(ts, "PUT", "/admin/v1/policy", { body: { deny: { dns: [".denied.test"] } } }), 200);
        expect(put).toEqual({ policy: { deny: { dns: [".denied.test"] } }, version: before.version + 1 });
        expect(expectStatus(await call(ts, "GET", "/admin/v1/policy"), 200)).toEqual(put);
        const refused = expectError(await call(ts, "POST", "/admin/v1/certificates", { body: { csr: csrFor("db.denied.test") } }), 403, "forbidden_name");
        expect(refused.message).toContain('"db.denied.test"');
        expect(refused.message).toMatch(/authority name policy/);
        // Every provisioner is bound by it, not only the admin one.
        const other = `pol-${suffix()}`;
        expectStatus(await putProvisioner(other, { type: "admin" }), 201);
        expectError(await call(ts, "POST", "/admin/v1/certificates", { body: { csr: csrFor("x.denied.test"), provisioner: other } }), 403, "forbidden_name");
        await issue({ csr: csrFor("db.allowed.test") });
        const events = await auditEvents("event=policy.updated&target=policy:authority");
        expect(events.at(-1)!.data).toMatchObject({ after: { deny: { dns: [".denied.test"] } }, version: put.version });
      } finally {
        expectStatus(await call(ts, "PUT", "/admin/v1/policy", { body: {} }), 200);
      }
      await issue({ csr: csrFor("db2.denied.test") });
    });

    it("a provisioner's policy is replaced on its own and bumps its version", async () => {
      const name = `scoped-${suffix()}`;
      expectStatus(await putProvisioner(name, { type: "admin" }), 201);
      const put = expectStatus(await call(ts, "PUT", `/admin/v1/provisioners/${name}/policy`, { body: { allow: { dns: ["*.team.test"] } } }), 200);
      expect(put).toEqual({ policy: { allow: { dns: ["*.team.test"] } }, version: 2 });
      expect(expectStatus(await call(ts, "GET", `/admin/v1/provisioners/${name}/policy`), 200)).toEqual(put);
      expect(expectStatus(await call(ts, "GET", `/admin/v1/provisioners/${name}`), 200)).toMatchObject({ type: "admin", version: 2, policy: put.policy });
      await issue({ csr: csrFor("api.team.test"), provisioner: name });
      const refused = expectError(await call(ts, "POST", "/admin/v1/certificates", { body: { csr: csrFor("api.other.test"), provisioner: name } }), 403, "forbidden_name");
      expect(refused.message).toContain(`provisioner ${name}`);
      // The admin provisioner is untouched.
      await issue({ csr: csrFor("api.other.test") });
      expectError(await call(ts, "PUT", "/admin/v1/provisioners/no-such-one/policy", { body: {} }), 404, "unknown_provisioner");
    });

    it.each([
      ["/admin/v1/policy", { deny: { ip: ["10.0.0.1/8"] } }, "bad_policy", "deny.ip[0]"],
      ["/admin/v1/policy", { allow: { uri: ["not a uri"] } }, "bad_policy", "allow.uri[0]"],
      ["/admin/v1/policy", { allow: { dns: ["ok.test", {}] } }, "bad_request", "body/allow/dns/1"],
      ["/admin/v1/policy", { deny: { host: ["x"] } }, "bad_request", 'body/deny must NOT have additional properties (unknown field "host")'],
      ["/admin/v1/provisioners/admin/policy", { allow: { email: ["@@"] } }, "bad_policy", "allow.email[0]"],
    ])("PUT %s refuses %j, naming the path", async (url, body, code, path) => {
      const before = expectStatus(await call(ts, "GET", url), 200);
      const err = expectError(await call(ts, "PUT", url, { body }), 400, code);
      expect(err.message).toContain(path);
      if (code === "bad_policy") expect(err.detail?.path).toBe(path);
      expect(expectStatus(await call(ts, "GET", url), 200)).toEqual(before);
    });
  });

  describe("audit", () => {
    async function allEvents(): Promise<Json[]> {
      const out: Json[] = [];
      let after = "0";
      for (let i = 0; i < 100; i++) {
        const page = await auditEvents(`after=${after}`);
        out.push(...page);
        if (page.length < 1000) return out;
        after = page.at(-1)!.seq as string;
      }
      throw new Error("more than 100 pages of audit events");
    }

    it("verifies the chain, and the events carry prevHash/hash links that recompute", async () => {
      await issue({ csr: csrFor(`audited-${suffix()}.example.test`) });
      const count = await ts.server.services.db.prisma.auditEvent.count();
      const verdict = expectStatus(await call(ts, "GET", "/admin/v1/audit/verify"), 200);
      expect(verdict).toEqual({ ok: true, checked: count });

      const events = await allEvents();
      expect(events).toHaveLength(count);
      let prev = GENESIS_HASH;
      events.forEach((e, i) => {
        expect(e.seq).toBe(String(i + 1));
        expect(e.prevHash).toBe(prev);
        expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
        expect(e.hash).toBe(auditEventHash(prev, BigInt(e.seq), new Date(e.time), { event: e.event, actor: e.actor, target: e.target, data: e.data }));
        prev = e.hash;
      });
      const kinds = new Set(events.map((e) => e.event));
      for (const k of ["ca.initialized", "provisioner.created", "admin_token.created", "certificate.intent", "certificate.issued"]) expect(kinds).toContain(k);
      expectError(await call(ts, "GET", "/admin/v1/audit/events?after=-1"), 400, "bad_request");
    });

    it("detects an event changed in the database", async () => {
      const prisma = ts.server.services.db.prisma;
      const victim = await prisma.auditEvent.findFirstOrThrow({ where: { event: "certificate.issued" }, orderBy: { seq: "asc" } });
      await prisma.auditEvent.update({ where: { seq: victim.seq }, data: { actor: "someone-else" } });
      try {
        const verdict = expectStatus(await call(ts, "GET", "/admin/v1/audit/verify"), 200);
        expect(verdict).toMatchObject({ ok: false, problem: { seq: victim.seq.toString(), reason: expect.stringMatching(/changed/) } });
        expect(verdict.checked).toBe(Number(victim.seq) - 1);
      } finally {
        await prisma.auditEvent.update({ where: { seq: victim.seq }, data: { actor: victim.actor } });
      }
      expect(expectStatus(await call(ts, "GET", "/admin/v1/audit/verify"), 200).ok).toBe(true);
    });
  });

  describe("OpenAPI document", () => {
    it("is OpenAPI 3, lists every area of the API, and gives every operation a response schema", async () => {
      const doc = await openapi();
      expect(doc.openapi).toMatch(/^3\./);
      const paths = Object.keys(doc.paths as Json);
      for (const p of [
        "/admin/v1/certificates",
        "/admin/v1/certificates/{serial}",
        "/admin/v1/certificates/{serial}/revoke",
        "/admin/v1/provisioners",
        "/admin/v1/provisioners/{name}",
        "/admin/v1/policy",
        "/admin/v1/provisioners/{name}/policy",
        "/admin/v1/audit/events",
        "/admin/v1/audit/verify",
        "/admin/v1/admin-tokens",
        "/admin/v1/admin-tokens/{id}",
        "/admin/v1/revocations",
        "/admin/v1/blocks",
        "/admin/v1/blocks/{kind}",
        "/revocations",
        "/revocations/stream",
      ]) {
        expect(paths).toContain(p);
      }
      // Health and metrics are not part of the admin API's description; the revocation feed is.
      expect(paths.filter((p) => !p.startsWith("/admin/v1/") && !p.startsWith("/revocations"))).toEqual([]);
      let operations = 0;
      for (const [path, ops] of Object.entries(doc.paths as Record<string, Json>)) {
        for (const [method, op] of Object.entries(ops as Record<string, Json>)) {
          operations++;
          const where = `${method.toUpperCase()} ${path}`;
          const responses = op.responses as Record<string, Json>;
          const success = Object.keys(responses).filter((s) => /^2\d\d$/.test(s));
          expect(success, where).not.toEqual([]);
          for (const s of success) {
            if (s === "204") expect(responses[s]!.content, where).toBeUndefined();
            else if (path === "/revocations/stream") expect(responses[s]!.content?.["text/event-stream"]?.schema?.type, where).toBe("string");
            else expect(responses[s]!.content?.["application/json"]?.schema?.type, `${where} ${s}`).toBe("object");
          }
          expect(responses["401"]?.content?.["application/json"]?.schema?.required, where).toEqual(["statusCode", "code", "error", "message"]);
        }
      }
      expect(operations).toBeGreaterThanOrEqual(18);
    });
  });
});
