// Regression tests for review findings: client text PostgreSQL cannot store never reaches it (a 400,
// not a 500); policies that would lock Signet out of its own HTTPS certificate are refused; intents
// left by a crash are swept; failed logins cannot grow the audit chain without bound; a failing event
// listener cannot turn a committed batch into an error; the first-start bootstrap runs once.
import { randomBytes } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootstrapDatabase } from "../src/bootstrap.js";
import { AUDITED_FAILURES_PER_MINUTE } from "../src/server/admin/auth.js";
import { makeCsr } from "./support/csr.js";
import { startTestServer, type TestServer } from "./support/server.js";

type Json = Record<string, any>;

let ts: TestServer;
beforeAll(async () => {
  ts = await startTestServer();
});
afterAll(() => ts?.close());

function call(method: string, url: string, body?: unknown, token: string | null = ts.token): Promise<LightMyRequestResponse> {
  return ts.server.https.inject({
    method: method as "GET",
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
}

function expectError(res: LightMyRequestResponse, status: number, code: string, message?: RegExp): Json {
  expect(res.statusCode, res.body).toBe(status);
  const body = res.json() as Json;
  expect(body.code).toBe(code);
  if (message) expect(body.message).toMatch(message);
  return body;
}

async function countCertificates(): Promise<number> {
  return ts.server.services.db.prisma.certificate.count();
}

describe("failed logins cannot grow the audit chain without bound", () => {
  // First in this file, so that no other failure from 127.0.0.1 shares the minute's window.
  it("audits the first failures per address per minute, counts the rest, and reports them next time", async () => {
    const before = await ts.server.services.db.prisma.auditEvent.count({ where: { event: "admin.auth_failed" } });
    const attempts = AUDITED_FAILURES_PER_MINUTE + 15;
    for (let i = 0; i < attempts; i++) expectError(await call("GET", "/admin/v1/provisioners", undefined, "sgt_admin_wrong"), 401, "unauthenticated");
    await ts.server.services.journal.drain();
    const after = await ts.server.services.db.prisma.auditEvent.count({ where: { event: "admin.auth_failed" } });
    expect(after - before).toBe(AUDITED_FAILURES_PER_MINUTE);
    const metrics = await ts.server.services.metrics.registry.getSingleMetricAsString("signet_admin_auth_failures_total");
    expect(metrics).toMatch(new RegExp(`reason="invalid_token"} ${attempts}\\b`));
  });
});

describe("text PostgreSQL cannot store is a 400, and nothing is recorded", () => {
  it("refuses NUL and unpaired surrogates anywhere in a request", async () => {
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } }).pem;
    const before = await countCertificates();
    expectError(await call("POST", "/admin/v1/certificates", { csr, provisioner: "a\u0000" }), 400, "bad_request", /body\.provisioner.*NUL/);
    expectError(await call("POST", "/admin/v1/certificates", { csr, identity: "x\u0000y" }), 400, "bad_request", /body\.identity/);
    expectError(await call("POST", "/admin/v1/certificates", { csr, nodeId: "n\ud800" }), 400, "bad_request", /unpaired surrogate/);
    expectError(await call("GET", "/admin/v1/certificates?identity=%00"), 400, "bad_request", /query\.identity/);
    expectError(await call("POST", "/admin/v1/admin-tokens", { name: "\u0000" }), 400, "bad_request");
    expectError(await call("PUT", "/admin/v1/provisioners/nul-options", { type: "admin", options: { "k\u0000": "v" } }), 400, "bad_request");
    expectError(await call("GET", "/admin/v1/audit/events?after=9999999999999999999"), 400, "bad_request");
    expect(await countCertificates()).toBe(before);
  });

  it("refuses control characters and over-long values in identity, node and common name", async () => {
    const before = await countCertificates();
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } }).pem;
    expectError(await call("POST", "/admin/v1/certificates", { csr, nodeId: "bell\u0007" }), 400, "bad_request", /nodeId contains control characters/);
    expectError(await call("POST", "/admin/v1/certificates", { csr, nodeId: "n".repeat(257) }), 400, "bad_request", /nodeId/);
    const controlCn = makeCsr({ cn: "esc\u001bname", sans: { dns: ["t.internal"] } }).pem;
    expectError(await call("POST", "/admin/v1/certificates", { csr: controlCn }), 400, "bad_request", /common name contains control characters/);
    const longCn = makeCsr({ cn: "c".repeat(65), sans: { dns: ["t.internal"] } }).pem;
    expectError(await call("POST", "/admin/v1/certificates", { csr: longCn }), 400, "bad_request", /common name must be 1-64/);
    expect(await countCertificates()).toBe(before);
  });

  it("answers an impossible provisioner name as unknown without asking the database", async () => {
    const csr = makeCsr({ cn: "t", sans: { dns: ["t.internal"] } }).pem;
    expectError(await call("POST", "/admin/v1/certificates", { csr, provisioner: "Not A Name!" }), 404, "unknown_provisioner");
  });
});

