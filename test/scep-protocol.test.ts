// SCEP at the HTTP level, with Signet's own SCEP test client (test/support/scep-client.ts) against a
// running server: what stock clients do (enrol, renew, poll, GetCert, GetCRL) and what they must not
// get away with (garbage, the wrong recipient, unsupported ciphers, bad signatures, replays, reused
// challenges, weak keys, a webhook that says no or says nothing). Every refusal is a 400 with a
// reason or a CertRep FAILURE with the fitting failInfo; never a 500, never a certificate.
import { execFileSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { octetString, printableString } from "../ca/x509/der.js";
import { SCEP_OIDS, buildCsr, parseCertificate, toPem } from "../ca/x509/index.js";
import { attribute, buildEnvelopedData, buildSignedData, parseSignedData, signerCertificate, toDer, verifySignerInfo } from "../scep/cms.js";
import { admin } from "./support/acme.js";
import { dbTargets } from "./support/databases.js";
import { ScepClient, generateRsaKey, selfSignedCertificate } from "./support/scep-client.js";
import { startTestServer, type TestServer } from "./support/server.js";

const STATIC = "protocol-static-secret-0123456789";

for (const target of dbTargets()) {
  describe(`SCEP protocol (${target.name})`, () => {
    let signet: TestServer;
    let hook: Server;
    let hookUrl: string;
    const hookCalls: Array<Record<string, unknown>> = [];
    const client = (p: string) => new ScepClient(`${signet.httpUrl}/scep/${p}`);
    const put = async (name: string, options: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
      const r = await admin(signet, "PUT", `/admin/v1/provisioners/${name}`, { type: "scep", profile: "client", options, ...extra });
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    };
    const certsFor = async (cn: string) => {
      const r = await admin<{ items: Array<{ commonName: string; status: string; serial: string }> }>(signet, "GET", `/admin/v1/certificates?commonName=${encodeURIComponent(cn)}&limit=100`);
      return r.body.items.filter((c) => c.commonName === cn);
    };
    const verifyLeaf = (der: Buffer) => {
      const dir = signet.home;
      const file = `${dir}/leaf-${randomBytes(4).toString("hex")}.pem`;
      execFileSync("sh", ["-c", `cat > ${file}`], { input: toPem("CERTIFICATE", der) });
      return execFileSync("openssl", ["verify", "-CAfile", `${dir}/ca/root.pem`, "-untrusted", `${dir}/ca/intermediate.pem`, file], { encoding: "utf8" });
    };

    beforeAll(async () => {
      signet = await startTestServer({ databaseUrl: await target.create() });
      await put("proto", { challenge: STATIC });
      await put("manual", { challenge: STATIC, manualApproval: true });
      await put("legacy", { challenge: STATIC, legacy: true });
      await put("strict", { challenge: STATIC, requireSha2: true });
      await put("narrow", { challenge: STATIC }, { policy: { allow: { dns: ["*.devices.test"] } } });
      // The webhook allows common names starting with "ok-", answers "deny-*" with a refusal, and
      // never answers "slow-*".
      hook = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const j = JSON.parse(body) as Record<string, unknown>;
          hookCalls.push(j);
          const cn = String(j.commonName);
          if (cn.startsWith("slow-")) return; // no answer: the server's timeout must refuse
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(cn.startsWith("ok-") ? { allow: true } : { allow: false, reason: "not an asset" }));
        });
      });
      await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
      hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/check`;
      await put("hooked", { webhook: { url: hookUrl, timeoutMs: 300 }, dynamicChallenges: false });
    }, 60_000);
    afterAll(async () => {
      hook?.closeAllConnections();
      await new Promise<void>((r) => (hook ? hook.close(() => r()) : r()));
      await signet?.close();
      await target.dropAll();
    });

    it("enrols by POST and by GET, with AES-128 and AES-256: SUCCESS signed by the RA, nonces echoed, openssl verifies", async () => {
      const c = client("proto");
      for (const [method, cipher] of [["POST", "aes-256-cbc"], ["GET", "aes-128-cbc"]] as const) {
        const cn = `dev-${method.toLowerCase()}-${cipher}`;
        const r = await c.enrol({ commonName: cn, challenge: STATIC, method, cipher });
        expect(r.httpStatus).toBe(200);
        expect(r.contentType).toBe("application/x-pki-message");
        expect(r.status, r.failInfo).toBe("SUCCESS");
        expect(r.signedByRa).toBe(true);
        expect(r.recipientNonceMatches).toBe(true);
        expect(r.transactionId).toBe(r.request.transactionId);
        const leaf = r.certificates![0]!;
        expect(verifyLeaf(leaf)).toMatch(/OK/);
        expect(parseCertificate(leaf).subject.commonName).toBe(cn);
        expect(r.certificates!.length).toBe(2);
      }
    });

    it("regression: a GET message whose base64 '+' was not URL-encoded still decodes", async () => {
      const c = client("proto");
      const key = generateRsaKey();
      const csr = buildCsr({ privateKey: key.privateKey, publicKey: key.publicKey, keyAlgorithm: "RSA-2048", subject: [{ type: "CN", value: "raw-get" }], challengePassword: STATIC });
      const built = await c.buildMessage("PKCSReq", { content: csr, signer: { certDer: selfSignedCertificate(key, "raw-get"), key: key.privateKey } });
      const b64 = built.raw.toString("base64");
      expect(b64).toContain("+");
      const r = await fetch(`${signet.httpUrl}/scep/proto?operation=PKIOperation&message=${b64.replace(/\//g, "%2F").replace(/=/g, "%3D")}`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("application/x-pki-message");
      expect(await certsFor("raw-get")).toHaveLength(1);
    });

    it("answers a replayed request with the earlier certificate, never a second one", async () => {
      const c = client("proto");
      const first = await c.enrol({ commonName: "replayed", challenge: STATIC });
      expect(first.status).toBe("SUCCESS");
      const again = await c.send(first.request.raw, "POST", { key: first.signer.key, recipientCertDer: first.signer.certDer, senderNonce: first.request.senderNonce });
      expect(again.status).toBe("SUCCESS");
      expect(again.certificates![0]!.equals(first.certificates![0]!)).toBe(true);
      expect(await certsFor("replayed")).toHaveLength(1);
    });

    it("refuses a transactionID that belongs to another key", async () => {
      const c = client("proto");
      const first = await c.enrol({ commonName: "tx-owner", challenge: STATIC, transactionId: "shared-tx-1" });
      expect(first.status).toBe("SUCCESS");
      const other = await c.enrol({ commonName: "tx-thief", challenge: STATIC, transactionId: "shared-tx-1" });
      expect(other).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      expect(await certsFor("tx-thief")).toHaveLength(0);
    });

    it("answers garbage, truncated and empty messages with a 400 and a reason, never a 500", async () => {
      const c = client("proto");
      const good = await c.buildMessage("PKCSReq", { content: Buffer.from("x"), signer: { certDer: selfSignedCertificate(generateRsaKey(), "t"), key: generateRsaKey().privateKey } });
      const inputs = [Buffer.alloc(0), randomBytes(512), Buffer.from("not cms at all"), good.raw.subarray(0, good.raw.length >> 1), good.raw.subarray(0, 40)];
      for (const raw of inputs) {
        const r = await c.send(raw);
        expect(r.httpStatus, raw.toString("hex").slice(0, 40)).toBeGreaterThanOrEqual(400);
        expect(r.httpStatus).toBeLessThan(500);
        expect(r.raw.toString("utf8").length).toBeGreaterThan(5);
      }
      const bad64 = await fetch(`${signet.httpUrl}/scep/proto?operation=PKIOperation&message=%%%`);
      expect(bad64.status).toBe(400);
      const unknownOp = await fetch(`${signet.httpUrl}/scep/proto?operation=Nope`);
      expect(unknownOp.status).toBe(400);
      expect(await unknownOp.text()).toMatch(/unknown SCEP operation/);
      const unknownProvisioner = await fetch(`${signet.httpUrl}/scep/nosuch?operation=GetCACaps`);
      expect(unknownProvisioner.status).toBe(404);
      const acmeProvisioner = await fetch(`${signet.httpUrl}/scep/acme?operation=GetCACaps`);
      expect(acmeProvisioner.status).toBe(404);
    });

    it("answers an envelope for another recipient with FAILURE badMessageCheck", async () => {
      const key = generateRsaKey();
      const cert = selfSignedCertificate(key, "stranger");
      const csr = buildCsr({ privateKey: key.privateKey, publicKey: key.publicKey, keyAlgorithm: "RSA-2048", subject: [{ type: "CN", value: "stranger" }], challengePassword: STATIC });
      const otherRecipient = selfSignedCertificate(generateRsaKey(), "not-the-ra");
      const raw = buildSignedData({
        content: buildEnvelopedData(csr, otherRecipient, "aes-256-cbc"),
        certificates: [cert],
        signer: {
          certDer: cert,
          key: key.privateKey,
          digest: "sha256",
          attributes: [
            attribute(SCEP_OIDS.messageType, printableString("19")),
            attribute(SCEP_OIDS.transactionID, printableString("stranger-1")),
            attribute(SCEP_OIDS.senderNonce, octetString(randomBytes(16))),
          ],
        },
      });
      const r = await client("proto").send(raw, "POST", { key: key.privateKey });
      expect(r).toMatchObject({ httpStatus: 200, status: "FAILURE", failInfo: "badMessageCheck" });
      expect(await certsFor("stranger")).toHaveLength(0);
    });

    it("refuses 3DES without legacy mode (badAlg) and accepts it with; refuses SHA-1 where requireSha2 is set", async () => {
      const des = await client("proto").enrol({ commonName: "des-modern", challenge: STATIC, cipher: "des-ede3-cbc" });
      expect(des).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
      const legacy = await client("legacy").enrol({ commonName: "des-legacy", challenge: STATIC, cipher: "des-ede3-cbc", digest: "sha1" });
      expect(legacy.status, legacy.failInfo).toBe("SUCCESS");
      const sha1 = await client("strict").enrol({ commonName: "sha1-strict", challenge: STATIC, digest: "sha1" });
      expect(sha1).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
      expect(await certsFor("des-modern")).toHaveLength(0);
      expect(await certsFor("sha1-strict")).toHaveLength(0);
    });

    it("answers a bad signature, and a PKCSReq signed by another key than its CSR's, with badMessageCheck", async () => {
      const c = client("proto");
      const ok = await c.buildMessage("PKCSReq", { content: randomBytes(10), signer: { certDer: selfSignedCertificate(generateRsaKey(), "x"), key: generateRsaKey().privateKey } });
      const tampered = Buffer.from(ok.raw);
      tampered[tampered.length - 3]! ^= 0xff;
      const r = await c.send(tampered);
      expect([r.httpStatus, r.status, r.failInfo]).toEqual([200, "FAILURE", "badMessageCheck"]);

      const key = generateRsaKey();
      const stranger = generateRsaKey();
      const pop = await c.enrol({ key, commonName: "no-pop", challenge: STATIC, signer: { certDer: selfSignedCertificate(stranger, "no-pop"), key: stranger.privateKey } });
      expect(pop).toMatchObject({ status: "FAILURE", failInfo: "badMessageCheck" });
      expect(await certsFor("no-pop")).toHaveLength(0);
    });

    it("spends a one-time challenge once; a reused one is FAILURE badRequest", async () => {
      const created = await admin<{ challenge: string }>(signet, "POST", "/admin/v1/scep/challenges", { provisioner: "proto", ttlSeconds: 600, commonName: "otc-device" });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const c = client("proto");
      const first = await c.enrol({ commonName: "otc-device", challenge: created.body.challenge });
      expect(first.status, first.failInfo).toBe("SUCCESS");
      const second = await c.enrol({ commonName: "otc-device", challenge: created.body.challenge });
      expect(second).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      expect(await certsFor("otc-device")).toHaveLength(1);
    });

    it("refuses a weak key and a name outside the provisioner's policy, recording no certificate", async () => {
      const weak = generateKeyPairSync("rsa", { modulusLength: 1024 });
      const r = await client("proto").enrol({ key: weak, commonName: "weak-key", challenge: STATIC });
      expect(r).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const outside = await client("narrow").enrol({ commonName: "printer.other.test", dns: ["printer.other.test"], challenge: STATIC });
      expect(outside).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const inside = await client("narrow").enrol({ commonName: "printer.devices.test", dns: ["printer.devices.test"], challenge: STATIC });
      expect(inside.status, inside.failInfo).toBe("SUCCESS");
      expect(await certsFor("weak-key")).toHaveLength(0);
      expect(await certsFor("printer.other.test")).toHaveLength(0);
    });

    it("holds a request PENDING; CertPoll says PENDING until approval, then SUCCESS; another key's poll is refused", async () => {
      const c = client("manual");
      const r = await c.enrol({ commonName: "laptop-77", challenge: STATIC });
      expect(r.status).toBe("PENDING");
      const tx = r.request.transactionId;
      const poll1 = await c.poll({ transactionId: tx, signer: r.signer, commonName: "laptop-77" });
      expect(poll1.status).toBe("PENDING");
      const list = await admin<{ items: Array<{ id: string; transactionId: string }> }>(signet, "GET", "/admin/v1/scep/requests?provisioner=manual");
      const id = list.body.items.find((t) => t.transactionId === tx)!.id;
      const approved = await admin<{ status: string; certificateSerial: string }>(signet, "POST", `/admin/v1/scep/requests/${id}/approve`);
      expect(approved.body.status).toBe("success");
      const poll2 = await c.poll({ transactionId: tx, signer: r.signer, commonName: "laptop-77" });
      expect(poll2.status, poll2.failInfo).toBe("SUCCESS");
      expect(parseCertificate(poll2.certificates![0]!).serialHex).toBe(approved.body.certificateSerial);
      const stranger = generateRsaKey();
      const foreign = await c.poll({ transactionId: tx, signer: { certDer: selfSignedCertificate(stranger, "laptop-77"), key: stranger.privateKey }, commonName: "laptop-77" });
      expect(foreign).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const unknown = await c.poll({ transactionId: "no-such-transaction", signer: r.signer, commonName: "laptop-77" });
      expect(unknown).toMatchObject({ status: "FAILURE", failInfo: "badCertId" });
    });

    it("GetCert returns an issued certificate (badCertId for an unknown one); GetCRL the current CRL", async () => {
      const c = client("proto");
      const e = await c.enrol({ commonName: "fetch-me", challenge: STATIC });
      const leaf = parseCertificate(e.certificates![0]!);
      const got = await c.getCert(leaf.issuerDer, leaf.serialHex, e.signer);
      expect(got.status).toBe("SUCCESS");
      expect(got.certificates![0]!.equals(e.certificates![0]!)).toBe(true);
      const none = await c.getCert(leaf.issuerDer, "0badc0de", e.signer);
      expect(none).toMatchObject({ status: "FAILURE", failInfo: "badCertId" });
      const crl = await c.getCrl(leaf.issuerDer, leaf.serialHex, e.signer);
      expect(crl.status, crl.failInfo).toBe("SUCCESS");
      const text = execFileSync("openssl", ["crl", "-inform", "DER", "-noout", "-issuer"], { input: crl.crls![0]!, encoding: "utf8" });
      expect(text).toMatch(/Signet Intermediate CA/);
    });

    it("renews with a current certificate, keeping its names; a renewal that adds a name is refused", async () => {
      const c = client("proto");
      const e = await c.enrol({ commonName: "renew-me", challenge: STATIC });
      const signer = { certDer: e.certificates![0]!, key: e.key.privateKey };
      const renewed = await c.renew({ key: e.key, commonName: "renew-me", signer, transactionId: "renew-1" });
      expect(renewed.status, renewed.failInfo).toBe("SUCCESS");
      expect(parseCertificate(renewed.certificates![0]!).serialHex).not.toBe(parseCertificate(signer.certDer).serialHex);
      // regression: a CertPoll on a renewal transaction is answered only to its own key.
      const stranger = generateRsaKey();
      const foreignPoll = await c.poll({ transactionId: "renew-1", signer: { certDer: selfSignedCertificate(stranger, "renew-me"), key: stranger.privateKey }, commonName: "renew-me" });
      expect(foreignPoll).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const ownPoll = await c.poll({ transactionId: "renew-1", signer, commonName: "renew-me" });
      expect(ownPoll.status, ownPoll.failInfo).toBe("SUCCESS");
      const wider = await c.renew({ key: e.key, commonName: "renew-me", dns: ["extra.example.test"], signer, transactionId: "renew-2" });
      expect(wider).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      // A RenewalReq signed by a self-signed certificate renews nothing.
      const selfSigned = await c.enrol({ messageType: "RenewalReq", commonName: "renew-me", transactionId: "renew-3" });
      expect(selfSigned).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
    });

    it("asks the webhook: allows what it allows, refuses what it refuses, and refuses when it does not answer in time", async () => {
      const c = client("hooked");
      const ok = await c.enrol({ commonName: "ok-camera", challenge: "anything" });
      expect(ok.status, ok.failInfo).toBe("SUCCESS");
      const denied = await c.enrol({ commonName: "deny-camera", challenge: "anything" });
      expect(denied).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const slow = await c.enrol({ commonName: "slow-camera", challenge: "anything" });
      expect(slow).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      expect(hookCalls.map((h) => h.commonName)).toEqual(expect.arrayContaining(["ok-camera", "deny-camera", "slow-camera"]));
      expect(hookCalls[0]).toMatchObject({ provisioner: "hooked", challenge: "anything", csr: expect.any(String) });
      expect(await certsFor("deny-camera")).toHaveLength(0);
      expect(await certsFor("slow-camera")).toHaveLength(0);
    });

    it("regression: an envelope that decrypts to something other than a CSR is badMessageCheck, like one that does not decrypt (no padding oracle)", async () => {
      const c = client("proto");
      const key = generateRsaKey();
      const signer = { certDer: selfSignedCertificate(key, "oracle"), key: key.privateKey };
      for (const content of [randomBytes(100), Buffer.from("30030201ff", "hex")]) {
        const r = await c.pkiOperation("PKCSReq", { content, signer });
        expect(r).toMatchObject({ status: "FAILURE", failInfo: "badMessageCheck" });
      }
    });

    it("regression: a request signed with an EC key is refused (badAlg) before anything is issued", async () => {
      const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const r = await client("proto").enrol({ key: ec, commonName: "ec-device", challenge: STATIC }).catch((e: unknown) => e);
      if (r instanceof Error) throw r;
      expect(r).toMatchObject({ status: "FAILURE", failInfo: "badAlg" });
      expect(await certsFor("ec-device")).toHaveLength(0);
    });

    it("regression: a wrong one-time challenge records no transaction; a webhook timeout is asked again on retry", async () => {
      const wrong = await client("proto").enrol({ commonName: "no-row", challenge: "not-a-real-one-time-challenge" });
      expect(wrong).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const rows = await signet.server.services.scep.store.listTransactions({}, 1000);
      expect(rows.filter((t) => t.subject.includes("no-row"))).toHaveLength(0);

      const c = client("hooked");
      const first = await c.enrol({ commonName: "slow-retry", challenge: "anything" });
      expect(first).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      const calls = hookCalls.filter((h) => h.commonName === "slow-retry").length;
      const again = await c.send(first.request.raw, "POST", { key: first.signer.key, recipientCertDer: first.signer.certDer, senderNonce: first.request.senderNonce });
      expect(again).toMatchObject({ status: "FAILURE", failInfo: "badRequest" });
      expect(hookCalls.filter((h) => h.commonName === "slow-retry").length).toBe(calls + 1);
    });

    it("refuses a webhook over plain http to another host", async () => {
      const r = await admin(signet, "PUT", "/admin/v1/provisioners/hook-remote", { type: "scep", options: { webhook: { url: "http://hooks.example.test/check" } } });
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toMatch(/https URL/);
    });

    it("GetNextCACert is a 404 while no rollover is staged, then returns the staged next CA signed by the RA", async () => {
      const none = await fetch(`${signet.httpUrl}/scep/proto?operation=GetNextCACert`);
      expect(none.status).toBe(404);
      expect(await none.text()).toMatch(/no CA rollover/);
      // An operator stages the next intermediate, issued by the root.
      const sub = await admin(signet, "PUT", "/admin/v1/provisioners/subca", { type: "admin", profile: "intermediate", options: { allowedProfiles: ["intermediate"] } });
      expect(sub.status, JSON.stringify(sub.body)).toBeLessThan(300);
      const k = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = toPem("CERTIFICATE REQUEST", buildCsr({ privateKey: k.privateKey, publicKey: k.publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: "Signet Intermediate CA 2" }] }));
      const issued = await admin<{ pem: string }>(signet, "POST", "/admin/v1/certificates", { csr, provisioner: "subca", profile: "intermediate" });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
      const staged = join(signet.home, "ca", "next-intermediate.pem");
      writeFileSync(staged, issued.body.pem);
      const r = await fetch(`${signet.httpUrl}/scep/proto?operation=GetNextCACert`);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("application/x-x509-next-ca-cert");
      const sd = parseSignedData(toDer(Buffer.from(await r.arrayBuffer())));
      const si = sd.signerInfos[0]!;
      const signer = signerCertificate(sd, si);
      verifySignerInfo(sd, si, createPublicKey({ key: signer.info.spki, format: "der", type: "spki" }), false);
      const inner = parseSignedData(toDer(sd.content!)).certificates;
      expect(inner.some((c) => c.equals(parseCertificate(issued.body.pem).der))).toBe(true);
      // Something that is not a CA issued by the root is not handed out.
      writeFileSync(staged, toPem("CERTIFICATE", selfSignedCertificate(generateRsaKey(), "not a CA")));
      const bogus = await fetch(`${signet.httpUrl}/scep/proto?operation=GetNextCACert`);
      expect(bogus.status).toBe(404);
      rmSync(staged);
    });

    it("logged no 500 and no stack trace", () => {
      expect(signet.logs.filter((l) => /"level":50/.test(l))).toEqual([]);
    });
  });
}
