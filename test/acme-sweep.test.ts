// Regression: a replica that stops mid-validation or mid-finalize must not leave challenges and
// orders "processing" forever. The sweep every replica runs ends them (invalid, with an error).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChallengeValidator, ValidationRunner } from "../acme/index.js";
import { startAcmeTestbed, type AcmeTestbed } from "./support/acme.js";
import { AcmeRawClient } from "./support/acme-raw.js";
import { dbTargets } from "./support/databases.js";

for (const target of dbTargets()) {
  describe(`abandoned ACME work is ended (${target.name})`, () => {
    let bed: AcmeTestbed;
    let runner: ValidationRunner;

    beforeAll(async () => {
      bed = await startAcmeTestbed({ databaseUrl: await target.create() });
      const s = bed.signet.server.services;
      runner = new ValidationRunner(s.acme.store, new ChallengeValidator({ http01Port: 1, tlsAlpn01Port: 1, resolvers: [bed.dns.address], timeoutMs: 1000 }), { attempts: 1, retryDelayMs: 1 }, s.log as never);
    }, 60_000);
    afterAll(async () => {
      await runner?.close();
      await bed?.close();
      await target.dropAll();
    });

    it("a challenge left processing by a stopped replica becomes invalid, with its authorization and order", async () => {
      const client = await AcmeRawClient.connect(bed.directory(), bed.signet.rootPem);
      expect((await client.createAccount()).status).toBe(201);
      const order = await client.order(["stale.sweep.test"]);
      const authzUrl = order.authorizations[0]!;
      const authzId = authzUrl.split("/").at(-1)!;
      // What a replica that died right after accepting the challenge POST leaves behind.
      const sql = bed.signet.server.services.db.raw;
      await sql.query(
        `UPDATE acme_authorizations SET challenges = jsonb_set(challenges, '{0,status}', '"processing"'), updated_at = now() - interval '2 hours' WHERE id = $1`,
        [authzId],
      );
      // A fresh one is left alone.
      const fresh = await client.order(["fresh.sweep.test"]);
      const freshId = fresh.authorizations[0]!.split("/").at(-1)!;
      await sql.query(`UPDATE acme_authorizations SET challenges = jsonb_set(challenges, '{0,status}', '"processing"') WHERE id = $1`, [freshId]);

      const swept = await runner.sweep(60 * 60_000);
      expect(swept.validations).toBe(1);
      const authz = (await client.post(authzUrl)).json<{ status: string; challenges: { status: string; error?: { type: string } }[] }>();
      expect(authz.status).toBe("invalid");
      expect(authz.challenges.find((c) => c.status === "invalid")?.error?.type).toBe("urn:ietf:params:acme:error:serverInternal");
      const after = await client.readOrder(order.url);
      expect(after.status).toBe("invalid");
      expect(after.error).toMatchObject({ type: "urn:ietf:params:acme:error:serverInternal" });
      expect((await client.readOrder(fresh.url)).status).toBe("pending");
    });

    it("an order left processing by an interrupted finalize becomes invalid", async () => {
      const client = await AcmeRawClient.connect(bed.directory(), bed.signet.rootPem);
      expect((await client.createAccount()).status).toBe(201);
      const order = await client.order(["final.sweep.test"]);
      const id = order.url.split("/").at(-1)!;
      await bed.signet.server.services.db.raw.query(`UPDATE acme_orders SET status = 'processing', updated_at = now() - interval '2 hours' WHERE id = $1`, [id]);
      expect((await runner.sweep(60 * 60_000)).orders).toBe(1);
      const after = await client.readOrder(order.url);
      expect(after.status).toBe("invalid");
      expect(after.error).toMatchObject({ type: "urn:ietf:params:acme:error:serverInternal" });
    });
  });
}