describe("Signet cannot be locked out of its own HTTPS certificate", () => {
  it("refuses an authority policy that would refuse the certificate's names, and accepts one that allows them", async () => {
    const body = expectError(await call("PUT", "/admin/v1/policy", { allow: { dns: [".corp.example"] } }), 409, "conflict", /Signet's own HTTPS certificate/);
    expect(body.detail.names).toEqual(expect.arrayContaining(["localhost", "127.0.0.1", "::1"]));
    expectError(await call("PUT", "/admin/v1/policy", { deny: { ip: ["::1"] } }), 409, "conflict");
    const ok = await call("PUT", "/admin/v1/policy", { allow: { dns: [".corp.example", "localhost"], ip: ["127.0.0.0/8", "::1"] } });
    expect(ok.statusCode, ok.body).toBe(200);
    // ...and it is in force for everyone else.
    const outside = makeCsr({ sans: { dns: ["elsewhere.example"] } }).pem;
    expectError(await call("POST", "/admin/v1/certificates", { csr: outside }), 403, "forbidden_name", /elsewhere\.example/);
    expect((await call("PUT", "/admin/v1/policy", {})).statusCode).toBe(200);
  });

  it("protects the signet-system provisioner", async () => {
    expectError(await call("PUT", "/admin/v1/provisioners/signet-system/policy", { allow: { dns: ["only.example"] } }), 409, "conflict", /own HTTPS certificate/);
    expectError(await call("PUT", "/admin/v1/provisioners/signet-system", { type: "admin", profile: "server", enabled: false }), 409, "conflict", /cannot be disabled/);
    expectError(await call("DELETE", "/admin/v1/provisioners/signet-system"), 409, "conflict", /cannot be deleted/);
    expect((await call("GET", "/admin/v1/provisioners/signet-system")).json()).toMatchObject({ enabled: true, policy: {} });
  });

  it("updates a provisioner's policy from the stored record, not a stale copy", async () => {
    expect((await call("PUT", "/admin/v1/provisioners/lost-update", { type: "admin", enabled: true })).statusCode).toBe(201);
    // Warm the read cache, then change `enabled` behind it; the policy update must not undo that.
    await ts.server.services.provisioners.get("lost-update");
    await ts.server.services.db.prisma.provisioner.update({ where: { name: "lost-update" }, data: { enabled: false } });
    const r = await call("PUT", "/admin/v1/provisioners/lost-update/policy", { allow: { dns: ["x.internal"] } });
    expect(r.statusCode, r.body).toBe(200);
    const row = await ts.server.services.db.prisma.provisioner.findUniqueOrThrow({ where: { name: "lost-update" } });
    expect(row.enabled).toBe(false);
    expect(row.policy).toEqual({ allow: { dns: ["x.internal"] } });
  });
});

describe("crash leftovers and listeners", () => {
  it("sweeps intents abandoned long ago into failed, audited, and leaves fresh ones alone", async () => {
    const s = ts.server.services;
    const insert = (serial: string, age: string) =>
      s.db.raw.query(
        `INSERT INTO certificates (serial, issuer_id, status, subject, profile, provisioner_id, provisioner_name, not_before, not_after, key_algorithm, subject_key_id, requested_by, created_at)
         VALUES ($1, 'x', 'pending', 'CN=x', 'client', 'p', 'admin', now(), now() + interval '1 hour', 'P-256', 'aa', 'test', now() - $2::interval)`,
        [serial, age],
      );
    const old = randomBytes(16).toString("hex");
    const fresh = randomBytes(16).toString("hex");
    await insert(old, "2 hours");
    await insert(fresh, "10 seconds");
    expect(await s.journal.sweepAbandoned(600)).toEqual([old]);
    expect(await s.certificates.get(old)).toMatchObject({ status: "failed", failure: expect.stringMatching(/abandoned/) });
    expect((await s.certificates.get(fresh))?.status).toBe("pending");
    const events = await s.audit.list({ limit: 10, target: old });
    expect(events.map((e) => [e.event, e.actor])).toEqual([["certificate.failed", "system:sweep"]]);
    expect((await s.audit.verify()).ok).toBe(true);
  });

  it("does not turn a committed issuance into an error when an event listener throws", async () => {
    const s = ts.server.services;
    s.journal.onEvents = () => {
      throw new Error("a broken listener");
    };
    try {
      const res = await call("POST", "/admin/v1/certificates", { csr: makeCsr({ cn: "l", sans: { dns: ["l.internal"] } }).pem });
      expect(res.statusCode, res.body).toBe(201);
      const serial = (res.json() as Json).certificate.serial as string;
      expect((await s.certificates.get(serial))?.status).toBe("valid");
      // Exactly one intent and one issuance event: the batch was not retried.
      expect((await s.audit.list({ limit: 10, target: serial })).map((e) => e.event)).toEqual(["certificate.intent", "certificate.issued"]);
    } finally {
      s.journal.onEvents = null;
    }
  });

  it("bootstraps a database once", async () => {
    const s = ts.server.services;
    const tokens = await s.db.prisma.adminToken.count();
    expect(await bootstrapDatabase(s, false)).toEqual({ adminTokenFile: null });
    expect(await s.db.prisma.adminToken.count()).toBe(tokens);
  });
});

describe("a root key export made by the CLI reaches the audit chain", () => {
  it("is audited once, at the next start", async () => {
    const { exportRootKey } = await import("../src/home/ca-files.js");
    const { TEST_PASSPHRASE } = await import("./support/ca-fixture.js");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const first = await startTestServer();
    const home = first.home;
    await first.close({ keepHome: true });
    const out = join(mkdtempSync(join(tmpdir(), "signet-export-")), "root.key");
    try {
      await exportRootKey(home, TEST_PASSPHRASE, { outFile: out, exportPassphrase: "a different export passphrase", remove: true });
      for (let start = 0; start < 2; start++) {
        const again = await startTestServer({ home });
        try {
          const events = await again.server.services.audit.list({ limit: 10, event: "ca.root_key_exported" });
          expect(events).toHaveLength(1);
          expect(events[0]!.data).toMatchObject({ removed: true, outFile: out });
          expect(again.server.services.authority.root.signer).toBeNull();
        } finally {
          await again.close({ keepHome: start === 0 });
        }
      }
    } finally {
      rmSync(join(out, ".."), { recursive: true, force: true });
    }
  });
});

describe("the journal's one-statement batches on the embedded database", () => {
  it("writes batches in one statement, and falls back to the exact path when an assumption fails", async () => {
    const s = ts.server.services;
    const before = { ...s.journal.stats };
    const issued = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        s.authority.sign({ csr: makeCsr({ cn: `b${i}`, sans: { dns: [`b${i}.internal`] } }).der, provisioner: "admin", via: "admin", actor: "test" }),
      ),
    );
    expect(s.journal.stats.atOnce).toBeGreaterThan(before.atOnce);
    expect(s.journal.stats.misses).toBe(before.misses);
    // An intent for a serial that exists: the optimistic statement inserts nothing for it, so the
    // batch is rolled back and written again exactly, where it fails alone with SerialConflict.
    const existing = await s.certificates.get(issued[0]!.serialHex);
    const { SerialConflict } = await import("../ca/ports.js");
    await expect(
      s.journal.recordIntent({ ...existing!, serialHex: existing!.serialHex }, { event: "certificate.intent", actor: "test", target: existing!.serialHex, data: {} }),
    ).rejects.toBeInstanceOf(SerialConflict);
    expect(s.journal.stats.misses).toBe(before.misses + 1);
    expect(s.journal.stats.exact).toBeGreaterThan(before.exact);
    expect((await s.audit.verify()).ok).toBe(true);
    for (const c of issued) expect((await s.certificates.get(c.serialHex))?.status).toBe("valid");
  });
});
