// Conformance: certbot (Debian's certbot 2.x, the EFF's client) against a running Signet: account
// registration with External Account Binding on a provisioner that requires it, issuance with
// certbot's own standalone http-01 server, forced renewal, and revocation for keyCompromise, which
// the admin API and Signet's OCSP responder (asked by `openssl ocsp`) then report.
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCertificate } from "../ca/x509/index.js";
import { admin, freePort, opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { dbTargets } from "./support/databases.js";
import { describeRun, findPeer, opensslOcsp, runPeer, type PeerRun } from "./support/peers.js";

const certbot = findPeer("certbot");
const PROVISIONER = "acme-eab";
const NAME = "web.certbot.test";
const EMAIL = "a@example.internal";
/** One certbot command; issuance waits for Signet's validator, which takes well under this. */
const RUN_TIMEOUT = 90_000;

describe.skipIf(certbot.skip)("certbot", () => {
  // With SIGNET_REQUIRE_PEERS=1 a missing binary is a failed test, not only a failed hook.
  it("is installed", () => void certbot.require());

  for (const target of dbTargets()) {
    describe(`certbot against Signet (${target.name})`, () => {
      let bed: AcmeTestbed;
      let dir: string;
      let directory: string;

      /** certbot with its state in `base` (config, work and logs dirs), trusting Signet's root. */
      const run = (args: string[], base = dir): Promise<PeerRun> =>
        runPeer(
          certbot.require(),
          [...args, "--non-interactive", "--config-dir", join(base, "config"), "--work-dir", join(base, "work"), "--logs-dir", join(base, "logs")],
          { env: { REQUESTS_CA_BUNDLE: bed.rootFile }, timeoutMs: RUN_TIMEOUT },
        );
      const live = (file: string) => join(dir, "config", "live", NAME, file);
      const serialOf = (pem: string) => parseCertificate(pem.split(/(?<=-----END CERTIFICATE-----)/)[0]!).serialHex;
      const newEabKey = async () => {
        const res = await admin<{ kid: string; hmacKey: string }>(bed.signet, "POST", "/admin/v1/acme/eab", { provisioner: PROVISIONER });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        return res.body;
      };
      const eabState = async (kid: string) => {
        const res = await admin<{ items: { kid: string; state: string; accountId: string | null }[] }>(bed.signet, "GET", `/admin/v1/acme/eab?provisioner=${PROVISIONER}`);
        return res.body.items.find((k) => k.kid === kid);
      };

      beforeAll(async () => {
        certbot.require();
        // certbot's standalone authenticator binds the port Signet's validator fetches http-01 from.
        bed = await startAcmeTestbed({ databaseUrl: await target.create(), http01Port: await freePort() });
        const put = await admin(bed.signet, "PUT", `/admin/v1/provisioners/${PROVISIONER}`, {
          type: "acme",
          // certbot sets up TLS servers; a new provisioner's profile is "client" unless told otherwise.
          profile: "server",
          options: { requireEab: true },
        });
        expect(put.status, JSON.stringify(put.body)).toBe(201);
        directory = bed.directory(PROVISIONER);
        dir = mkdtempSync(join(tmpdir(), "signet-certbot-"));
      }, 60_000);
      afterAll(async () => {
        await bed?.close();
        await target.dropAll();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it("refuses to register without EAB, or with an EAB key whose HMAC key is wrong", async () => {
        const base = mkdtempSync(join(tmpdir(), "signet-certbot-bad-"));
        try {
          const none = await run(["register", "--server", directory, "--agree-tos", "-m", EMAIL], base);
          expect(none.code, describeRun(none)).not.toBe(0);
          expect(`${none.stdout}${none.stderr}`, describeRun(none)).toMatch(/requires external account binding/i);

          const { kid } = await newEabKey();
          const wrongKey = Buffer.alloc(32, 7).toString("base64url");
          const wrong = await run(["register", "--server", directory, "--agree-tos", "-m", EMAIL, "--eab-kid", kid, `--eab-hmac-key=${wrongKey}`], base);
          expect(wrong.code, describeRun(wrong)).not.toBe(0);
          expect(`${wrong.stdout}${wrong.stderr}`, describeRun(wrong)).toMatch(/external account binding MAC does not verify/i);
          // A failed binding does not spend the single-use key.
          expect(await eabState(kid)).toMatchObject({ state: "usable", accountId: null });
        } finally {
          rmSync(base, { recursive: true, force: true });
        }
      }, 4 * RUN_TIMEOUT);

      it("registers with EAB, then certonly --standalone gets a certificate for http-01 that openssl verifies; OCSP says good", async () => {
        const { kid, hmacKey } = await newEabKey();
        const reg = await run(["register", "--server", directory, "--agree-tos", "-m", EMAIL, "--eab-kid", kid, `--eab-hmac-key=${hmacKey}`]);
        expect(reg.code, describeRun(reg)).toBe(0);
        expect(await eabState(kid)).toMatchObject({ state: "used", accountId: expect.any(String) });

        const issue = await run([
          "certonly",
          "--standalone",
          "--http-01-port",
          String(bed.http01Port),
          "--http-01-address",
          "127.0.0.1",
          "--server",
          directory,
          "-d",
          NAME,
        ]);
        expect(issue.code, describeRun(issue)).toBe(0);

        const fullchain = readFileSync(live("fullchain.pem"), "utf8");
        expect(opensslVerify(bed.rootFile, fullchain, "sslserver")).toContain("OK");
        expect(parseCertificate(readFileSync(live("cert.pem"), "utf8")).sans.dns).toEqual([NAME]);
        // Signet's validator resolved the name through the test DNS server and fetched from certbot.
        expect(bed.dns.queries.some((q) => q.name === NAME)).toBe(true);

        const ocsp = await opensslOcsp({ url: `${bed.signet.httpUrl}/ocsp`, issuerFile: live("chain.pem"), certFile: live("cert.pem"), rootFile: bed.rootFile });
        expect(ocsp.status, ocsp.out).toBe("good");
        expect(ocsp.out).toContain("Response verify OK");
      }, 3 * RUN_TIMEOUT);

      it("renew --force-renewal replaces the certificate with a new one that openssl verifies", async () => {
        const before = serialOf(readFileSync(live("cert.pem"), "utf8"));
        const renew = await run(["renew", "--force-renewal", "--no-random-sleep-on-renew"]);
        expect(renew.code, describeRun(renew)).toBe(0);
        // live/ now points at the second version in archive/.
        expect(realpathSync(live("cert.pem"))).toMatch(/cert2\.pem$/);
        const fullchain = readFileSync(live("fullchain.pem"), "utf8");
        expect(serialOf(fullchain)).not.toBe(before);
        expect(opensslVerify(bed.rootFile, fullchain, "sslserver")).toContain("OK");
      }, 2 * RUN_TIMEOUT);

      it("revoke --reason keycompromise: the admin API and OCSP say revoked (keyCompromise)", async () => {
        const certFile = live("cert.pem");
        const serial = serialOf(readFileSync(certFile, "utf8"));
        const revoke = await run(["revoke", "--cert-path", certFile, "--reason", "keycompromise", "--no-delete-after-revoke", "--server", directory]);
        expect(revoke.code, describeRun(revoke)).toBe(0);

        const got = await admin<{ status: string; revocationReason: string | null }>(bed.signet, "GET", `/admin/v1/certificates/${serial}`);
        expect(got.status).toBe(200);
        expect(got.body).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });

        const ocsp = await opensslOcsp({ url: `${bed.signet.httpUrl}/ocsp`, issuerFile: live("chain.pem"), certFile, rootFile: bed.rootFile });
        expect(ocsp.status, ocsp.out).toBe("revoked");
        expect(ocsp.out).toMatch(/Reason: keyCompromise/);
        expect(ocsp.out).toContain("Response verify OK");
      }, 2 * RUN_TIMEOUT);
    });
  }
});
