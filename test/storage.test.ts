// The Prisma implementations of the storage ports, against the real databases: embedded PGlite always,
// PostgreSQL when TEST_DATABASE_URL is set. Migrations, the group-commit journal, the audit chain's
// tamper detection, certificate queries, provisioners, admin tokens and the PGlite lock file.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_EVENTS } from "../ca/audit.js";
import { isSignetError } from "../ca/errors.js";
import { SerialConflict, type CertificateIntent } from "../ca/ports.js";
import type { ProvisionerInput } from "../ca/provisioners/index.js";
import { bootstrapDatabase } from "../src/bootstrap.js";
import { loadConfig } from "../src/config.js";
import { AdminTokenRepository, hashToken } from "../src/db/admin-tokens.js";
import { migrationsDir, openDatabase, type Database } from "../src/db/database.js";
import { applyMigrations, readMigrations } from "../src/db/migrate.js";
import { createLogger } from "../src/log.js";
import { openServices, type Services } from "../src/services.js";
import { removeTestCas, TEST_HTTP_URL, testCa } from "./support/ca-fixture.js";
import { makeCsr } from "./support/csr.js";
import { dbTargets } from "./support/databases.js";
import { count, directIntent, removeTempHomes, tempHome } from "./support/storage.js";
import { expectCodeAsync } from "./support/expect-code.js";

afterAll(() => {
  removeTempHomes();
  removeTestCas();
});



const auditCount = (db: Database) => count(db, "SELECT count(*)::int AS n FROM audit_events");

function intent(serialHex: string, issuerId: string): CertificateIntent {
  return directIntent(serialHex, issuerId, { names: { dns: ["direct.internal"], ip: [], uri: [], email: [] }, notBefore: new Date() });
}

function serialOf(n: number): string {
  return (0x10 + n).toString(16).padStart(2, "0") + "aa".repeat(15);
}

function event(target: string) {
  return { event: "test.event", actor: "test", target, data: { target } };
}

async function openFor(url: string | undefined, home: string): Promise<Database> {
  return openDatabase({ url, dataDir: join(home, "db") });
}

