// `signet revoke --account` (POST /admin/v1/revocations {account}) with a real ACME account: every
// certificate the account ordered is revoked, and its next finalize is refused until it is unblocked.
import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCsr, parseCertificate } from "../ca/x509/index.js";
import { admin, startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { AcmeRawClient, type OrderView } from "./support/acme-raw.js";

function csr(names: string[]): Buffer {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [], sans: { dns: names } });
}

describe("revoking and blocking an ACME account", () => {
  let bed: AcmeTestbed;
  beforeAll(async () => {
    bed = await startAcmeTestbed();
  }, 60_000);
  afterAll(async () => bed?.close());

  const ready = async (client: AcmeRawClient, name: string): Promise<OrderView> => {
    const order = await client.order([name]);
    await client.authorize(order, (t, ka) => void bed.http01.set(t, ka));
    return order;
  };

  it("revokes what the account holds, refuses its next finalize, and issues again once unblocked", async () => {
    const client = await AcmeRawClient.connect(bed.directory(), bed.signet.rootPem);
    expect((await client.createAccount()).status).toBe(201);
    const accountId = client.kid!.split("/").at(-1)!;
    const serials: string[] = [];
    for (const n of ["one.block.test", "two.block.test"]) {
      const order = await ready(client, n);
      const fin = await client.finalize(order, csr([n]));
      expect(fin.status, fin.text).toBe(200);
      const cert = await client.post(fin.json<{ certificate: string }>().certificate);
      serials.push(parseCertificate(cert.text.split(/(?<=-----END CERTIFICATE-----)/)[0]!).serialHex);
    }

    const bulk = await admin<{ count: number; block: { kind: string; value: string } }>(bed.signet, "POST", "/admin/v1/revocations", { account: accountId, reason: "keyCompromise", note: "test" });
    expect(bulk.status).toBe(200);
    expect(bulk.body.count).toBe(2);
    expect(bulk.body.block).toMatchObject({ kind: "account", value: accountId });
    for (const serial of serials) {
      expect((await admin<{ status: string }>(bed.signet, "GET", `/admin/v1/certificates/${serial}`)).body.status).toBe("revoked");
    }

    const blocked = await ready(client, "three.block.test");
    const refused = await client.finalize(blocked, csr(["three.block.test"]));
    expect(refused.status).toBe(403);
    expect(refused.json<{ type: string; detail: string }>()).toMatchObject({ type: "urn:ietf:params:acme:error:unauthorized" });
    expect(refused.json<{ detail: string }>().detail).toMatch(/blocked/);
    // Nothing was issued for it: the order records the refusal.
    expect((await client.readOrder(blocked.url)).status).toBe("invalid");

    expect((await admin(bed.signet, "DELETE", `/admin/v1/blocks/account?value=${encodeURIComponent(accountId)}`)).status).toBe(200);
    const again = await ready(client, "four.block.test");
    expect((await client.finalize(again, csr(["four.block.test"]))).status).toBe(200);
  });
});
