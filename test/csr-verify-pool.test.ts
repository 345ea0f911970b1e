// The CSR verification worker pool: same verdicts as in-process verification, and nothing lost when
// a worker dies with requests in flight.
import { afterAll, describe, expect, it } from "vitest";
import { parseCsr } from "../ca/x509/index.js";
import { CsrVerifyPool } from "../src/workers/csr-verify-pool.js";
import { makeCsr, opensslCsr } from "./support/csr.js";

const pool = new CsrVerifyPool(2);
afterAll(() => pool.close());

function tampered(der: Buffer): Buffer {
  const t = Buffer.from(der);
  t[t.length - 3]! ^= 0x01;
  return t;
}

describe("CsrVerifyPool", () => {
  it("accepts good CSRs and refuses bad signatures, many at once, with the in-process codes", async () => {
    const good = Array.from({ length: 40 }, (_, i) => makeCsr({ cn: `w${i}`, sans: { dns: [`w${i}.internal`] }, alg: i % 4 === 0 ? "Ed25519" : "P-256" }));
    const results = await Promise.allSettled(
      good.flatMap((c) => [pool.verify(parseCsr(c.der)), pool.verify(parseCsr(tampered(c.der)))]),
    );
    expect(pool.stats).toEqual({ byWorker: 80, inProcess: 0 });
    results.forEach((r, i) => {
      if (i % 2 === 0) expect(r.status, `good CSR ${i / 2}`).toBe("fulfilled");
      else {
        expect(r.status).toBe("rejected");
        expect((r as PromiseRejectedResult).reason).toMatchObject({ code: "bad_csr_signature" });
      }
    });
  });

  it("verifies openssl's RSA-PSS requests", async () => {
    const pem = opensslCsr(["-newkey", "rsa:2048", "-sigopt", "rsa_padding_mode:pss"], "/CN=pss", "DNS:pss.internal");
    await expect(pool.verify(parseCsr(pem))).resolves.toBeUndefined();
  });

  it("finishes requests in flight when a worker dies", async () => {
    const lonely = new CsrVerifyPool(1);
    try {
      const csrs = Array.from({ length: 30 }, (_, i) => makeCsr({ cn: `d${i}`, sans: { dns: [`d${i}.internal`] } }));
      const pending = csrs.map((c) => lonely.verify(parseCsr(c.der)));
      // The crash is posted before the batch (dispatched in a microtask), so the batch is in flight
      // to a worker that dies without answering.
      await (lonely as unknown as { terminateOneForTest(): Promise<void> }).terminateOneForTest();
      await expect(Promise.all(pending)).resolves.toHaveLength(30);
      // Every request got a verdict, from the worker before it died or in-process after.
      expect(lonely.stats.byWorker + lonely.stats.inProcess).toBe(30);
      expect(lonely.stats.inProcess).toBeGreaterThan(0);
      // ...and the replacement worker serves new requests.
      await expect(lonely.verify(parseCsr(makeCsr({ cn: "after", sans: { dns: ["after.internal"] } }).der))).resolves.toBeUndefined();
      await expect(lonely.verify(parseCsr(tampered(csrs[0]!.der)))).rejects.toMatchObject({ code: "bad_csr_signature" });
      expect(lonely.stats.byWorker + lonely.stats.inProcess).toBe(32);
    } finally {
      await lonely.close();
    }
  });
});
