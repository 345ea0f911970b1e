// Posture attestation end to end against a running Signet: a workload presents evidence at
// /attest/{provisioner}, the Cedar policy decides, and the credential it gets back (ACME EAB for
// lego, a SCEP one-time challenge for scepclient, or the certificate itself) is limited to what the
// decision allowed; the certificates carry the decision's SPIFFE ID and roles and are recorded
// against the node, so revoke --node finds them and a blocked node cannot attest again.
import { execFileSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCsr, parseCertificate, toPem } from "../ca/x509/index.js";
import { parseSignedData, toDer } from "../scep/cms.js";
import { admin, freePort, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { dbTargets } from "./support/databases.js";
import { describeRun, findPeer, runPeer } from "./support/peers.js";
import { fetchRaw } from "./support/server.js";
import { TokenIssuer, projectedTokenPayload, unsignedToken } from "./support/token-issuer.js";
import { ScepClient } from "./support/scep-client.js";

const lego = findPeer("lego");
const scepclient = findPeer("scepclient", "scep");
const CERTS = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

const POLICY = `
@id("node-denylist")
@reason("the node is on the denylist")
forbid (principal, action, resource) when { ["bad-node"].contains(context.nodeId) };

@id("join-web")
@identity("spiffe://{trustDomain}/host/{identity}")
@dns("{dns}")
@roles("web:serve,metrics:read")
@lifetime("2h")
permit (principal, action == Action::"enrol", resource)
when { context.type == "join-token" && context.claims has identity && context.claims has dns && context.claims.identity like "web-*" };

@id("join-device")
@identity("spiffe://{trustDomain}/device/{identity}")
@roles("device")
permit (principal, action == Action::"enrol", resource)
when { context.type == "join-token" && context.claims has identity && context.claims.identity like "dev-*" };

@id("unapproved-image")
@reason("the image digest is not on the approved list")
forbid (principal, action, resource)
when { context.type == "posture" && !(context.claims has imageDigest && ["${"sha256:" + "a".repeat(64)}"].contains(context.claims.imageDigest)) };

@id("ci-compliant")
@identity("spiffe://{trustDomain}/workload/{workload}")
@dns("{workload}.ci.test")
@roles("batch:run")
@lifetime("30m")
permit (principal, action == Action::"enrol", resource)
when { context.type == "posture" && context.issuer == "https://ci.example.test" && context.claims has compliant && context.claims.compliant == true && context.claims has workload };

@id("k8s-inference")
@identity("spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}")
@dns("{serviceAccount}.{namespace}.svc")
@roles("inference:invoke")
@lifetime("1h")
permit (principal, action == Action::"enrol", resource)
when { context.type == "kubernetes" && context.claims has namespace && context.claims.namespace == "inference" };
`;

const APPROVED = `sha256:${"a".repeat(64)}`;
const ci = new TokenIssuer("ES256");
const cluster = new TokenIssuer("RS256");
const postureToken = (over: Record<string, unknown> = {}, issuer = ci) => {
  const iat = Math.floor(Date.now() / 1000);
  return issuer.sign({ iss: "https://ci.example.test", aud: "signet", sub: "ci:ranker", iat, exp: iat + 300, jti: randomUUID(), image_digest: APPROVED, compliance: { status: "compliant" }, node_id: "build-7", workload: "ranker", ...over });
};

for (const target of dbTargets()) {
  describe(`attestation end to end (${target.name})`, () => {
    let bed: AcmeTestbed;
    let dir: string;

    const attest = (body: unknown, provisioner = "attest") =>
      fetchRaw(`${bed.signet.httpsUrl}/attest/${provisioner}`, { method: "POST", ca: bed.signet.rootPem, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const joinToken = async (claims: Record<string, unknown>) => {
      const r = await admin<{ token: string }>(bed.signet, "POST", "/admin/v1/attestation/join-tokens", { provisioner: "attest", ttlSeconds: 600, claims });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.token;
    };

    beforeAll(async () => {
      bed = await startAcmeTestbed({ databaseUrl: await target.create(), http01Port: await freePort() });
      dir = mkdtempSync(join(tmpdir(), "signet-attest-"));
      mkdirSync(join(bed.signet.home, "policies"), { recursive: true });
      writeFileSync(join(bed.signet.home, "policies", "attest.cedar"), POLICY);
      writeFileSync(join(bed.signet.home, "ci-jwks.json"), JSON.stringify(ci.jwks()));
      writeFileSync(join(bed.signet.home, "cluster-jwks.json"), JSON.stringify(cluster.jwks()));
      for (const [name, body] of Object.entries({
        "acme-attested": { type: "acme", profile: "client-server", options: { requireEab: true, challenges: ["http-01"] } },
        "acme-open": { type: "acme", profile: "client-server", options: {} },
        "scep-attested": { type: "scep", profile: "client", options: { dynamicChallenges: true, legacy: true } },
        attest: {
          type: "attestation",
          profile: "client",
          options: {
            acmeProvisioner: "acme-attested",
            scepProvisioner: "scep-attested",
            trustDomain: "prod.example",
            posture: { attesters: [{ issuer: "https://ci.example.test", jwksFile: "ci-jwks.json", algorithms: ["ES256"], audience: "signet" }], maxAgeSeconds: 120 },
            kubernetes: { clusters: [{ issuer: "https://kubernetes.default.svc.cluster.local", jwksFile: "cluster-jwks.json", audiences: ["signet"] }] },
            renewal: { maxRenewals: 2, maxAgeSeconds: 86400 },
          },
        },
        "attest-open": { type: "attestation", profile: "client", options: { acmeProvisioner: "acme-open", policyFile: "policies/attest.cedar" } },
      })) {
        const r = await admin(bed.signet, "PUT", `/admin/v1/provisioners/${name}`, body);
        expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      }
    }, 60_000);
    afterAll(async () => {
      await bed?.close();
      await target.dropAll();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("a join token earns the policy's identity, and the certificate itself when the request carries a CSR", async () => {
      const token = await joinToken({ identity: "web-3", nodeId: "vm-3", dns: "web-3.attested.test" });
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "web-3.attested.test" }], sans: { dns: ["web-3.attested.test"] } }));
      const r = await attest({ evidence: { type: "join-token", token }, credential: "certificate", csr });
      expect(r.status, r.text).toBe(201);
      const body = r.json() as { decision: Record<string, unknown>; certificate: { pem: string; chainPem: string; serial: string } };
      expect(body.decision).toMatchObject({ spiffeId: "spiffe://prod.example/host/web-3", identity: "spiffe://prod.example/host/web-3", nodeId: "vm-3", dns: ["web-3.attested.test"], roles: ["web:serve", "metrics:read"], lifetimeSeconds: 7200 });
      const cert = parseCertificate(body.certificate.pem);
      expect(cert.sans.uri).toEqual(["spiffe://prod.example/host/web-3"]);
      expect(cert.sans.dns).toEqual(["web-3.attested.test"]);
      expect(cert.roles).toEqual(["web:serve", "metrics:read"]);
      expect(opensslVerify(bed.rootFile, body.certificate.chainPem, "sslclient")).toMatch(/OK/);
      const rec = await admin<{ nodeId: string; identity: string }>(bed.signet, "GET", `/admin/v1/certificates/${body.certificate.serial}`);
      expect(rec.body).toMatchObject({ nodeId: "vm-3", identity: "spiffe://prod.example/host/web-3" });
      // The token was single-use.
      const again = await attest({ evidence: { type: "join-token", token }, credential: "certificate", csr });
      expect(again.status).toBe(401);
      expect(again.text).toMatch(/already used|unknown/);
    });

    it("renews over mTLS with the current certificate, same identity, up to the renewal limit; then it must attest again", async () => {
      const key = () => generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csrFor = (k: ReturnType<typeof key>, name: string) => toPem("CERTIFICATE REQUEST", buildCsr({ privateKey: k.privateKey, publicKey: k.publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: name }], sans: { dns: [name] } }));
      const k1 = key();
      const first = await attest({ evidence: { type: "join-token", token: await joinToken({ identity: "web-8", nodeId: "vm-8", dns: "web-8.attested.test" }) }, credential: "certificate", csr: csrFor(k1, "web-8.attested.test") });
      expect(first.status, first.text).toBe(201);
      let pem = (first.json() as { certificate: { pem: string } }).certificate.pem;
      let privateKey = k1.privateKey;
      const renew = (certPem: string, keyObj: typeof privateKey, body: unknown) =>
        fetchRaw(`${bed.signet.httpsUrl}/attest/attest`, {
          method: "POST",
          ca: bed.signet.rootPem,
          cert: certPem,
          key: keyObj.export({ format: "pem", type: "pkcs8" }).toString(),
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const serials: string[] = [parseCertificate(pem).serialHex];
      let parentPem = pem;
      let parentKey = privateKey;
      for (let i = 0; i < 2; i++) {
        const k = key();
        parentPem = pem;
        parentKey = privateKey;
        const r = await renew(pem, privateKey, { evidence: { type: "certificate" }, csr: csrFor(k, "web-8.attested.test") });
        expect(r.status, r.text).toBe(201);
        pem = (r.json() as { certificate: { pem: string } }).certificate.pem;
        privateKey = k.privateKey;
        const leaf = parseCertificate(pem);
        expect(leaf.sans.uri).toEqual(["spiffe://prod.example/host/web-8"]);
        expect(leaf.roles).toEqual(["web:serve", "metrics:read"]);
        serials.push(leaf.serialHex);
        if (i === 0) {
          // A renewal cannot widen the names (and a refused one does not count).
          const wider = await renew(pem, privateKey, { evidence: { type: "certificate" }, csr: csrFor(key(), "admin.attested.test") });
          expect(wider.status, wider.text).toBe(403);
          expect(wider.text).toMatch(/admin\.attested\.test/);
        }
      }
      expect(new Set(serials).size).toBe(3);
      // The provisioner allows two renewals in a row (options.renewal.maxRenewals, set below).
      const k3 = key();
      const third = await renew(pem, privateKey, { evidence: { type: "certificate" }, csr: csrFor(k3, "web-8.attested.test") });
      expect(third.status, third.text).toBe(403);
      expect(third.text).toMatch(/attest again/);
      // regression: a certificate is renewed once; renewing the same one again is refused.
      const again = await renew(parentPem, parentKey, { evidence: { type: "certificate" }, csr: csrFor(key(), "web-8.attested.test") });
      expect(again.status, again.text).toBe(409);
      expect(again.text).toMatch(/already been renewed/);
      // regression: once an earlier certificate of a line is revoked, the line renews no further.
      const k5 = key();
      const fresh = await attest({ evidence: { type: "join-token", token: await joinToken({ identity: "web-8", nodeId: "vm-8", dns: "web-8.attested.test" }) }, credential: "certificate", csr: csrFor(k5, "web-8.attested.test") });
      const freshPem = (fresh.json() as { certificate: { pem: string } }).certificate.pem;
      const k6 = key();
      const child = await renew(freshPem, k5.privateKey, { evidence: { type: "certificate" }, csr: csrFor(k6, "web-8.attested.test") });
      expect(child.status, child.text).toBe(201);
      const rv = await admin(bed.signet, "POST", `/admin/v1/certificates/${parseCertificate(freshPem).serialHex}/revoke`, { reason: "keyCompromise" });
      expect(rv.status, JSON.stringify(rv.body)).toBe(200);
      const grandchild = await renew((child.json() as { certificate: { pem: string } }).certificate.pem, k6.privateKey, { evidence: { type: "certificate" }, csr: csrFor(key(), "web-8.attested.test") });
      expect(grandchild.status, grandchild.text).toBe(403);
      expect(grandchild.text).toMatch(/which this one renews, is revoked/);
      // A renewal needs a certificate at all.
      const anonymous = await attest({ evidence: { type: "certificate" }, csr: csrFor(k3, "web-8.attested.test") });
      expect(anonymous.status).toBe(401);
    });

    it("a CSR asking for a name the decision did not allow is refused", async () => {
      const token = await joinToken({ identity: "web-4", dns: "web-4.attested.test" });
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "web-4.attested.test" }], sans: { dns: ["web-4.attested.test", "admin.attested.test"] } }));
      const r = await attest({ evidence: { type: "join-token", token }, credential: "certificate", csr });
      expect(r.status, r.text).toBe(403);
      expect(r.text).toMatch(/admin\.attested\.test/);
    });

    it("regression: a refused CSR does not burn the evidence; a SCEP challenge from attestation cannot carry another common name", async () => {
      const token = await joinToken({ identity: "web-6", dns: "web-6.attested.test" });
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const bad = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "db.prod.internal" }], sans: { dns: ["web-6.attested.test"] } }));
      const refused = await attest({ evidence: { type: "join-token", token }, credential: "certificate", csr: bad });
      expect(refused.status, refused.text).toBe(403);
      const good = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "web-6.attested.test" }], sans: { dns: ["web-6.attested.test"] } }));
      const ok = await attest({ evidence: { type: "join-token", token }, credential: "certificate", csr: good });
      expect(ok.status, ok.text).toBe(201);

      const devToken = await joinToken({ identity: "dev-9" });
      const r = await attest({ evidence: { type: "join-token", token: devToken }, credential: "scep" });
      expect(r.status, r.text).toBe(201);
      const { scep } = r.json() as { scep: { url: string; challenge: string } };
      const client = new ScepClient(`${bed.signet.httpUrl}${new URL(scep.url).pathname}`);
      const smuggled = await client.enrol({ commonName: "admin", challenge: scep.challenge });
      expect(smuggled).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
    });

    it("a join token no policy allows is refused with the reason, and the decision is audited either way", async () => {
      const token = await joinToken({ identity: "mallory" });
      const r = await attest({ evidence: { type: "join-token", token } });
      expect(r.status, r.text).toBe(403);
      expect(r.text).toMatch(/no posture policy allows/i);
      const denied = await joinToken({ identity: "dev-1", nodeId: "bad-node" });
      const d = await attest({ evidence: { type: "join-token", token: denied } });
      expect(d.status).toBe(403);
      expect(d.text).toMatch(/denylist/);
      const audit = await admin<{ items: Array<{ data: { allow: boolean; policyVersion: string; evidence: { digest: string } } }> }>(bed.signet, "GET", "/admin/v1/audit/events?event=attestation.decided&limit=1000");
      const decisions = audit.body.items.map((e) => e.data);
      expect(decisions.some((x) => x.allow === false)).toBe(true);
      expect(decisions.some((x) => x.allow === true)).toBe(true);
      // Every decision names the evidence's digest and the policy version (renewals: "renewal").
      expect(decisions.every((x) => (x.policyVersion === "renewal" || /^[0-9a-f]{16,64}$/.test(x.policyVersion)) && /^[0-9a-f]{64}$/.test(x.evidence.digest))).toBe(true);
    });

    it("a signed posture assertion earns the CI identity once; a replay, an unapproved image, alg none and an unknown key are refused", async () => {
      const token = postureToken();
      const r = await attest({ evidence: { type: "posture", token } });
      expect(r.status, r.text).toBe(201);
      expect((r.json() as { decision: Record<string, unknown> }).decision).toMatchObject({ spiffeId: "spiffe://prod.example/workload/ranker", dns: ["ranker.ci.test"], roles: ["batch:run"], nodeId: "build-7", lifetimeSeconds: 1800 });
      const replay = await attest({ evidence: { type: "posture", token } });
      expect(replay.status).toBe(401);
      expect(replay.text).toMatch(/already used/);
      const unapproved = await attest({ evidence: { type: "posture", token: postureToken({ image_digest: `sha256:${"b".repeat(64)}` }) } });
      expect(unapproved.status).toBe(403);
      expect(unapproved.text).toMatch(/image digest is not on the approved list/);
      const none = await attest({ evidence: { type: "posture", token: unsignedToken({ iss: "https://ci.example.test", sub: "x", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60, jti: randomUUID() }) } });
      expect(none.status).toBe(401);
      const stranger = await attest({ evidence: { type: "posture", token: postureToken({}, new TokenIssuer("ES256")) } });
      expect(stranger.status).toBe(401);
      const old = await attest({ evidence: { type: "posture", token: postureToken({ iat: Math.floor(Date.now() / 1000) - 600 }) } });
      expect(old.status).toBe(401);
    });

    it("a Kubernetes service-account token earns the workload's SPIFFE ID; the certificate is recorded against its node", async () => {
      const token = cluster.sign(projectedTokenPayload({ now: new Date() }));
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "vllm.inference.svc" }], sans: { dns: ["vllm.inference.svc"] } }));
      const r = await attest({ evidence: { type: "kubernetes", token }, credential: "certificate", csr });
      expect(r.status, r.text).toBe(201);
      const { certificate } = r.json() as { certificate: { pem: string; serial: string } };
      const leaf = parseCertificate(certificate.pem);
      expect(leaf.sans.uri).toEqual(["spiffe://prod.example/ns/inference/sa/vllm"]);
      expect(leaf.roles).toEqual(["inference:invoke"]);
      const rec = await admin<{ nodeId: string }>(bed.signet, "GET", `/admin/v1/certificates/${certificate.serial}`);
      expect(rec.body.nodeId).toBe("gpu-node-7");
      const wrongAud = await attest({ evidence: { type: "kubernetes", token: cluster.sign(projectedTokenPayload({ now: new Date(), audiences: ["vault"] })) } });
      expect(wrongAud.status).toBe(401);
      expect(wrongAud.text).toMatch(/audience/);
      const otherNs = await attest({ evidence: { type: "kubernetes", token: cluster.sign(projectedTokenPayload({ now: new Date(), namespace: "default" })) } });
      expect(otherNs.status).toBe(403);
    });

    it("counts decisions in Prometheus metrics by evidence type and outcome", async () => {
      const m = await fetchRaw(`${bed.signet.httpUrl}/metrics`);
      expect(m.text).toMatch(/signet_attestation_decisions_total\{provisioner="attest",evidence="join-token",outcome="allow"\} [1-9]/);
      expect(m.text).toMatch(/signet_attestation_decisions_total\{provisioner="attest",evidence="join-token",outcome="deny"\} [1-9]/);
    });

    it("bad evidence is a 4xx with a reason, never a 500", async () => {
      for (const body of [
        { evidence: { type: "join-token", token: "sjt_nope" } },
        { evidence: { type: "posture", token: "not.a.jwt" } },
        { evidence: { type: "posture", token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." } },
        { evidence: { type: "kubernetes", token: "x".repeat(20_000) } },
        { evidence: { type: "tpm", token: "x" } },
        { evidence: {} },
        "garbage",
      ]) {
        const r = await attest(body);
        expect(r.status, `${JSON.stringify(body).slice(0, 60)} → ${r.text}`).toBeGreaterThanOrEqual(400);
        expect(r.status).toBeLessThan(500);
      }
      expect((await attest({ evidence: { type: "join-token", token: "x" } }, "nosuch")).status).toBe(404);
      expect((await attest({ evidence: { type: "join-token", token: "x" } }, "acme")).status).toBe(404);
    });

    it("refuses to hand out EAB keys for an ACME provisioner that does not require EAB", async () => {
      const r = await admin<{ token: string }>(bed.signet, "POST", "/admin/v1/attestation/join-tokens", { provisioner: "attest-open", claims: { identity: "web-9", dns: "web-9.attested.test" } });
      const a = await attest({ evidence: { type: "join-token", token: r.body.token } }, "attest-open");
      expect(a.status, a.text).toBe(409);
      expect(a.text).toMatch(/require external account binding/);
    });

    it("signet policy test's API shows the decision without spending the evidence", async () => {
      const token = await joinToken({ identity: "web-5", dns: "web-5.attested.test" });
      const t = await admin<{ decision: { allow: boolean; spiffeId: string; reasons: string[] } }>(bed.signet, "POST", "/admin/v1/attestation/test", { provisioner: "attest", evidence: { type: "join-token", token } });
      expect(t.status, JSON.stringify(t.body)).toBe(200);
      expect(t.body.decision).toMatchObject({ allow: true, spiffeId: "spiffe://prod.example/host/web-5", reasons: ["join-web"] });
      // Not spent: it still attests.
      const r = await attest({ evidence: { type: "join-token", token } });
      expect(r.status, r.text).toBe(201);
    });

    describe.skipIf(lego.skip)("with lego", () => {
      it("EAB credentials from attestation enrol lego for the decided name; another name is rejectedIdentifier", async () => {
        const token = await joinToken({ identity: "web-7", nodeId: "vm-7", dns: "web-7.attested.test" });
        const r = await attest({ evidence: { type: "join-token", token } });
        expect(r.status, r.text).toBe(201);
        const { acme } = r.json() as { acme: { directory: string; kid: string; hmacKey: string } };
        expect(acme.directory).toMatch(/\/acme\/acme-attested\/directory$/);
        const run = (path: string, name: string) =>
          runPeer(
            lego.require(),
            ["--server", acme.directory, "--email", "a@example.internal", "--accept-tos", "--path", path, "--eab", "--kid", acme.kid, `--hmac=${acme.hmacKey}`, "--http", "--http.port", `127.0.0.1:${bed.http01Port}`, "-d", name, "run"],
            { env: { LEGO_CA_CERTIFICATES: bed.rootFile }, timeoutMs: 90_000 },
          );
        const wrongDir = join(dir, "lego-wrong");
        const wrong = await run(wrongDir, "other.attested.test");
        expect(wrong.code, describeRun(wrong)).not.toBe(0);
        expect(describeRun(wrong)).toMatch(/rejectedIdentifier|not among the names/);

        // The EAB key was single-use and the account above was bound with it; a second account
        // needs a second attestation.
        const token2 = await joinToken({ identity: "web-7", nodeId: "vm-7", dns: "web-7.attested.test" });
        const r2 = await attest({ evidence: { type: "join-token", token: token2 } });
        const { acme: acme2 } = r2.json() as { acme: { kid: string; hmacKey: string } };
        Object.assign(acme, acme2);
        const okDir = join(dir, "lego-ok");
        const ok = await run(okDir, "web-7.attested.test");
        expect(ok.code, describeRun(ok)).toBe(0);
        const chain = readFileSync(join(okDir, "certificates", "web-7.attested.test.crt"), "utf8");
        expect(opensslVerify(bed.rootFile, chain, "sslserver")).toMatch(/OK/);
        const leaf = parseCertificate(chain.match(CERTS)![0]!);
        expect(leaf.sans.uri).toEqual(["spiffe://prod.example/host/web-7"]);
        expect(leaf.roles).toEqual(["web:serve", "metrics:read"]);
        const rec = await admin<{ nodeId: string }>(bed.signet, "GET", `/admin/v1/certificates/${leaf.serialHex}`);
        expect(rec.body.nodeId).toBe("vm-7");

        // revoke --node finds it, and the blocked node cannot attest again.
        const rv = await admin<{ revoked: unknown[] }>(bed.signet, "POST", "/admin/v1/revocations", { node: "vm-7", reason: "keyCompromise" });
        expect(rv.status, JSON.stringify(rv.body)).toBeLessThan(300);
        const after = await admin<{ status: string }>(bed.signet, "GET", `/admin/v1/certificates/${leaf.serialHex}`);
        expect(after.body.status).toBe("revoked");
        const blocked = await attest({ evidence: { type: "join-token", token: await joinToken({ identity: "web-7", nodeId: "vm-7", dns: "web-7.attested.test" }) } });
        expect(blocked.status, blocked.text).toBe(403);
        expect(blocked.text).toMatch(/blocked/);
      }, 200_000);
    });

    describe.skipIf(scepclient.skip)("with scepclient", () => {
      it("a SCEP one-time challenge from attestation enrols scepclient with the decided identity", async () => {
        const token = await joinToken({ identity: "dev-42", nodeId: "tablet-42" });
        const r = await attest({ evidence: { type: "join-token", token }, credential: "scep" });
        expect(r.status, r.text).toBe(201);
        const { scep } = r.json() as { scep: { url: string; challenge: string } };
        expect(scep.url).toMatch(/\/scep\/scep-attested$/);
        // The URL is built from SIGNET_HTTP_URL, which the test fixture points at a name; dial the port.
        scep.url = `${bed.signet.httpUrl}${new URL(scep.url).pathname}`;
        const ca = await fetch(`${scep.url}?operation=GetCACert`);
        const ra = parseSignedData(toDer(Buffer.from(await ca.arrayBuffer()))).certificates[0]!;
        const d = join(dir, "scep-42");
        mkdirSync(d, { recursive: true });
        const run = await runPeer(
          scepclient.require(),
          ["-server-url", scep.url, "-private-key", join(d, "key.pem"), "-challenge", scep.challenge, "-cn", "dev-42", "-ca-fingerprint", createHash("sha256").update(ra).digest("hex")],
          { timeoutMs: 60_000 },
        );
        expect(run.code, describeRun(run)).toBe(0);
        const leaf = parseCertificate(readFileSync(join(d, "client.pem"), "utf8"));
        expect(leaf.sans.uri).toEqual(["spiffe://prod.example/device/dev-42"]);
        // regression: scepclient (Go's X.509 parser) reads a certificate with roles: they travel in
        // subjectDirectoryAttributes now, not under the 2.25 UUID arc Go refuses.
        expect(leaf.roles).toEqual(["device"]);
        execFileSync("openssl", ["verify", "-CAfile", bed.rootFile, "-untrusted", join(bed.signet.home, "ca", "intermediate.pem"), join(d, "client.pem")]);
        const rec = await admin<{ nodeId: string }>(bed.signet, "GET", `/admin/v1/certificates/${leaf.serialHex}`);
        expect(rec.body.nodeId).toBe("tablet-42");
      }, 90_000);
    });
  });
}