describe.each(dbTargets())("migrations on $name", (target) => {
  afterAll(() => target.dropAll());

  it("records one finished row per migration folder with the file's sha256, applies nothing twice, and refuses an edited migration", async () => {
    const url = await target.create();
    const home = tempHome();
    const folders = readdirSync(migrationsDir(), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(folders.length).toBeGreaterThan(0);

    let db = await openFor(url, home);
    let firstRows: Array<{ id: string; migration_name: string; checksum: string; finished_at: Date | null }>;
    try {
      firstRows = await db.raw.query(`SELECT id, migration_name, checksum, finished_at FROM "_prisma_migrations" ORDER BY migration_name`);
      expect(firstRows.map((r) => r.migration_name)).toEqual(folders);
      for (const r of firstRows) {
        const sql = readFileSync(join(migrationsDir(), r.migration_name, "migration.sql"));
        expect(r.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
        expect(r.finished_at).not.toBeNull();
      }
      // The schema is there: the audit chain starts at the genesis head.
      expect(await count(db, "SELECT count(*)::int AS n FROM audit_head WHERE seq = 0")).toBe(1);
    } finally {
      await db.close();
    }

    db = await openFor(url, home);
    try {
      const again = await db.raw.query<{ id: string; migration_name: string }>(`SELECT id, migration_name FROM "_prisma_migrations" ORDER BY migration_name`);
      expect(again.map((r) => [r.id, r.migration_name])).toEqual(firstRows.map((r) => [r.id, r.migration_name]));
      expect(await applyMigrations(db.raw, readMigrations(migrationsDir()))).toEqual([]);
      expect(await count(db, `SELECT count(*)::int AS n FROM "_prisma_migrations"`)).toBe(folders.length);
      await db.raw.query(`UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = $2`, ["0".repeat(64), folders[0]]);
    } finally {
      await db.close();
    }

    await expectCodeAsync(openFor(url, home), "config_invalid", new RegExp(`migration ${folders[0]}.*changed`));
  });
});

describe.each(dbTargets())("storage on $name", (target) => {
  let s: Services;
  let db: Database;
  let bootstrapEvents: number;

  beforeAll(async () => {
    const url = await target.create();
    const home = tempHome();
    const cfg = loadConfig({ SIGNET_HOME: home, SIGNET_HTTP_URL: TEST_HTTP_URL, ...(url ? { DATABASE_URL: url } : {}) });
    db = await openFor(url, home);
    const { ca } = await testCa();
    s = await openServices(cfg, createLogger("silent"), ca, db);
    await bootstrapDatabase(s, false);
    bootstrapEvents = await auditCount(db);
  });

  afterAll(async () => {
    await s?.close();
    await target.dropAll();
  });

  async function sign(opts: { cn?: string; dns?: string[]; nodeId?: string; identity?: string; spiffeId?: string; provisioner?: string; lifetimeSeconds?: number } = {}) {
    const csr = makeCsr({ cn: opts.cn ?? "workload", sans: { dns: opts.dns ?? [] } });
    return s.authority.sign({
      csr: csr.pem,
      provisioner: opts.provisioner ?? "admin",
      via: "admin",
      actor: "test",
      nodeId: opts.nodeId,
      identity: opts.identity,
      spiffeId: opts.spiffeId,
      lifetimeSeconds: opts.lifetimeSeconds,
    });
  }

  it("bootstrap wrote the admin provisioner and the first admin token, audited", async () => {
    const events = await s.audit.list({ limit: 100 });
    expect(events.map((e) => e.event)).toEqual([AUDIT_EVENTS.provisionerCreated, AUDIT_EVENTS.adminTokenCreated]);
    expect(bootstrapEvents).toBe(2);
  });

  it("stores 300 concurrent issuances through the journal, each valid with its DER, two audit events each", async () => {
    const N = 300;
    const before = await auditCount(db);
    const results = await Promise.allSettled(Array.from({ length: N }, (_, i) => sign({ cn: `w-${i}`, nodeId: "bulk" })));
    const rejected = results.filter((r) => r.status === "rejected");
    expect(rejected.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    const issued = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<typeof sign>>>).value);
    expect(new Set(issued.map((c) => c.serialHex)).size).toBe(N);

    const rows = await db.prisma.certificate.findMany({ where: { nodeId: "bulk" } });
    expect(rows).toHaveLength(N);
    const bySerial = new Map(issued.map((c) => [c.serialHex, c]));
    for (const r of rows) {
      expect(r.status).toBe("valid");
      expect(r.der).not.toBeNull();
      const der = Buffer.from(r.der!);
      expect(createHash("sha256").update(der).digest("hex")).toBe(r.fingerprint);
      expect(der.equals(bySerial.get(r.serial)!.der)).toBe(true);
    }

    expect(await auditCount(db)).toBe(before + 2 * N);
    expect(before).toBe(bootstrapEvents);
    const verdict = await s.audit.verify();
    expect(verdict).toEqual({ ok: true, checked: bootstrapEvents + 2 * N });
    const intents = await count(db, "SELECT count(*)::int AS n FROM audit_events WHERE event = $1", [AUDIT_EVENTS.certificateIntent]);
    const issuedEvents = await count(db, "SELECT count(*)::int AS n FROM audit_events WHERE event = $1", [AUDIT_EVENTS.certificateIssued]);
    expect([intents, issuedEvents]).toEqual([N, N]);
  });

  it("rejects an intent for an existing serial with SerialConflict and writes no audit event", async () => {
    const existing = await sign({ cn: "taken" });
    const before = await auditCount(db);
    const p = s.journal.recordIntent(intent(existing.serialHex, s.authority.intermediate.id), event(existing.serialHex));
    await expect(p).rejects.toBeInstanceOf(SerialConflict);
    expect(await auditCount(db)).toBe(before);
    const row = await s.certificates.get(existing.serialHex);
    expect(row?.status).toBe("valid");
    expect(row?.commonName).toBe("taken");
  });

  it("gives a serial to only one of two intents for it in the same batch", async () => {
    const serial = serialOf(1);
    const before = await auditCount(db);
    const results = await Promise.allSettled([
      s.journal.recordIntent(intent(serial, s.authority.intermediate.id), event(serial)),
      s.journal.recordIntent(intent(serial, s.authority.intermediate.id), event(serial)),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(SerialConflict);
    expect(await auditCount(db)).toBe(before + 1);
    expect((await s.audit.verify()).ok).toBe(true);
  });

  it("completes only one of two recordIssued calls for the same pending serial in the same batch", async () => {
    const serial = serialOf(2);
    await s.journal.recordIntent(intent(serial, s.authority.intermediate.id), event(serial));
    const before = await auditCount(db);
    const a = Buffer.from("first");
    const b = Buffer.from("second");
    const fp = (d: Buffer) => createHash("sha256").update(d).digest("hex");
    const results = await Promise.allSettled([
      s.journal.recordIssued(serial, a, fp(a), event(serial)),
      s.journal.recordIssued(serial, b, fp(b), event(serial)),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const winner = results[0]!.status === "fulfilled" ? a : b;
    const row = await s.certificates.get(serial);
    expect(row?.der?.equals(winner)).toBe(true);
    expect(row?.fingerprint).toBe(fp(winner));
    expect(await auditCount(db)).toBe(before + 1);
  });

  it("fails only the bad operations of a batch: their neighbours in the same tick succeed", async () => {
    const issuer = s.authority.intermediate.id;
    const existing = await sign({ cn: "neighbour" });
    const before = await auditCount(db);
    const good = serialOf(3);
    const results = await Promise.allSettled([
      s.journal.recordIntent(intent(good, issuer), event(good)),
      s.journal.recordIssued(serialOf(4), Buffer.from("x"), "00", event("not-pending")), // no such pending certificate
      s.journal.recordIssued(existing.serialHex, Buffer.from("x"), "00", event("already-valid")), // valid, not pending
      s.journal.recordIntent(intent(existing.serialHex, issuer), event("conflict")),
      s.journal.append(event("plain")),
      s.journal.recordFailure(serialOf(5), "boom", event("unknown-failure")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "rejected", "fulfilled", "rejected"]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/not pending/);
    expect((results[3] as PromiseRejectedResult).reason).toBeInstanceOf(SerialConflict);
    expect((await s.certificates.get(good))?.status).toBe("pending");
    expect((await s.certificates.get(existing.serialHex))?.der?.equals(existing.der)).toBe(true);
    const written = await s.audit.list({ afterSeq: BigInt(before), limit: 100 });
    expect(written.map((e) => e.target)).toEqual([good, "plain"]);
    expect((await s.audit.verify()).ok).toBe(true);
  });

  it("revokes through the authority with time, reason and actor, audited", async () => {
    const c = await sign({ cn: "to-revoke" });
    const before = await auditCount(db);
    const t0 = Date.now();
    const rec = await s.authority.revoke(c.serialHex, "admin-token:abc", { reason: "keyCompromise" });
    const t1 = Date.now();
    expect(rec.status).toBe("revoked");
    const row = await s.certificates.get(c.serialHex);
    expect(row?.status).toBe("revoked");
    expect(row?.revocationReason).toBe(1);
    expect(row?.revokedBy).toBe("admin-token:abc");
    expect(row?.revokedAt).toBeInstanceOf(Date);
    // The authority's clock at the call, stored to the millisecond.
    expect(row!.revokedAt!.getTime()).toBeGreaterThanOrEqual(t0);
    expect(row!.revokedAt!.getTime()).toBeLessThanOrEqual(t1);
    const events = await s.audit.list({ afterSeq: BigInt(before), limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event: AUDIT_EVENTS.certificateRevoked, actor: "admin-token:abc", target: c.serialHex });
    expect(events[0]!.data).toMatchObject({ serial: c.serialHex, reason: "keyCompromise", reasonCode: 1 });
    await expectCodeAsync(s.authority.revoke(c.serialHex, "again", { reason: "keyCompromise" }), "already_revoked");
  });

  it("lets exactly one of two concurrent revocations succeed", async () => {
    const c = await sign({ cn: "raced" });
    const before = await auditCount(db);
    const results = await Promise.allSettled([
      s.authority.revoke(c.serialHex, "first", { reason: "superseded" }),
      s.authority.revoke(c.serialHex, "second", { reason: "superseded" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect(isSignetError(failed.reason, "already_revoked")).toBe(true);
    const revoked = await s.audit.list({ afterSeq: BigInt(before), limit: 10, event: AUDIT_EVENTS.certificateRevoked });
    expect(revoked).toHaveLength(1);
    expect((await s.certificates.get(c.serialHex))?.revokedBy).toBe(revoked[0]!.actor);
  });

  describe("certificate queries", () => {
    const serials: string[] = [];
    let soonAfter: Date;

    beforeAll(async () => {
      // Issued one after the other so that creation order is issuance order.
      const specs = [
        { cn: "q0", nodeId: "qnode-a", dns: ["q0.query.internal"], provisioner: "admin", lifetimeSeconds: 3600 },
        { cn: "q1", nodeId: "qnode-a", dns: ["shared.query.internal"], spiffeId: "spiffe://td/ns/q/sa/one", lifetimeSeconds: 7200 },
        { cn: "q2", nodeId: "qnode-b", dns: ["shared.query.internal"], identity: "q-identity", lifetimeSeconds: 3 * 3600 },
        { cn: "q3", nodeId: "qnode-b", dns: ["q3.query.internal"], provisioner: "qprov", lifetimeSeconds: 4 * 3600 },
        { cn: "q4", nodeId: "qnode-b", dns: ["Q4.Query.Internal"], provisioner: "qprov", lifetimeSeconds: 5 * 3600 },
      ];
      await s.provisioners.upsert(
        { name: "qprov", type: "admin", profile: "client", defaultLifetimeSeconds: 3600, maxLifetimeSeconds: 86400, policy: {}, options: {}, enabled: true },
        "test",
      );
      for (const spec of specs) serials.push((await sign(spec)).serialHex);
      await s.authority.revoke(serials[3]!, "test", { reason: "superseded" });
      soonAfter = new Date(Date.now() + 2.5 * 3600_000);
    });

    const list = async (filter: Parameters<Services["certificates"]["list"]>[0]) =>
      (await s.certificates.list(filter, { limit: 100 })).items.map((c) => c.serialHex).sort();

    it("filters by status, identity, node, SPIFFE ID, provisioner, DNS name and expiry", async () => {
      const sorted = (idx: number[]) => idx.map((i) => serials[i]!).sort();
      expect(await list({ nodeId: "qnode-a" })).toEqual(sorted([0, 1]));
      expect(await list({ nodeId: "qnode-b", status: "valid" })).toEqual(sorted([2, 4]));
      expect(await list({ nodeId: "qnode-b", status: "revoked" })).toEqual(sorted([3]));
      expect(await list({ identity: "q-identity" })).toEqual(sorted([2]));
      expect(await list({ identity: "q0" })).toEqual(sorted([0]));
      expect(await list({ spiffeId: "spiffe://td/ns/q/sa/one" })).toEqual(sorted([1]));
      expect(await list({ identity: "spiffe://td/ns/q/sa/one" })).toEqual(sorted([1]));
      expect(await list({ provisioner: "qprov" })).toEqual(sorted([3, 4]));
      expect(await list({ dnsName: "shared.query.internal" })).toEqual(sorted([1, 2]));
      expect(await list({ dnsName: "Q4.QUERY.internal" })).toEqual(sorted([4]));
      expect(await list({ dnsName: "absent.query.internal" })).toEqual([]);
      // Other tests' certificates expire too: look only at these five.
      const within = (f: Parameters<Services["certificates"]["list"]>[0]) => list(f).then((all) => all.filter((x) => serials.includes(x)));
      expect(await within({ expiresBefore: soonAfter })).toEqual(sorted([0, 1]));
      expect(await within({ expiresAfter: soonAfter })).toEqual(sorted([2, 3, 4]));
      expect(await within({ expiresAfter: soonAfter, expiresBefore: new Date(soonAfter.getTime() + 3600_000) })).toEqual(sorted([2]));
      expect(await within({ expiresAfter: soonAfter, status: "valid" })).toEqual(sorted([2, 4]));
    });

    it("pages newest first with a keyset cursor: every certificate once", async () => {
      // One after the other, so creation order is issuance order.
      const issued: string[] = [];
      for (let i = 0; i < 5; i++) issued.push((await sign({ cn: `page-${i}`, nodeId: "page" })).serialHex);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      while (pages < 10) {
        const page = await s.certificates.list({ nodeId: "page" }, { limit: 2, cursor });
        pages++;
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((c) => c.serialHex));
        if (!page.next) break;
        cursor = page.next;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual([...issued].reverse());
    });

    it("pages certificates created in the same transaction (equal created_at) without loss or repeats", async () => {
      const tied = await Promise.all(Array.from({ length: 5 }, (_, i) => sign({ cn: `tie-${i}`, nodeId: "tie" })));
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await s.certificates.list({ nodeId: "tie" }, { limit: 2, cursor });
        seen.push(...page.items.map((c) => c.serialHex));
        if (!page.next) break;
        cursor = page.next;
      }
      expect([...seen].sort()).toEqual(tied.map((c) => c.serialHex).sort());
      expect(seen).toHaveLength(5);
      const rows = await Promise.all(seen.map((x) => s.certificates.get(x)));
      for (let i = 1; i < rows.length; i++) {
        const [a, b] = [rows[i - 1]!, rows[i]!];
        expect(a.createdAt.getTime() > b.createdAt.getTime() || (a.createdAt.getTime() === b.createdAt.getTime() && a.serialHex > b.serialHex)).toBe(true);
      }
    });

    it("refuses a cursor that is not one it gave out", async () => {
      await expectCodeAsync(s.certificates.list({}, { limit: 2, cursor: Buffer.from("'; drop table").toString("base64url") }), "bad_request");
    });
  });

  describe("provisioners", () => {
    const input: ProvisionerInput = {
      name: "idem",
      type: "admin",
      profile: "server",
      defaultLifetimeSeconds: 3600,
      maxLifetimeSeconds: 7200,
      policy: { allow: { dns: ["*.idem.internal"] } },
      options: { allowedProfiles: ["server"] },
      enabled: true,
    };

    it("creates once; the same input again changes nothing and writes no audit event", async () => {
      const first = await s.provisioners.upsert(input, "test");
      expect(first).toMatchObject({ created: true, changed: true });
      const before = await auditCount(db);
      const again = await s.provisioners.upsert(structuredClone(input), "test");
      expect(again).toMatchObject({ created: false, changed: false });
      expect(again.provisioner.version).toBe(first.provisioner.version);
      expect(await auditCount(db)).toBe(before);
    });

    it("drops its cached record when it is updated", async () => {
      expect((await s.provisioners.get("idem"))?.defaultLifetimeSeconds).toBe(3600);
      const before = await auditCount(db);
      const r = await s.provisioners.upsert({ ...input, defaultLifetimeSeconds: 1800 }, "test");
      expect(r).toMatchObject({ created: false, changed: true });
      expect(r.provisioner.version).toBe(2);
      expect((await s.provisioners.get("idem"))?.defaultLifetimeSeconds).toBe(1800);
      const [e] = await s.audit.list({ afterSeq: BigInt(before), limit: 10 });
      expect(e).toMatchObject({ event: AUDIT_EVENTS.provisionerUpdated, target: "idem" });
      expect(e!.data.changed).toEqual(["defaultLifetimeSeconds"]);
    });

    it("refuses to change a provisioner's type", async () => {
      const before = await auditCount(db);
      await expectCodeAsync(s.provisioners.upsert({ ...input, defaultLifetimeSeconds: 1800, type: "acme" }, "test"), "conflict", /type/);
      expect((await s.provisioners.get("idem"))?.type).toBe("admin");
      expect(await auditCount(db)).toBe(before);
    });
  });

  describe("admin tokens", () => {
    it("stores only the token's sha256, and verifies it until it is revoked", async () => {
      const { token, info } = await s.tokens.create("ci", 3600, "test");
      const rows = await db.raw.query<{ token_hash: string; all: string }>(`SELECT token_hash, row_to_json(t)::text AS all FROM admin_tokens t WHERE id = $1`, [info.id]);
      expect(rows[0]!.token_hash).toBe(createHash("sha256").update(token).digest("hex"));
      expect(rows[0]!.token_hash).toBe(hashToken(token));
      expect(await count(db, "SELECT count(*)::int AS n FROM admin_tokens t WHERE strpos(row_to_json(t)::text, $1) > 0", [token])).toBe(0);
      expect(await count(db, "SELECT count(*)::int AS n FROM audit_events e WHERE strpos(row_to_json(e)::text, $1) > 0", [token])).toBe(0);

      expect((await s.tokens.verify(token))?.id).toBe(info.id);
      expect(await s.tokens.verify(`${token}x`)).toBeNull();
      expect(await s.tokens.revoke(info.id, "test")).toBe(true);
      expect(await s.tokens.verify(token)).toBeNull();
      expect(await s.tokens.revoke(info.id, "test")).toBe(false);
    });

    it("rejects an expired token", async () => {
      const { token, info } = await s.tokens.create("short", 3600, "test");
      expect((await s.tokens.verify(token))?.id).toBe(info.id);
      await db.raw.query(`UPDATE admin_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, [info.id]);
      expect(await new AdminTokenRepository(db.prisma, s.journal).verify(token)).toBeNull();
    });
  });

  // Last: these change stored events by hand, and put them back.
  describe("audit tamper detection", () => {
    interface Row {
      seq: string;
      time: Date;
      event: string;
      actor: string;
      target: string | null;
      data: unknown;
      prev_hash: string;
      hash: string;
    }
    const rowsFrom = (from: number, to: number) =>
      db.raw.query<Row>(`SELECT seq::text AS seq, time, event, actor, target, data, prev_hash, hash FROM audit_events WHERE seq BETWEEN $1 AND $2 ORDER BY seq`, [from, to]);
    const restore = async (rows: Row[]) => {
      for (const r of rows) {
        await db.raw.query(
          `INSERT INTO audit_events (seq, time, event, actor, target, data, prev_hash, hash) VALUES ($1::bigint, $2, $3, $4, $5, $6::jsonb, $7, $8)
           ON CONFLICT (seq) DO UPDATE SET data = EXCLUDED.data`,
          [r.seq, r.time, r.event, r.actor, r.target, JSON.stringify(r.data), r.prev_hash, r.hash],
        );
      }
      expect((await s.audit.verify()).ok).toBe(true);
    };

    it("starts from an intact chain", async () => {
      expect(await s.audit.verify()).toEqual({ ok: true, checked: await auditCount(db) });
    });

    it("names the event whose data was changed", async () => {
      const n = Math.floor((await auditCount(db)) / 2);
      const saved = await rowsFrom(n, n);
      await db.raw.query(`UPDATE audit_events SET data = jsonb_set(data, '{tampered}', 'true'::jsonb) WHERE seq = $1`, [n]);
      const v = await s.audit.verify();
      expect(v.ok).toBe(false);
      expect(v.checked).toBe(n - 1);
      expect(v.problem?.seq).toBe(String(n));
      expect(v.problem?.reason).toMatch(/changed/);
      await restore(saved);
    });

    it("reports a deleted middle event as missing", async () => {
      const n = Math.floor((await auditCount(db)) / 3);
      const saved = await rowsFrom(n, n);
      await db.raw.query(`DELETE FROM audit_events WHERE seq = $1`, [n]);
      const v = await s.audit.verify();
      expect(v.ok).toBe(false);
      expect(v.problem?.seq).toBe(String(n));
      expect(v.problem?.reason).toMatch(/missing/);
      await restore(saved);
    });

    it("reports events deleted from the end against the head record", async () => {
      const total = await auditCount(db);
      const saved = await rowsFrom(total - 2, total);
      await db.raw.query(`DELETE FROM audit_events WHERE seq > $1`, [total - 3]);
      const v = await s.audit.verify();
      expect(v.ok).toBe(false);
      expect(v.checked).toBe(total - 3);
      expect(v.problem?.seq).toBe(String(total));
      expect(v.problem?.reason).toMatch(/deleted from the end/);
      await restore(saved);
    });
  });
});

describe("the embedded database's lock", () => {
  it("refuses a second open of a data directory while it is open, and opens it again after close", async () => {
    const dataDir = join(tempHome(), "db");
    const first = await openDatabase({ dataDir });
    try {
      await expectCodeAsync(openDatabase({ dataDir }), "database_locked", /\.lock/);
      // The refused open did not take the lock from its holder.
      expect(readFileSync(`${dataDir}.lock`, "utf8").trim()).toBe(String(process.pid));
      expect(await count(first, "SELECT count(*)::int AS n FROM audit_head")).toBe(1);
    } finally {
      await first.close();
    }
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
    const second = await openDatabase({ dataDir });
    try {
      expect(await count(second, "SELECT count(*)::int AS n FROM audit_head")).toBe(1);
    } finally {
      await second.close();
    }
  });

  it("takes over a stale lock left by a process that no longer exists", async () => {
    const dead = 999_999;
    expect(() => process.kill(dead, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
    const dataDir = join(tempHome(), "db");
    writeFileSync(`${dataDir}.lock`, `${dead}\n`);
    const db = await openDatabase({ dataDir });
    try {
      expect(readFileSync(`${dataDir}.lock`, "utf8").trim()).toBe(String(process.pid));
      expect(await count(db, "SELECT count(*)::int AS n FROM audit_head")).toBe(1);
    } finally {
      await db.close();
    }
  });
});
