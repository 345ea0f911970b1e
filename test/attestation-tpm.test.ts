// TPM 2.0 device attestation end to end, with Debian's swtpm as the device's TPM and tpm2-tools
// doing everything a device does: the EK certificate from the TPM's NV, credential activation of an
// attestation key against Signet's MakeCredential, a new key certified by that AK with the ACME
// challenge's key authorization as qualifying data, and a certificate request signed inside the TPM.
// Signet then issues a certificate carrying the identity the posture policy decided.
import { createHash, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCbor } from "../ca/tpm/cbor.js";
import { buildCsr, parseCertificate } from "../ca/x509/index.js";
import { admin, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { AcmeFlow, keyAuthorizationOf, type Order } from "./support/acme-flow.js";
import { dbTargets } from "./support/databases.js";
import { fetchRaw } from "./support/server.js";
import { SoftTpm, swtpmSkip } from "./support/swtpm.js";

const POLICY = `
@id("swtpm-devices")
@identity("spiffe://{trustDomain}/device/{permanentIdentifier}")
@roles("device:telemetry")
@lifetime("4h")
permit (principal, action == Action::"enrol", resource)
when { context.type == "tpm" && context.claims has tpmModel && context.claims.tpmModel == "swtpm" };

@id("denied-device")
@reason("the device is on the denylist")
forbid (principal, action, resource)
when { context.type == "tpm" && context.claims has permanentIdentifier && ["${"0".repeat(64)}"].contains(context.claims.permanentIdentifier) };
`;

const b64 = (b: Buffer) => b.toString("base64");

for (const target of dbTargets()) {
  describe.skipIf(swtpmSkip)(`TPM device attestation with swtpm (${target.name})`, () => {
    let bed: AcmeTestbed;
    let dir: string;
    let tpm: SoftTpm;

    const post = (path: string, body: unknown) =>
      fetchRaw(`${bed.signet.httpsUrl}${path}`, { method: "POST", ca: bed.signet.rootPem, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

    /** Credential activation: returns the AK certificate chain and the device's permanent identifier. */
    const activate = async () => {
      const { ekPublic, akPublic } = tpm.createEkAndAk();
      const cred = await post("/attest/devices/tpm/credential", { ekCertificate: b64(tpm.ekCertificate()), ekChain: [b64(tpm.manufacturerIntermediateDer)], ekPublic: b64(ekPublic), akPublic: b64(akPublic) });
      expect(cred.status, cred.text).toBe(201);
      const c = cred.json() as { activationId: string; credential: string; permanentIdentifier: string };
      const secret = tpm.activateCredential(Buffer.from(c.credential, "base64"));
      const act = await post("/attest/devices/tpm/activate", { activationId: c.activationId, secret: b64(secret) });
      expect(act.status, act.text).toBe(201);
      return { ...(act.json() as { permanentIdentifier: string; pem: string; chainPem: string; serial: string }), activationId: c.activationId, secret };
    };

    const attObj = (akChainPem: string, qualifying: Buffer, over: Record<string, unknown> = {}) => {
      const { certInfo, sig } = tpm.certifyCreation(qualifying);
      const x5c = [...akChainPem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s/g, ""), "base64"));
      const stmt = new Map<string, never>(Object.entries({ ver: "2.0", alg: -7, x5c, sig, certInfo, pubArea: current.pubArea, ...over }) as never);
      return encodeCbor(new Map<string, never>([["fmt", "tpm" as never], ["attStmt", stmt as never], ["authData", Buffer.alloc(0) as never]])).toString("base64url");
    };
    let current: { pubArea: Buffer; spki: Buffer };

    beforeAll(async () => {
      bed = await startAcmeTestbed({ databaseUrl: await target.create() });
      dir = mkdtempSync(join(tmpdir(), "signet-tpm-"));
      tpm = await SoftTpm.start(join(dir, "tpm"));
      writeFileSync(join(bed.signet.home, "tpm-roots.pem"), tpm.manufacturerRootPem);
      mkdirSync(join(bed.signet.home, "policies"), { recursive: true });
      writeFileSync(join(bed.signet.home, "policies", "devices.cedar"), POLICY);
      for (const [name, body] of Object.entries({
        devices: { type: "attestation", profile: "client", options: { trustDomain: "fleet.example", policyFile: "policies/devices.cedar", joinTokens: false, tpm: { ekRootsFile: "tpm-roots.pem", akLifetimeSeconds: 86400 } } },
        "acme-device": { type: "acme", profile: "client", options: { challenges: ["device-attest-01"], deviceAttest: { attestationProvisioner: "devices" } } },
      })) {
        const r = await admin(bed.signet, "PUT", `/admin/v1/provisioners/${name}`, body);
        expect(r.status, `${name}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
      }
    }, 120_000);
    afterAll(async () => {
      tpm?.stop();
      await bed?.close();
      await target.dropAll();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("credential activation certifies the AK only for the TPM that holds the EK; the secret is single-use", async () => {
      const a = await activate();
      const ek = tpm.ekCertificate();
      const spki = new X509Certificate(ek).publicKey.export({ format: "der", type: "spki" });
      expect(a.permanentIdentifier).toBe(createHash("sha256").update(spki).digest("hex"));
      const ak = parseCertificate(a.pem);
      expect(ak.subject.commonName).toBe(a.permanentIdentifier);
      // An attestation key certificate is good for no TLS use.
      expect(opensslVerify(bed.rootFile, a.chainPem)).toMatch(/OK/);
      expect(() => opensslVerify(bed.rootFile, a.chainPem, "sslclient")).toThrow(/unsupported certificate purpose|purpose/);
      const rec = await admin<{ profile: string; nodeId: string }>(bed.signet, "GET", `/admin/v1/certificates/${a.serial}`);
      expect(rec.body).toMatchObject({ profile: "tpm-ak", nodeId: a.permanentIdentifier });
      // The secret opens one activation, once.
      const again = await post("/attest/devices/tpm/activate", { activationId: a.activationId, secret: b64(a.secret) });
      expect(again.status, again.text).toBe(401);
      // A wrong secret (as a device without that TPM would send) does not activate.
      const { akPublic } = tpm.createEkAndAk();
      const cred = await post("/attest/devices/tpm/credential", { ekCertificate: b64(ek), ekChain: [b64(tpm.manufacturerIntermediateDer)], akPublic: b64(akPublic) });
      expect(cred.status, cred.text).toBe(201);
      const wrong = await post("/attest/devices/tpm/activate", { activationId: (cred.json() as { activationId: string }).activationId, secret: b64(Buffer.alloc(32, 7)) });
      expect(wrong.status, wrong.text).toBe(401);
      // The credential step needs no credential, so a device keeps only its newest five activations
      // open: asking six times drops the first.
      const creds: Array<{ activationId: string; credential: string }> = [];
      for (let i = 0; i < 6; i++) {
        const r = await post("/attest/devices/tpm/credential", { ekCertificate: b64(ek), ekChain: [b64(tpm.manufacturerIntermediateDer)], akPublic: b64(akPublic) });
        expect(r.status, r.text).toBe(201);
        creds.push(r.json() as { activationId: string; credential: string });
      }
      const first = creds[0]!;
      const dropped = await post("/attest/devices/tpm/activate", { activationId: first.activationId, secret: b64(tpm.activateCredential(Buffer.from(first.credential, "base64"))) });
      expect(dropped.status, dropped.text).toBe(401);
      const newest = creds[5]!;
      const kept = await post("/attest/devices/tpm/activate", { activationId: newest.activationId, secret: b64(tpm.activateCredential(Buffer.from(newest.credential, "base64"))) });
      expect(kept.status, kept.text).toBe(201);
    });

    it("refuses an EK that does not chain to the manufacturer root, and a key that is not an attestation key", async () => {
      const { ekPublic, akPublic } = tpm.createEkAndAk();
      const noChain = await post("/attest/devices/tpm/credential", { ekCertificate: b64(tpm.ekCertificate()), akPublic: b64(akPublic) });
      expect(noChain.status, noChain.text).toBe(401);
      expect(noChain.text).toMatch(/manufacturer root/);
      // The EK itself (a storage key, not a restricted signing key) as the AK.
      const notAk = await post("/attest/devices/tpm/credential", { ekCertificate: b64(tpm.ekCertificate()), ekChain: [b64(tpm.manufacturerIntermediateDer)], akPublic: b64(ekPublic) });
      expect(notAk.status, notAk.text).toBe(401);
      expect(notAk.text).toMatch(/not an attestation key/);
      const garbage = await post("/attest/devices/tpm/credential", { ekCertificate: b64(Buffer.from("not a certificate")), akPublic: b64(akPublic) });
      expect(garbage.status, garbage.text).toBe(401);
    });

    it("device-attest-01: the TPM-attested key gets a certificate with the policy's SPIFFE ID and roles; everything else is refused", async () => {
      const a = await activate();
      const acme = await (await AcmeFlow.open(bed.directory("acme-device"), bed.signet.rootPem)).register();
      const order = await acme.newOrder([{ type: "permanent-identifier", value: a.permanentIdentifier }]);
      expect(order.status, order.text).toBe(201);
      const [authz] = await acme.authzs(order.body);
      expect(authz!.challenges.map((c) => c.type)).toEqual(["device-attest-01"]);
      const ch = authz!.challenges[0]!;
      const keyAuth = keyAuthorizationOf(ch.token, acme.key);
      current = tpm.createKey();
      // A statement for another key authorization (a replay from another challenge) is refused...
      const stale = await acme.other().register();
      const staleOrder = await stale.newOrder([{ type: "permanent-identifier", value: a.permanentIdentifier }]);
      const [staleAuthz] = await stale.authzs(staleOrder.body);
      const replayed = await stale.post(staleAuthz!.challenges[0]!.url, { attObj: attObj(a.chainPem, createHash("sha256").update(keyAuth).digest()) });
      expect(replayed.status, replayed.text).toBe(200);
      expect((replayed.body as { status: string; error?: { type: string } }).status).toBe("invalid");
      expect(JSON.stringify(replayed.body)).toMatch(/badAttestationStatement.*key authorization/);
      // ... and the right one is accepted.
      const resp = await acme.post(ch.url, { attObj: attObj(a.chainPem, createHash("sha256").update(keyAuth).digest()) });
      expect(resp.status, resp.text).toBe(200);
      expect((resp.body as { status: string }).status, resp.text).toBe("valid");
      const ready = await acme.pollUntil<Order>(order.location!, (o) => o.status === "ready");
      expect(ready.body.status).toBe("ready");
      // A CSR with another key than the TPM attested is refused; the order stays ready.
      const soft = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const bad = await acme.finalize(ready.body, buildCsr({ ...soft, keyAlgorithm: "P-256", subject: [{ type: "CN", value: a.permanentIdentifier }] }));
      expect(bad.status, bad.text).toBe(400);
      expect(bad.text).toMatch(/badCSR.*TPM attested/);
      // The CSR signed inside the TPM.
      const csr = buildCsr({ publicKey: current.spki, sign: (info) => tpm.sign(info), keyAlgorithm: "P-256", subject: [{ type: "CN", value: a.permanentIdentifier }] });
      const fin = await acme.finalize(ready.body, csr);
      expect(fin.status, fin.text).toBe(200);
      const done = await acme.pollUntil<Order>(order.location!, (o) => o.status !== "processing");
      expect(done.body.status, JSON.stringify(done.body)).toBe("valid");
      const dl = await acme.fetch(done.body.certificate!);
      const leaf = parseCertificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(dl.text)![0]);
      expect(leaf.sans.uri).toEqual([`spiffe://fleet.example/device/${a.permanentIdentifier}`]);
      expect(leaf.roles).toEqual(["device:telemetry"]);
      expect(opensslVerify(bed.rootFile, dl.text, "sslclient")).toMatch(/OK/);
      const rec = await admin<{ nodeId: string; identity: string }>(bed.signet, "GET", `/admin/v1/certificates/${leaf.serialHex}`);
      expect(rec.body).toMatchObject({ nodeId: a.permanentIdentifier, identity: `spiffe://fleet.example/device/${a.permanentIdentifier}` });
      // Revoking the device (everything its node holds, the AK certificate included) and blocking it:
      // it can neither attest again nor activate a new AK.
      const rv = await admin(bed.signet, "POST", "/admin/v1/revocations", { node: a.permanentIdentifier, reason: "keyCompromise" });
      expect(rv.status, JSON.stringify(rv.body)).toBeLessThan(300);
      const after = await acme.newOrder([{ type: "permanent-identifier", value: a.permanentIdentifier }]);
      const [afterAuthz] = await acme.authzs(after.body);
      const refused = await acme.post(afterAuthz!.challenges[0]!.url, { attObj: attObj(a.chainPem, createHash("sha256").update(keyAuthorizationOf(afterAuthz!.challenges[0]!.token, acme.key)).digest()) });
      expect((refused.body as { status: string }).status).toBe("invalid");
      expect(refused.text).toMatch(/revoked|blocked/);
      const { akPublic } = tpm.createEkAndAk();
      const reenrol = await post("/attest/devices/tpm/credential", { ekCertificate: b64(tpm.ekCertificate()), ekChain: [b64(tpm.manufacturerIntermediateDer)], akPublic: b64(akPublic) });
      expect(reenrol.status, reenrol.text).toBe(403);
    });

    it("bad device-attest-01 responses are problem documents, never a 500", async () => {
      // Statements that fail before any device is looked up: no TPM is needed.
      const acme = await (await AcmeFlow.open(bed.directory("acme-device"), bed.signet.rootPem)).register();
      const id = { type: "permanent-identifier", value: "f".repeat(64) };
      for (const [what, body, pattern] of [
        ["no attObj", {}, /malformed/],
        ["not base64url", { attObj: "***" }, /badAttestationStatement|malformed/],
        ["not CBOR", { attObj: Buffer.from("hello").toString("base64url") }, /badAttestationStatement/],
        ["another format", { attObj: encodeCbor(new Map([["fmt", "packed"]])).toString("base64url") }, /badAttestationStatement.*packed/],
        ["a root as the AK", { attObj: attObjFor(bed.signet.rootPem) }, /badAttestationStatement/],
      ] as const) {
        const order = await acme.newOrder([id]);
        expect(order.status, order.text).toBe(201);
        const [authz] = await acme.authzs(order.body);
        const r = await acme.post(authz!.challenges[0]!.url, body);
        expect(r.status, `${what}: ${r.text}`).toBeLessThan(500);
        expect(r.text, what).toMatch(pattern);
      }
      // permanent-identifier is refused where device attestation is not offered, and a device order
      // names nothing else.
      const plain = await (await AcmeFlow.open(bed.directory("acme"), bed.signet.rootPem)).register();
      const refused = await plain.newOrder([id]);
      expect(refused.status).toBe(400);
      expect(refused.text).toMatch(/unsupportedIdentifier/);
      const mixed = await acme.newOrder([id, { type: "dns", value: "x.example.test" }]);
      expect(mixed.status).toBe(400);
      expect(mixed.text).toMatch(/permanent-identifier alone|not support|unsupported/);
    });
  });
}

/** An attestation object whose x5c is `pem`'s certificate and whose other fields are well-formed
 * but meaningless: refused at the certificate check. */
function attObjFor(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  const stmt = new Map<string, never>(Object.entries({ ver: "2.0", alg: -7, x5c: [der], sig: Buffer.alloc(70, 1), certInfo: Buffer.alloc(100, 2), pubArea: Buffer.alloc(90, 3) }) as never);
  return encodeCbor(new Map<string, never>([["fmt", "tpm" as never], ["attStmt", stmt as never]])).toString("base64url");
}
