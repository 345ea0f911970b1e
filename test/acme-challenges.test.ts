// ACME end to end over HTTPS against a running Signet, with a client that shows every status and
// problem: dns-01, tls-alpn-01 (RFC 8737), IP identifiers (RFC 8738), wildcards, §8.2 retries,
// authorization deactivation, renewal information and `replaces` (RFC 9773), External Account
// Binding, rate limits, certificate download and revocation by the certificate's key.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { execFile } from "node:child_process";
import { createHash, createPrivateKey, randomBytes, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer, createSecureContext, type SecureContext, type Server as TlsServer } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certIdOf } from "../acme/index.js";
import { parseCertificate, pemDecode } from "../ca/x509/index.js";
import { accountKeyFrom, AcmeFlow, dns01Value, eabJws, newAccountKey, pemCertificates, type Authz, type Challenge, type Order } from "./support/acme-flow.js";
import { admin, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { dbTargets } from "./support/databases.js";
import { fetchRaw } from "./support/server.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const urn = (type: string) => `urn:ietf:params:acme:error:${type}`;
const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";
const dns = (value: string) => ({ type: "dns" as const, value });

async function putProvisioner(bed: AcmeTestbed, name: string, options: Record<string, unknown>): Promise<void> {
  const r = await admin(bed.signet, "PUT", `/admin/v1/provisioners/${name}`, { type: "acme", profile: "client-server", options });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

/** RFC 8737 §3: a self-signed certificate naming only `name`, with (or without) the critical
 * acmeIdentifier extension holding the DER OCTET STRING of SHA-256(key authorization). */
async function tlsAlpnContext(
  name: string,
  keyAuthorization: string | null,
  opts: { sanType?: "dns" | "ip"; extraSan?: string; critical?: boolean } = {},
): Promise<SecureContext> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const sans = [{ type: opts.sanType ?? "dns", value: name } as const, ...(opts.extraSan ? [{ type: "dns", value: opts.extraSan } as const] : [])];
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension(sans)];
  if (keyAuthorization !== null) {
    const digest = createHash("sha256").update(keyAuthorization).digest();
    extensions.push(new x509.Extension(ACME_IDENTIFIER_OID, opts.critical ?? true, Buffer.concat([Buffer.from([0x04, digest.length]), digest])));
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString("hex").replace(/^./, "1"),
    name: "CN=acme-tls-alpn-01",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
    keys,
    signingAlgorithm: alg,
    extensions,
  });
  const key = createPrivateKey({ key: Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)), format: "der", type: "pkcs8" });
  return createSecureContext({ cert: cert.toString("pem"), key: key.export({ format: "pem", type: "pkcs8" }) });
}

