// Conformance: micromdm's scepclient (Debian package `scep`, 2.1) against a running Signet:
// GetCACaps/GetCACert, enrolment with a static and with a one-time challenge, renewal with the
// certificate it holds, a PENDING request approved by an operator and then polled, and refusals of a
// wrong or reused challenge. openssl verifies every certificate against Signet's root.
//
// scepclient 2.1 encrypts every request with single DES and signs it with SHA-1, whatever GetCACaps
// says, so its provisioners run in legacy mode; and it encrypts to every certificate GetCACert
// returns, so it is pointed at the RA with -ca-fingerprint, as for any SCEP server with an RA
// (scep/DIVERGENCES.md).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../ca/x509/index.js";
import { parseSignedData, toDer } from "../scep/cms.js";
import { admin } from "./support/acme.js";
import { dbTargets } from "./support/databases.js";
import { describeRun, findPeer, runPeer, type PeerRun } from "./support/peers.js";
import { startTestServer, type TestServer } from "./support/server.js";

const scepclient = findPeer("scepclient", "scep");
const STATIC = "static-secret-0123456789abcdef";
const RUN_TIMEOUT = 60_000;

describe.skipIf(scepclient.skip)("scepclient", () => {
  it("is installed", () => void scepclient.require());

  for (const target of dbTargets()) {
    describe(`scepclient against Signet (${target.name})`, () => {
      let signet: TestServer;
      let dir: string;
      let raFingerprint: string;
      let rootFile: string;
      let intermediateFile: string;

      const url = (p: string) => `${signet.httpUrl}/scep/${p}`;
      const run = (provisioner: string, device: string, args: string[], timeoutMs = RUN_TIMEOUT): Promise<PeerRun> =>
        runPeer(scepclient.require(), ["-server-url", url(provisioner), "-private-key", join(dir, device, "key.pem"), "-ca-fingerprint", raFingerprint, ...args], { timeoutMs });
      const certFile = (device: string) => join(dir, device, "client.pem");
      const verify = (device: string) =>
        execFileSync("openssl", ["verify", "-CAfile", rootFile, "-untrusted", intermediateFile, "-purpose", "sslclient", certFile(device)], { encoding: "utf8" });
      const put = async (name: string, options: Record<string, unknown>) => {
        const r = await admin(signet, "PUT", `/admin/v1/provisioners/${name}`, { type: "scep", profile: "client", options });
        expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
      };
      /** The id of the pending request for `cn`, once scepclient's first PKCSReq has arrived (bounded wait). */
      const pendingRequestOf = async (cn: string): Promise<string | undefined> => {
        for (let i = 0; i < 100; i++) {
          const id = (await signet.server.services.scep.store.listTransactions({ status: "pending" }, 10)).find((t) => t.subject.includes(cn))?.id;
          if (id) return id;
          await new Promise((r) => setTimeout(r, 200));
        }
        return undefined;
      };
      const device = (name: string) => {
        mkdirSync(join(dir, name), { recursive: true });
        return name;
      };

      beforeAll(async () => {
        scepclient.require();
        signet = await startTestServer({ databaseUrl: await target.create() });
        dir = mkdtempSync(join(tmpdir(), "signet-scepclient-"));
        rootFile = join(signet.home, "ca", "root.pem");
        intermediateFile = join(signet.home, "ca", "intermediate.pem");
        await put("devices", { challenge: STATIC, legacy: true, dynamicChallenges: true });
        await put("approval", { challenge: STATIC, legacy: true, manualApproval: true });
        const cacert = await fetch(`${url("devices")}?operation=GetCACert`);
        const certs = parseSignedData(toDer(Buffer.from(await cacert.arrayBuffer()))).certificates;
        raFingerprint = createHash("sha256").update(certs[0]!).digest("hex");
      }, 60_000);
      afterAll(async () => {
        await signet?.close();
        await target.dropAll();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it("GetCACaps lists what Signet supports, and GetCACert the RA and the CA, also at pkiclient.exe", async () => {
        for (const path of [url("devices"), `${url("devices")}/pkiclient.exe`]) {
          const caps = (await (await fetch(`${path}?operation=GetCACaps`)).text()).trim().split("\n");
          for (const c of ["POSTPKIOperation", "SHA-256", "SHA-512", "AES", "SCEPStandard", "Renewal", "GetNextCACert", "DES3", "SHA-1"]) expect(caps).toContain(c);
          const r = await fetch(`${path}?operation=GetCACert`);
          expect(r.headers.get("content-type")).toBe("application/x-x509-ca-ra-cert");
          const dump = execFileSync("openssl", ["pkcs7", "-inform", "DER", "-print_certs", "-noout"], { input: Buffer.from(await r.arrayBuffer()), encoding: "utf8" });
          expect(dump).toMatch(/subject=CN = Signet SCEP RA/);
          expect(dump).toMatch(/subject=CN = Signet Intermediate CA/);
        }
        // Without legacy mode, DES and SHA-1 are not offered.
        await put("modern", { challenge: STATIC });
        const modern = (await (await fetch(`${url("modern")}?operation=GetCACaps`)).text()).split("\n");
        expect(modern).not.toContain("DES3");
        expect(modern).not.toContain("SHA-1");
      });

      it("enrols with the static challenge; openssl verifies the certificate", async () => {
        const d = device("static-1");
        const r = await run("devices", d, ["-challenge", STATIC, "-cn", "printer-7"]);
        expect(r.code, describeRun(r)).toBe(0);
        expect(verify(d)).toMatch(/OK/);
        const cert = parseCertificate(readFileSync(certFile(d), "utf8"));
        expect(cert.subject.commonName).toBe("printer-7");
        expect(cert.extKeyUsage).toEqual(["clientAuth"]);
        const rec = await admin<{ provisioner: string; status: string }>(signet, "GET", `/admin/v1/certificates/${cert.serialHex}`);
        expect(rec.body).toMatchObject({ provisioner: "devices", status: "valid" });
      });

      it("refuses a wrong challenge with failInfo badRequest and issues nothing", async () => {
        const d = device("wrong");
        const r = await run("devices", d, ["-challenge", "not-the-secret-000000000", "-cn", "intruder"]);
        expect(r.code, describeRun(r)).not.toBe(0);
        expect(describeRun(r)).toMatch(/failInfo: badRequest/);
        expect(existsSync(certFile(d))).toBe(false);
      });

      it("a provisioner not in legacy mode refuses scepclient's DES envelope with badAlg", async () => {
        const d = device("modern-1");
        const r = await run("modern", d, ["-challenge", STATIC, "-cn", "modern-1"]);
        expect(r.code, describeRun(r)).not.toBe(0);
        expect(describeRun(r)).toMatch(/failInfo: badAlg/);
        expect(existsSync(certFile(d))).toBe(false);
      });

      it("enrols with a one-time challenge bound to the device, which cannot be used twice", async () => {
        const svc = signet.server.services.scep.service;
        const p = (await signet.server.services.provisioners.get("devices"))!;
        const { challenge } = await svc.createChallenge(p, { ttlSeconds: 600, binding: { commonName: "sensor-1", nodeId: "node-sensor-1" } }, "test");
        const d = device("otc-1");
        const r = await run("devices", d, ["-challenge", challenge, "-cn", "sensor-1"]);
        expect(r.code, describeRun(r)).toBe(0);
        expect(verify(d)).toMatch(/OK/);
        const cert = parseCertificate(readFileSync(certFile(d), "utf8"));
        const rec = await admin<{ nodeId: string }>(signet, "GET", `/admin/v1/certificates/${cert.serialHex}`);
        expect(rec.body.nodeId).toBe("node-sensor-1");

        const again = device("otc-2");
        const reuse = await run("devices", again, ["-challenge", challenge, "-cn", "sensor-1"]);
        expect(reuse.code, describeRun(reuse)).not.toBe(0);
        expect(describeRun(reuse)).toMatch(/failInfo: badRequest/);
        expect(existsSync(certFile(again))).toBe(false);

        // A challenge bound to one common name does not enrol another.
        const other = await svc.createChallenge(p, { ttlSeconds: 600, binding: { commonName: "sensor-2" } }, "test");
        const d3 = device("otc-3");
        const wrongCn = await run("devices", d3, ["-challenge", other.challenge, "-cn", "sensor-9"]);
        expect(wrongCn.code, describeRun(wrongCn)).not.toBe(0);
        expect(existsSync(certFile(d3))).toBe(false);
      });

      it("renews with the certificate it holds (RenewalReq): a new certificate for the same device", async () => {
        const d = device("renew-1");
        const first = await run("devices", d, ["-challenge", STATIC, "-cn", "kiosk-3"]);
        expect(first.code, describeRun(first)).toBe(0);
        const before = parseCertificate(readFileSync(certFile(d), "utf8"));
        // With client.pem present, scepclient signs a RenewalReq with it; no challenge.
        const renewed = await run("devices", d, ["-cn", "kiosk-3"]);
        expect(renewed.code, describeRun(renewed)).toBe(0);
        expect(verify(d)).toMatch(/OK/);
        const after = parseCertificate(readFileSync(certFile(d), "utf8"));
        expect(after.serialHex).not.toBe(before.serialHex);
        expect(after.subject.commonName).toBe("kiosk-3");
        expect(after.spki.equals(before.spki)).toBe(true);
      });

      it("a renewal signed with a revoked certificate is refused", async () => {
        const d = device("renew-revoked");
        const first = await run("devices", d, ["-challenge", STATIC, "-cn", "kiosk-4"]);
        expect(first.code, describeRun(first)).toBe(0);
        const cert = parseCertificate(readFileSync(certFile(d), "utf8"));
        const rv = await admin(signet, "POST", `/admin/v1/certificates/${cert.serialHex}/revoke`, { reason: "keyCompromise" });
        expect(rv.status, JSON.stringify(rv.body)).toBe(200);
        const copy = readFileSync(certFile(d));
        const renewed = await run("devices", d, ["-cn", "kiosk-4"]);
        expect(renewed.code, describeRun(renewed)).not.toBe(0);
        expect(describeRun(renewed)).toMatch(/failInfo: badRequest/);
        expect(readFileSync(certFile(d)).equals(copy)).toBe(true);
      });

      it("holds a request PENDING until an operator approves it; scepclient's next poll gets the certificate", async () => {
        const d = device("pending-1");
        const svc = signet.server.services.scep.service;
        // scepclient re-sends its request every 30 s while the answer is PENDING.
        const running = run("approval", d, ["-challenge", STATIC, "-cn", "laptop-12"], 100_000);
        const pendingId = await pendingRequestOf("laptop-12");
        expect(pendingId, "the request should be pending").toBeDefined();
        expect(existsSync(certFile(d))).toBe(false);
        const approved = await svc.approve(pendingId!, "admin-token:test");
        expect(approved.status).toBe("success");
        const r = await running;
        expect(r.code, describeRun(r)).toBe(0);
        expect(verify(d)).toMatch(/OK/);
        expect(parseCertificate(readFileSync(certFile(d), "utf8")).serialHex).toBe(approved.certificateSerial);
      }, 120_000);

      it("a rejected PENDING request ends in FAILURE at the next poll", async () => {
        const d = device("pending-2");
        const svc = signet.server.services.scep.service;
        const running = run("approval", d, ["-challenge", STATIC, "-cn", "laptop-13"], 100_000);
        const pendingId = await pendingRequestOf("laptop-13");
        expect(pendingId).toBeDefined();
        await svc.reject(pendingId!, "admin-token:test", "not an asset of ours");
        const r = await running;
        expect(r.code, describeRun(r)).not.toBe(0);
        expect(describeRun(r)).toMatch(/failInfo: badRequest/);
        expect(existsSync(certFile(d))).toBe(false);
      }, 120_000);

      it("audits pending, approved, rejected and refused requests", async () => {
        for (const event of ["scep.request.pending", "scep.request.approved", "scep.request.rejected", "scep.request.refused"]) {
          const r = await admin<{ items: Array<{ event: string }> }>(signet, "GET", `/admin/v1/audit/events?event=${event}`);
          expect(r.body.items.length, event).toBeGreaterThan(0);
        }
      });
    });
  }
});