/** RFC 9773 §4.1, built here from the certificate: base64url(AKI keyIdentifier) "." base64url(serial DER INTEGER content). */
function ariCertId(leafPem: string): string {
  const c = parseCertificate(leafPem);
  let serial = Buffer.from(c.serialHex.length % 2 ? `0${c.serialHex}` : c.serialHex, "hex");
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${c.authorityKeyId!.toString("base64url")}.${serial.toString("base64url")}`;
}

const derOf = (pem: string) => pemDecode(pem, ["CERTIFICATE"])[0]!;

/** openssl in a temporary directory holding `files`, without blocking the event loop: the Signet
 * under test runs in this process and must answer while openssl waits (OCSP). */
function openssl(args: string[], files: Record<string, string>): Promise<{ code: number; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "signet-acme-ossl-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return new Promise((resolve) => {
    execFile("openssl", args, { cwd: dir, timeout: 20_000, encoding: "utf8" }, (err, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

for (const target of dbTargets()) {
  describe(`ACME challenges and extensions against Signet (${target.name})`, () => {
    let bed: AcmeTestbed;
    let alpn: TlsServer;
    /** SNI → the context the tls-alpn-01 responder presents for it. */
    const alpnContexts = new Map<string, SecureContext>();
    /** Every SNI the tls-alpn-01 responder was asked for. */
    const sniSeen: string[] = [];
    let seq = 0;
    const uniq = (label: string) => `${label}-${++seq}.acme.test`;
    const open = (provisioner = "acme", key = newAccountKey()) => AcmeFlow.open(bed.directory(provisioner), bed.signet.rootPem, key);
    const account = async (provisioner = "acme") => (await open(provisioner)).register();
    const http01 = (c: Challenge, ka: string) => void bed.http01.set(c.token, ka);
    const dns01 = (_c: Challenge, ka: string, a: Authz) => bed.dns.setTxt(`_acme-challenge.${a.identifier.value}`, [dns01Value(ka)]);

    beforeAll(async () => {
      bed = await startAcmeTestbed({ databaseUrl: await target.create() });
      await putProvisioner(bed, "wild", { wildcards: true });
      await putProvisioner(bed, "eab", { requireEab: true });
      await putProvisioner(bed, "limited", { rateLimits: { orders: 2, windowSeconds: 3600 } });
      await putProvisioner(bed, "fragile", { rateLimits: { failedValidations: 1, windowSeconds: 3600 } });
      alpn = createTlsServer({
        ALPNProtocols: ["acme-tls/1"],
        SNICallback: (servername, cb) => {
          sniSeen.push(servername);
          cb(null, alpnContexts.get(servername));
        },
      });
      await new Promise<void>((resolve) => alpn.listen(bed.tlsAlpnPort, "127.0.0.1", resolve));
    }, 120_000);
    afterAll(async () => {
      await new Promise<void>((resolve) => (alpn ? alpn.close(() => resolve()) : resolve()));
      await bed?.close();
      await target.dropAll();
    });

    describe("dns-01 (RFC 8555 §8.4)", () => {
      it("a TXT record at _acme-challenge holding base64url(SHA-256(key authorization)) validates, and the order issues", async () => {
        const a = await account();
        const name = uniq("dns-ok");
        const { leafPem, order } = await a.issue([dns(name)], "dns-01", dns01);
        expect(order.status).toBe("valid");
        expect(parseCertificate(leafPem).sans.dns).toEqual([name]);
        expect(bed.dns.queries.some((q) => q.name === `_acme-challenge.${name}` && q.type === "TXT")).toBe(true);
      });

      it("a wrong TXT record: challenge invalid with incorrectResponse, authorization invalid, order invalid with an error", async () => {
        const a = await account();
        const name = uniq("dns-bad");
        const created = await a.newOrder([dns(name)]);
        expect(created.status).toBe(201);
        const [authz] = await a.authzs(created.body);
        const challenge = authz!.challenges.find((c) => c.type === "dns-01")!;
        bed.dns.setTxt(`_acme-challenge.${name}`, [dns01Value("not-the-key-authorization"), "some unrelated text"]);
        expect((await a.post(challenge.url, {})).status).toBe(200);
        const settled = await a.settleAuthz(authz!.url);
        expect(settled.status).toBe("invalid");
        const failed = settled.challenges.find((c) => c.type === "dns-01")!;
        expect(failed.status).toBe("invalid");
        expect(failed.error).toMatchObject({ type: urn("incorrectResponse"), identifier: { type: "dns", value: name } });
        const order = (await a.fetch<Order>(created.location!)).body;
        expect(order.status).toBe("invalid");
        expect(order.error?.type).toBe(urn("incorrectResponse"));
        // An invalid order cannot be finalized.
        const fin = await a.post(order.finalize, { csr: Buffer.from("x").toString("base64url") });
        expect(fin.status).toBe(403);
        expect(fin.body).toMatchObject({ type: urn("orderNotReady") });
      });
    });

    describe("tls-alpn-01 (RFC 8737)", () => {
      it("a certificate naming the identifier with the critical acmeIdentifier extension validates", async () => {
        const a = await account();
        const name = uniq("alpn-ok");
        const { leafPem } = await a.issue([dns(name)], "tls-alpn-01", async (_c, ka) => void alpnContexts.set(name, await tlsAlpnContext(name, ka)));
        expect(parseCertificate(leafPem).sans.dns).toEqual([name]);
      });

      it("a certificate without the acmeIdentifier extension is incorrectResponse", async () => {
        const a = await account();
        const name = uniq("alpn-bare");
        alpnContexts.set(name, await tlsAlpnContext(name, null));
        const created = await a.newOrder([dns(name)]);
        const [authz] = await a.authzs(created.body);
        const challenge = authz!.challenges.find((c) => c.type === "tls-alpn-01")!;
        expect((await a.post(challenge.url, {})).status).toBe(200);
        const settled = await a.settleAuthz(authz!.url);
        expect(settled.status).toBe("invalid");
        expect(settled.challenges.find((c) => c.type === "tls-alpn-01")).toMatchObject({ status: "invalid", error: { type: urn("incorrectResponse") } });
        expect(settled.challenges.find((c) => c.type === "tls-alpn-01")!.error!.detail).toMatch(/acmeIdentifier/);
      });

      for (const [what, opts] of [
        ["a non-critical acmeIdentifier extension", { critical: false }],
        ["a certificate naming a second name", { extraSan: "other.acme.test" }],
      ] as const) {
        it(`${what} is incorrectResponse`, async () => {
          const a = await account();
          const name = uniq("alpn-wrong");
          const created = await a.newOrder([dns(name)]);
          const [authz] = await a.authzs(created.body);
          const challenge = authz!.challenges.find((c) => c.type === "tls-alpn-01")!;
          alpnContexts.set(name, await tlsAlpnContext(name, `${challenge.token}.${a.key.thumbprint}`, opts));
          expect((await a.post(challenge.url, {})).status).toBe(200);
          const settled = await a.settleAuthz(authz!.url);
          expect(settled.status).toBe("invalid");
          expect(settled.challenges.find((c) => c.type === "tls-alpn-01")).toMatchObject({ status: "invalid", error: { type: urn("incorrectResponse") } });
        });
      }

      it("an IP identifier: SNI is the reverse name (RFC 8738 §6) and the certificate names the address", async () => {
        const a = await account();
        const { leafPem } = await a.issue([{ type: "ip", value: "127.0.0.1" }], "tls-alpn-01", async (_c, ka) =>
          void alpnContexts.set("1.0.0.127.in-addr.arpa", await tlsAlpnContext("127.0.0.1", ka, { sanType: "ip" })),
        );
        expect(parseCertificate(leafPem).sans.ip).toEqual(["127.0.0.1"]);
      });

      it("an IPv4-mapped IPv6 identifier: SNI is its ip6.arpa name", async () => {
        const a = await account();
        const ip = "::ffff:127.0.0.1";
        const sni = `1.0.0.0.0.0.f.7${".f".repeat(4)}${".0".repeat(20)}.ip6.arpa`;
        const created = await a.newOrder([{ type: "ip", value: ip }]);
        expect(created.status, created.text).toBe(201);
        const [authz] = await a.authzs(created.body);
        const challenge = authz!.challenges.find((c) => c.type === "tls-alpn-01")!;
        // @peculiar/x509 misreads the dotted tail of "::ffff:127.0.0.1"; the same address in hex groups.
        alpnContexts.set(sni, await tlsAlpnContext("0:0:0:0:0:ffff:7f00:1", `${challenge.token}.${a.key.thumbprint}`, { sanType: "ip" }));
        const seenBefore = sniSeen.length;
        expect((await a.post(challenge.url, {})).status).toBe(200);
        const settled = await a.settleAuthz(authz!.url);
        expect(sniSeen.slice(seenBefore)).toEqual([sni]);
        expect(settled.challenges.find((c) => c.type === "tls-alpn-01")?.error).toBeUndefined();
        expect(settled.status).toBe("valid");
      });
    });

    describe("IP identifiers (RFC 8738)", () => {
      it("127.0.0.1 by http-01: no dns-01 offered, and the certificate carries the IP SAN", async () => {
        const a = await account();
        const created = await a.newOrder([{ type: "ip", value: "127.0.0.1" }]);
        expect(created.status).toBe(201);
        const [authz] = await a.authzs(created.body);
        expect(authz!.identifier).toEqual({ type: "ip", value: "127.0.0.1" });
        expect(authz!.challenges.map((c) => c.type).sort()).toEqual(["http-01", "tls-alpn-01"]);
        const { leafPem } = await a.issue([{ type: "ip", value: "127.0.0.1" }], "http-01", http01);
        const cert = parseCertificate(leafPem);
        expect(cert.sans.ip).toEqual(["127.0.0.1"]);
        expect(cert.sans.dns).toEqual([]);
        const text = await openssl(["x509", "-in", "leaf.pem", "-noout", "-text"], { "leaf.pem": leafPem });
        expect(text.out).toMatch(/IP Address:127\.0\.0\.1/);
      });
    });

    describe("wildcards", () => {
      it("an ACME provisioner without wildcards refuses *.name as rejectedIdentifier", async () => {
        const a = await account();
        const r = await a.newOrder([dns("*.nowild.test")]);
        expect(r.status).toBe(400);
        expect(r.body).toMatchObject({ type: urn("rejectedIdentifier") });
      });

      it("with options.wildcards: *.wild.test offers only dns-01, validated at _acme-challenge.wild.test", async () => {
        const a = await account("wild");
        const created = await a.newOrder([dns("*.wild.test")]);
        expect(created.status).toBe(201);
        expect(created.body.identifiers).toEqual([dns("*.wild.test")]);
        const [authz] = await a.authzs(created.body);
        expect(authz).toMatchObject({ identifier: dns("wild.test"), wildcard: true });
        expect(authz!.challenges.map((c) => c.type)).toEqual(["dns-01"]);
        const { leafPem } = await a.issue([dns("*.wild.test")], "dns-01", dns01);
        expect(parseCertificate(leafPem).sans.dns).toEqual(["*.wild.test"]);
        expect(bed.dns.queries.some((q) => q.name === "_acme-challenge.wild.test" && q.type === "TXT")).toBe(true);
      });

      it("*.both.test and both.test in one order: two authorizations for both.test, both met by TXT records at one name", async () => {
        const a = await account("wild");
        bed.dns.setTxt("_acme-challenge.both.test", []);
        const ids = [dns("*.both.test"), dns("both.test")];
        const created = await a.newOrder(ids);
        expect(created.status, created.text).toBe(201);
        const authzs = await a.authzs(created.body);
        expect(authzs.map((x) => [x.identifier.value, x.wildcard ?? false]).sort()).toEqual([
          ["both.test", false],
          ["both.test", true],
        ]);
        const { leafPem } = await a.issue(ids, "dns-01", (_c, ka, authz) => bed.dns.addTxt(`_acme-challenge.${authz.identifier.value}`, dns01Value(ka)));
        expect(parseCertificate(leafPem).sans.dns.sort()).toEqual(["*.both.test", "both.test"]);
      });
    });

    describe("authorization deactivation (§7.5.2)", () => {
      it("deactivates a pending authorization: the authorization is deactivated and its order invalid", async () => {
        const a = await account();
        const created = await a.newOrder([dns(uniq("deact"))]);
        const [authz] = await a.authzs(created.body);
        const r = await a.post<Authz>(authz!.url, { status: "deactivated" });
        expect(r.status).toBe(200);
        expect(r.body.status).toBe("deactivated");
        expect((await a.fetch<Authz>(authz!.url)).body.status).toBe("deactivated");
        const order = (await a.fetch<Order>(created.location!)).body;
        expect(order.status).toBe("invalid");
        expect(order.error).toBeDefined();
        // Its challenges can no longer be started.
        const ch = authz!.challenges.find((c) => c.type === "http-01")!;
        const late = await a.post<Challenge>(ch.url, {});
        expect(late.body.status).not.toBe("processing");
      });

      it("an order made invalid by a deactivated authorization is not in the account's orders list (§7.1.2.1)", async () => {
        const a = await account();
        const created = await a.newOrder([dns(uniq("deact-list"))]);
        const kept = await a.newOrder([dns(uniq("deact-list"))]);
        const [authz] = await a.authzs(created.body);
        expect((await a.post(authz!.url, { status: "deactivated" })).status).toBe(200);
        expect((await a.fetch<Order>(created.location!)).body.status).toBe("invalid");
        const acct = await a.fetch<{ orders: string }>(a.kid!);
        const list = await a.fetch<{ orders: string[] }>(acct.body.orders);
        expect(list.status).toBe(200);
        expect(list.body.orders).toContain(kept.location);
        // RFC 8555 §7.1.2.1: the server SHOULD NOT include invalid orders (and DIVERGENCES.md says it does not).
        expect(list.body.orders).not.toContain(created.location);
      });

      it("another account cannot deactivate it", async () => {
        const a = await account();
        const created = await a.newOrder([dns(uniq("deact-other"))]);
        const [authz] = await a.authzs(created.body);
        const b = await account();
        const r = await b.post(authz!.url, { status: "deactivated" });
        expect(r.status).toBe(403);
        expect(r.body).toMatchObject({ type: urn("unauthorized") });
        expect((await a.fetch<Authz>(authz!.url)).body.status).toBe("pending");
      });
    });

    describe("renewal information (RFC 9773)", () => {
      it("the directory names renewalInfo; the window lies in the last third of the life; Retry-After is set", async () => {
        const a = await account();
        expect(a.directory.renewalInfo).toBe(`${bed.signet.httpsUrl}/acme/acme/renewal-info`);
        const { leafPem } = await a.issue([dns(uniq("ari"))], "http-01", http01);
        const cert = parseCertificate(leafPem);
        const id = ariCertId(leafPem);
        expect(certIdOf(cert.authorityKeyId!.toString("hex"), cert.serialHex)).toBe(id);
        const r = await fetchRaw(`${a.directory.renewalInfo}/${id}`, { ca: bed.signet.rootPem });
        expect(r.status, r.text).toBe(200);
        const { suggestedWindow: w } = r.json<{ suggestedWindow: { start: string; end: string } }>();
        const start = Date.parse(w.start);
        const end = Date.parse(w.end);
        const nb = cert.notBefore.getTime();
        const na = cert.notAfter.getTime();
        expect(start).toBeGreaterThanOrEqual(nb + ((na - nb) * 2) / 3 - 1000);
        expect(end).toBeLessThanOrEqual(na);
        expect(start).toBeLessThan(end);
        const retryAfter = Number(r.headers["retry-after"]);
        expect(Number.isInteger(retryAfter) && retryAfter > 0).toBe(true);
      });

      it("a revoked certificate's window is in the past (renew now)", async () => {
        const a = await account();
        const { leafPem } = await a.issue([dns(uniq("ari-revoked"))], "http-01", http01);
        const revoked = await a.post(a.directory.revokeCert, { certificate: derOf(leafPem).toString("base64url"), reason: 4 });
        expect(revoked.status, revoked.text).toBe(200);
        const r = await fetchRaw(`${a.directory.renewalInfo}/${ariCertId(leafPem)}`, { ca: bed.signet.rootPem });
        expect(r.status).toBe(200);
        const { suggestedWindow: w } = r.json<{ suggestedWindow: { start: string; end: string } }>();
        expect(Date.parse(w.start)).toBeLessThan(Date.parse(w.end));
        expect(Date.parse(w.end)).toBeLessThanOrEqual(Date.now());
      });

      it("a malformed certID is 400 malformed; an unknown one 404", async () => {
        const a = await open();
        for (const bad of ["not-a-cert-id", "a.b.c", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE=", ".AIdlQyE", "aYhba4dGQEHhs3uEe6CuLN4ByNQ.gA"]) {
          const r = await fetchRaw(`${a.directory.renewalInfo}/${bad}`, { ca: bed.signet.rootPem });
          expect(r.status, bad).toBe(400);
          expect(r.json(), bad).toMatchObject({ type: urn("malformed") });
        }
        const unknown = await fetchRaw(`${a.directory.renewalInfo}/${randomBytes(20).toString("base64url")}.${Buffer.from("0123456789", "hex").toString("base64url")}`, { ca: bed.signet.rootPem });
        expect(unknown.status).toBe(404);
      });

      it("newOrder replaces: 201 showing replaces; a second replacement is alreadyReplaced; another account's certificate is unauthorized", async () => {
        const a = await account();
        const name = uniq("replaced");
        const { leafPem } = await a.issue([dns(name)], "http-01", http01);
        const id = ariCertId(leafPem);
        const first = await a.newOrder([dns(name)], { replaces: id });
        expect(first.status, first.text).toBe(201);
        expect(first.body.replaces).toBe(id);
        expect((await a.fetch<Order>(first.location!)).body.replaces).toBe(id);
        const second = await a.newOrder([dns(name)], { replaces: id });
        expect(second.status).toBe(409);
        expect(second.body).toMatchObject({ type: urn("alreadyReplaced") });
        const b = await account();
        const stranger = await b.newOrder([dns(name)], { replaces: id });
        expect(stranger.status).toBe(403);
        expect(stranger.body).toMatchObject({ type: urn("unauthorized") });
      });

      it("a replacement order that became invalid frees the certificate for another replacement", async () => {
        const a = await account();
        const name = uniq("replace-again");
        const { leafPem } = await a.issue([dns(name)], "http-01", http01);
        const id = ariCertId(leafPem);
        const failed = await a.newOrder([dns(name)], { replaces: id });
        expect(failed.status).toBe(201);
        const [authz] = await a.authzs(failed.body);
        expect((await a.post(authz!.url, { status: "deactivated" })).status).toBe(200);
        expect((await a.fetch<Order>(failed.location!)).body.status).toBe("invalid");
        // RFC 9773 §5: only an order that is not invalid holds the certificate as replaced.
        const retry = await a.newOrder([dns(name)], { replaces: id });
        expect(retry.status, retry.text).toBe(201);
      });

      it("once a replacement is issued, the certificate cannot be replaced again", async () => {
        const a = await account();
        const name = uniq("replace-done");
        const { leafPem } = await a.issue([dns(name)], "http-01", http01);
        const id = ariCertId(leafPem);
        const { order } = await a.issue([dns(name)], "http-01", http01, { replaces: id });
        expect(order).toMatchObject({ status: "valid", replaces: id });
        const again = await a.newOrder([dns(name)], { replaces: id });
        expect(again.status).toBe(409);
        expect(again.body).toMatchObject({ type: urn("alreadyReplaced") });
      });
    });

    describe("External Account Binding (§7.3.4)", () => {
      const eabKey = async (body: Record<string, unknown> = {}) => {
        const r = await admin<{ kid: string; hmacKey: string }>(bed.signet, "POST", "/admin/v1/acme/eab", { provisioner: "eab", ...body });
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        return r.body;
      };
      const withEab = (a: AcmeFlow, k: { kid: string; hmacKey: string }) => ({
        termsOfServiceAgreed: true,
        externalAccountBinding: eabJws(k.kid, k.hmacKey, a.key.jwk, a.directory.newAccount),
      });

      it("newAccount without a binding is 401 externalAccountRequired; the directory says so", async () => {
        const a = await open("eab");
        expect(a.directory.meta).toMatchObject({ externalAccountRequired: true });
        const r = await a.newAccount();
        expect(r.status).toBe(401);
        expect(r.body).toMatchObject({ type: urn("externalAccountRequired") });
      });

      it("a good binding creates the account; the single-use key then refuses another account key", async () => {
        const k = await eabKey();
        const a = await open("eab");
        const r = await a.newAccount(withEab(a, k));
        expect(r.status, r.text).toBe(201);
        const b = await open("eab");
        const again = await b.newAccount(withEab(b, k));
        expect(again.status).toBe(403);
        expect(again.body).toMatchObject({ type: urn("unauthorized") });
        const listed = await admin<{ items: { kid: string; state: string; accountId: string | null }[] }>(bed.signet, "GET", "/admin/v1/acme/eab?provisioner=eab");
        expect(listed.body.items.find((i) => i.kid === k.kid)).toMatchObject({ state: "used", accountId: a.kid!.split("/").at(-1) });
      });

      it("a MAC under the wrong key is 403 unauthorized", async () => {
        const k = await eabKey();
        const a = await open("eab");
        const r = await a.newAccount(withEab(a, { kid: k.kid, hmacKey: randomBytes(32).toString("base64url") }));
        expect(r.status).toBe(403);
        expect(r.body).toMatchObject({ type: urn("unauthorized") });
        // The key was not spent by the failed attempt.
        expect((await a.newAccount(withEab(a, k))).status).toBe(201);
      });

      it("a binding whose url is not newAccount, or whose payload is another key, is malformed", async () => {
        const k = await eabKey();
        const a = await open("eab");
        const wrongUrl = await a.newAccount({ termsOfServiceAgreed: true, externalAccountBinding: eabJws(k.kid, k.hmacKey, a.key.jwk, a.directory.newOrder) });
        expect(wrongUrl.status).toBe(400);
        expect(wrongUrl.body).toMatchObject({ type: urn("malformed") });
        const otherKey = await a.newAccount({ termsOfServiceAgreed: true, externalAccountBinding: eabJws(k.kid, k.hmacKey, newAccountKey().jwk, a.directory.newAccount) });
        expect(otherKey.status).toBe(400);
        expect(otherKey.body).toMatchObject({ type: urn("malformed") });
        expect((await a.newAccount(withEab(a, k))).status).toBe(201);
      });

      it("a key made for one ACME provisioner does not bind an account on another", async () => {
        const k = await eabKey();
        const a = await open("acme");
        const r = await a.newAccount(withEab(a, k));
        expect(r.status).toBe(403);
        expect(r.body).toMatchObject({ type: urn("unauthorized") });
      });

      it("a reusable key binds two accounts", async () => {
        const k = await eabKey({ reusable: true });
        for (let i = 0; i < 2; i++) {
          const a = await open("eab");
          const r = await a.newAccount(withEab(a, k));
          expect(r.status, r.text).toBe(201);
        }
      });

      it("a revoked key is refused", async () => {
        const k = await eabKey({ reusable: true });
        const del = await admin(bed.signet, "DELETE", `/admin/v1/acme/eab/${k.kid}`);
        expect(del.status).toBe(200);
        const a = await open("eab");
        const r = await a.newAccount(withEab(a, k));
        expect(r.status).toBe(403);
        expect(r.body).toMatchObject({ type: urn("unauthorized") });
      });
    });

    describe("rate limits", () => {
      it("the third newOrder in the window is 429 rateLimited with Retry-After", async () => {
        const a = await account("limited");
        for (let i = 0; i < 2; i++) expect((await a.newOrder([dns(uniq("limited"))])).status).toBe(201);
        const third = await a.newOrder([dns(uniq("limited"))]);
        expect(third.status).toBe(429);
        expect(third.body).toMatchObject({ type: urn("rateLimited") });
        const retryAfter = Number(third.headers["retry-after"]);
        expect(retryAfter).toBeGreaterThan(0);
        expect(retryAfter).toBeLessThanOrEqual(3600);
        // Another account of the same provisioner has its own budget.
        expect((await (await account("limited")).newOrder([dns(uniq("limited"))])).status).toBe(201);
      });

      it("failed validations count: past failedValidations in the window, newOrder is 429", async () => {
        const a = await account("fragile");
        const created = await a.newOrder([dns(uniq("fragile"))]);
        const [authz] = await a.authzs(created.body);
        // Nothing is served for the token: the validation fails.
        await a.post(authz!.challenges.find((c) => c.type === "http-01")!.url, {});
        expect((await a.settleAuthz(authz!.url)).status).toBe("invalid");
        const next = await a.newOrder([dns(uniq("fragile"))]);
        expect(next.status).toBe(429);
        expect(next.body).toMatchObject({ type: urn("rateLimited") });
        expect(Number(next.headers["retry-after"])).toBeGreaterThan(0);
      });
    });

    describe("download (§7.4.2) and revocation by the certificate key (§7.6)", () => {
      it("serves application/pem-certificate-chain with an alternate chain ending in the root; other accounts get 403", async () => {
        const a = await account();
        const { certUrl, chainPem } = await a.issue([dns(uniq("download"))], "http-01", http01);
        const r = await a.fetch(certUrl);
        expect(r.status).toBe(200);
        expect(r.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
        expect(pemCertificates(chainPem)).toHaveLength(2);
        expect(opensslVerify(bed.rootFile, chainPem, "sslserver")).toContain("OK");
        const alternate = r.links.find((l) => /rel="?alternate"?/.test(l));
        expect(alternate).toBeDefined();
        const altUrl = /^<([^>]+)>/.exec(alternate!)![1]!;
        expect(altUrl).toBe(`${certUrl}/1`);
        const alt = await a.fetch(altUrl);
        expect(alt.status).toBe(200);
        expect(alt.headers["content-type"]).toMatch(/^application\/pem-certificate-chain/);
        const certs = pemCertificates(alt.text);
        expect(certs).toHaveLength(3);
        expect(derOf(certs[2]!).equals(derOf(bed.signet.rootPem))).toBe(true);
        expect(derOf(certs[0]!).equals(derOf(pemCertificates(chainPem)[0]!))).toBe(true);
        // The alternate links back to the default chain.
        expect(alt.links.some((l) => l.startsWith(`<${certUrl}>`) && /alternate/.test(l))).toBe(true);

        const b = await account();
        for (const url of [certUrl, altUrl]) {
          const stranger = await b.fetch(url);
          expect(stranger.status, url).toBe(403);
          expect(stranger.body).toMatchObject({ type: urn("unauthorized") });
        }
      });

      it("revokes with a request signed by the certificate's own key (jwk, ES256); OCSP then says revoked", async () => {
        const a = await account();
        const { leafPem, certKey, certUrl } = await a.issue([dns(uniq("revoke-by-key"))], "http-01", http01);
        const full = pemCertificates((await a.fetch(`${certUrl}/1`)).text);
        const certSigner = accountKeyFrom(certKey, "ES256");
        const stranger = a.other();
        const r = await stranger.post(a.directory.revokeCert, { certificate: derOf(leafPem).toString("base64url"), reason: 1 }, { jwk: true, key: certSigner });
        expect(r.status, r.text).toBe(200);
        const again = await stranger.post(a.directory.revokeCert, { certificate: derOf(leafPem).toString("base64url") }, { jwk: true, key: certSigner });
        expect(again.status).toBe(400);
        expect(again.body).toMatchObject({ type: urn("alreadyRevoked") });

        const files = { "leaf.pem": leafPem, "int.pem": full[1]!, "chain.pem": full[1]! + full[2]! };
        const deadline = Date.now() + 10_000;
        let out = "";
        for (;;) {
          const res = await openssl(["ocsp", "-url", `${bed.signet.httpUrl}/ocsp`, "-issuer", "int.pem", "-cert", "leaf.pem", "-CAfile", "chain.pem"], files);
          out = res.out;
          if (/^leaf\.pem: revoked$/m.test(out) || Date.now() > deadline) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        expect(out).toMatch(/^leaf\.pem: revoked$/m);
        expect(out).toContain("Response verify OK");
        expect(out).toMatch(/Reason: keyCompromise/);
      });

      it("a key that is neither an account's nor the certificate's cannot revoke", async () => {
        const a = await account();
        const { leafPem } = await a.issue([dns(uniq("revoke-wrong-key"))], "http-01", http01);
        const stranger = a.other();
        const r = await stranger.post(a.directory.revokeCert, { certificate: derOf(leafPem).toString("base64url") }, { jwk: true });
        expect(r.status).toBe(403);
        expect(r.body).toMatchObject({ type: urn("unauthorized") });
      });
    });
  });

  describe(`ACME validation retries, RFC 8555 §8.2 (${target.name})`, () => {
    // Three attempts, a few seconds apart: long enough that "valid within a second of the client's
    // repeated POST" can only be the immediate retry, not the scheduled one.
    const RETRY_SECONDS = 4;
    let bed: AcmeTestbed;
    let seq = 0;
    const uniq = (label: string) => `${label}-${++seq}.retry.test`;

    beforeAll(async () => {
      bed = await startAcmeTestbed({
        databaseUrl: await target.create(),
        env: { SIGNET_ACME_VALIDATION_ATTEMPTS: "3", SIGNET_ACME_VALIDATION_RETRY: `${RETRY_SECONDS}s` },
      });
    }, 120_000);
    afterAll(async () => {
      await bed?.close();
      await target.dropAll();
    });

    const start = async () => {
      const a = await (await AcmeFlow.open(bed.directory(), bed.signet.rootPem)).register();
      const created = await a.newOrder([dns(uniq("retry"))]);
      const [authz] = await a.authzs(created.body);
      const challenge = authz!.challenges.find((c) => c.type === "http-01")!;
      return { a, authz: authz!, challenge, ka: `${challenge.token}.${a.key.thumbprint}` };
    };
    /** Until the challenge is processing with the error of a failed attempt (the first attempt's). */
    const failedOnce = async (a: AcmeFlow, url: string, previous?: string) =>
      (await a.pollUntil<Challenge>(url, (c) => c.status !== "processing" || (c.error !== undefined && c.error.detail !== previous), 10_000)).body;

    it("a failed first attempt leaves the challenge processing with an error; a repeated POST retries at once", async () => {
      const { a, authz, challenge, ka } = await start();
      const posted = await a.post<Challenge>(challenge.url, {});
      expect(posted.status).toBe(200);
      expect(posted.body.status).toBe("processing");
      const after1 = await failedOnce(a, challenge.url);
      expect(after1.status).toBe("processing");
      expect(after1.error).toMatchObject({ type: urn("unauthorized") });
      expect(after1.error!.detail).toMatch(/404/);
      expect((await a.fetch<Authz>(authz.url)).body.status).toBe("pending");

      bed.http01.set(challenge.token, ka);
      const retried = Date.now();
      const again = await a.post<Challenge>(challenge.url, {});
      expect(again.status).toBe(200);
      const settled = await a.settleAuthz(authz.url, 10_000);
      expect(settled.status).toBe("valid");
      expect(Date.now() - retried).toBeLessThan((RETRY_SECONDS - 1.5) * 1000);
      const valid = settled.challenges.find((c) => c.type === "http-01")!;
      expect(valid.status).toBe("valid");
      expect(valid.error).toBeUndefined();
    });

    it("without a repeated POST the scheduled retry succeeds", async () => {
      const { a, authz, challenge, ka } = await start();
      await a.post(challenge.url, {});
      expect((await failedOnce(a, challenge.url)).status).toBe("processing");
      bed.http01.set(challenge.token, ka);
      const settled = await a.settleAuthz(authz.url, (RETRY_SECONDS + 6) * 1000);
      expect(settled.status).toBe("valid");
    });

    it("after the last attempt fails the challenge and authorization are invalid", async () => {
      const { a, authz, challenge } = await start();
      await a.post(challenge.url, {});
      // The repeated POST skips the wait before the second attempt.
      await failedOnce(a, challenge.url);
      await a.post(challenge.url, {});
      const settled = await a.settleAuthz(authz.url, 3 * RETRY_SECONDS * 1000 + 10_000);
      expect(settled.status).toBe("invalid");
      expect(settled.challenges.find((c) => c.type === "http-01")).toMatchObject({ status: "invalid", error: { type: urn("unauthorized") } });
    });
  });
}
