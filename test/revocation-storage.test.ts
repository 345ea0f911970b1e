// Revocation against the real databases (embedded PGlite always, PostgreSQL when TEST_DATABASE_URL is
// set): revoke-and-block as one transaction, the database's own refusal of blocked intents, lifting
// blocks, invalidity dates, the read side CRLs/OCSP/the live feed use, and the audit follower that
// carries one replica's revocations to another.
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_EVENTS } from "../ca/audit.js";
import { newSerialHex } from "../ca/authority.js";
import type { CertificateIntent, EnrolmentBlock, StoredAuditEvent } from "../ca/ports.js";
import pg from "pg";
import { bootstrapDatabase } from "../src/bootstrap.js";
import { loadConfig } from "../src/config.js";
import { openDatabase, type Database } from "../src/db/database.js";
import { createLogger } from "../src/log.js";
import { BlockCache } from "../src/revocation/blocks.js";
import { AuditFollower, type FollowedEvent } from "../src/revocation/follower.js";
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

const HOUR = 3_600_000;
const tag = () => randomBytes(5).toString("hex");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Opens Services on `url` (PostgreSQL) or a fresh embedded database, as test/storage.test.ts does. */
async function open(url: string | undefined): Promise<Services> {
  const home = tempHome();
  // CSR signatures verified in this thread: these suites are about storage, not the worker pool.
  const cfg = loadConfig({ SIGNET_HOME: home, SIGNET_HTTP_URL: TEST_HTTP_URL, SIGNET_VERIFY_WORKERS: "0", ...(url ? { DATABASE_URL: url } : {}) });
  const db = await openDatabase({ url, dataDir: join(home, "db") });
  const { ca } = await testCa();
  return openServices(cfg, createLogger("silent"), ca, db);
}


async function head(db: Database): Promise<{ seq: bigint; hash: string }> {
  const [row] = await db.raw.query<{ seq: string; hash: string }>(`SELECT seq::text AS seq, hash FROM audit_head WHERE id = 1`);
  return { seq: BigInt(row!.seq), hash: row!.hash };
}

interface SignOpts {
  cn?: string;
  nodeId?: string;
  identity?: string;
  spiffeId?: string;
  accountId?: string;
}

function sign(s: Services, opts: SignOpts = {}) {
  return s.authority.sign({
    csr: makeCsr({ cn: opts.cn ?? "workload" }).pem,
    provisioner: "admin",
    via: "admin",
    actor: "test",
    nodeId: opts.nodeId,
    identity: opts.identity,
    spiffeId: opts.spiffeId,
    accountId: opts.accountId,
  });
}

const intent = directIntent;

const event = (name: string, target: string) => ({ event: name, actor: "test", target, data: { serial: target } });

/** Records an intent and completes it with stand-in DER, straight through the journal. */
async function issueDirect(s: Services, serial: string, issuerId: string, over: Partial<CertificateIntent> = {}): Promise<void> {
  await s.journal.recordIntent(intent(serial, issuerId, over), event(AUDIT_EVENTS.certificateIntent, serial));
  const der = Buffer.from(`stand-in ${serial}`);
  await s.journal.recordIssued(serial, der, createHash("sha256").update(der).digest("hex"), event(AUDIT_EVENTS.certificateIssued, serial));
}

const subjectFor = (nodeId: string) => ({ nodeId, identity: null, spiffeId: null, accountId: null });

describe.each(dbTargets())("revocation storage on $name", (target) => {
  let s: Services;
  let db: Database;

  beforeAll(async () => {
    s = await open(await target.create());
    db = s.db;
    await bootstrapDatabase(s, false);
  });

  afterAll(async () => {
    await s?.close();
    await target.dropAll();
  });

  describe("revokeAndBlock", () => {
    it("revokes every unexpired valid certificate of the node, not expired, failed or other nodes' ones, and audits each with the block", async () => {
      const node = `node-${tag()}`;
      const mine = [await sign(s, { cn: "a", nodeId: node }), await sign(s, { cn: "b", nodeId: node })];
      const expired = await sign(s, { cn: "old", nodeId: node });
      await db.raw.query(`UPDATE certificates SET not_after = now() - interval '1 hour' WHERE serial = $1`, [expired.serialHex]);
      const earlier = await sign(s, { cn: "earlier", nodeId: node });
      await s.authority.revoke(earlier.serialHex, "test", { reason: "superseded" });
      const earlierRow = (await s.certificates.get(earlier.serialHex))!;
      const failed = newSerialHex();
      await s.journal.recordIntent(intent(failed, s.authority.intermediate.id, { nodeId: node }), event(AUDIT_EVENTS.certificateIntent, failed));
      await s.journal.recordFailure(failed, "test", event(AUDIT_EVENTS.certificateFailed, failed));
      const other = await sign(s, { cn: "other", nodeId: `other-${node}` });

      const before = await head(db);
      const invalidity = new Date(Date.now() - 2 * HOUR);
      const result = await s.authority.revokeAndBlock({ kind: "node", value: node }, "admin-token:t1", {
        reason: "keyCompromise",
        invalidityDate: invalidity.toISOString(),
      });

      expect(result.revoked.map((c) => c.serialHex).sort()).toEqual(mine.map((c) => c.serialHex).sort());
      expect(result.block).toMatchObject({ kind: "node", value: node, reason: "revoked (keyCompromise) by admin-token:t1", createdBy: "admin-token:t1" });
      const invalidityStored = new Date(Math.floor(invalidity.getTime() / 1000) * 1000);
      for (const c of mine) {
        const row = (await s.certificates.get(c.serialHex))!;
        expect(row).toMatchObject({ status: "revoked", revocationReason: 1, revokedBy: "admin-token:t1", invalidityDate: invalidityStored });
      }
      expect((await s.certificates.get(expired.serialHex))!.status).toBe("valid");
      expect((await s.certificates.get(other.serialHex))!.status).toBe("valid");
      expect((await s.certificates.get(failed))!.status).toBe("failed");
      // Revoked before: keeps its own reason and time.
      expect(await s.certificates.get(earlier.serialHex)).toMatchObject({ status: "revoked", revocationReason: 4, revokedAt: earlierRow.revokedAt });

      const events = await s.audit.list({ afterSeq: before.seq, limit: 100 });
      expect(events.map((e) => e.event)).toEqual([AUDIT_EVENTS.certificateRevoked, AUDIT_EVENTS.certificateRevoked, AUDIT_EVENTS.enrolmentBlocked]);
      for (const e of events.slice(0, 2)) {
        const row = (await s.certificates.get(e.target!))!;
        expect(e.actor).toBe("admin-token:t1");
        expect(e.data).toMatchObject({
          serial: row.serialHex,
          issuerId: s.authority.intermediate.id,
          reason: "keyCompromise",
          reasonCode: 1,
          revokedAt: row.revokedAt!.toISOString(),
          invalidityDate: invalidityStored.toISOString(),
          nodeId: node,
          notAfter: row.notAfter.toISOString(),
          batch: `node:${node}`,
        });
      }
      expect(events[2]).toMatchObject({
        actor: "admin-token:t1",
        target: `node:${node}`,
        data: { kind: "node", value: node, reason: "revoked (keyCompromise) by admin-token:t1", revocationReason: "keyCompromise" },
      });
      expect((await s.audit.verify()).ok).toBe(true);

      // In force at once: in the pipeline's list (applied as it committed) and in the table.
      expect(s.blocks.find(subjectFor(node))).toMatchObject({ kind: "node", value: node });
      expect((await s.journal.blocks()).filter((b) => b.value === node)).toHaveLength(1);
      await expectCodeAsync(sign(s, { nodeId: node }), "blocked", new RegExp(`node "${node}" is blocked`));
    });

    it("blocks an identity by its recorded identity and by SPIFFE ID, and an ACME account", async () => {
      const t = tag();
      const byIdentity = await sign(s, { identity: `id-${t}` });
      const bySpiffe = await sign(s, { spiffeId: `spiffe://test.example/ns/a/sa/${t}`, identity: `other-${t}` });
      const byAccount = await sign(s, { accountId: `acct-${t}` });
      const r1 = await s.authority.revokeAndBlock({ kind: "identity", value: `id-${t}` }, "test");
      const r2 = await s.authority.revokeAndBlock({ kind: "identity", value: `spiffe://test.example/ns/a/sa/${t}` }, "test");
      const r3 = await s.authority.revokeAndBlock({ kind: "account", value: `acct-${t}` }, "test");
      expect([r1, r2, r3].map((r) => r.revoked.map((c) => c.serialHex))).toEqual([[byIdentity.serialHex], [bySpiffe.serialHex], [byAccount.serialHex]]);
      expect(r1.revoked[0]!.revocationReason).toBe(0);
      await expectCodeAsync(sign(s, { identity: `id-${t}` }), "blocked");
      await expectCodeAsync(sign(s, { spiffeId: `spiffe://test.example/ns/a/sa/${t}`, identity: `third-${t}` }), "blocked");
      await expectCodeAsync(sign(s, { accountId: `acct-${t}` }), "blocked");
    });

    it("blocking a blocked node again keeps the first block's reason, author and date", async () => {
      const node = `again-${tag()}`;
      const first = await s.authority.revokeAndBlock({ kind: "node", value: node }, "first", { note: "first reason" });
      expect(first.revoked).toEqual([]);
      const second = await s.authority.revokeAndBlock({ kind: "node", value: node }, "second", { note: "second reason" });
      expect(second.block).toEqual(first.block);
      expect(s.blocks.find(subjectFor(node))).toMatchObject({ reason: "first reason", createdBy: "first" });
      expect(await count(db, `SELECT count(*)::int AS n FROM enrolment_blocks WHERE value = $1`, [node])).toBe(1);
    });

    it.each([
      ["the block's audit event", "enrolment.blocked"],
      ["the second certificate's audit event", "certificate.revoked"],
    ])("is all or nothing: when %s cannot be written, no certificate is revoked and no block is set", async (_what, failOn) => {
      const node = `atomic-${tag()}`;
      const certs = [await sign(s, { cn: "x", nodeId: node }), await sign(s, { cn: "y", nodeId: node }), await sign(s, { cn: "z", nodeId: node })];
      // Rows are revoked (and audited) in creation order: the second one's event fails.
      const condition =
        failOn === "enrolment.blocked" ? `NEW.event = 'enrolment.blocked' AND NEW.data->>'value' = '${node}'` : `NEW.event = 'certificate.revoked' AND NEW.target = '${certs[1]!.serialHex}'`;
      await db.raw.exec(`
        CREATE FUNCTION signet_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
          IF ${condition} THEN RAISE EXCEPTION 'refused by the test trigger'; END IF;
          RETURN NEW;
        END
        $fn$;
        CREATE TRIGGER signet_test_refuse BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION signet_test_refuse();`);
      const before = await head(db);
      const eventsBefore = await count(db, `SELECT count(*)::int AS n FROM audit_events`);
      try {
        await expect(s.authority.revokeAndBlock({ kind: "node", value: node }, "test", { reason: "keyCompromise" })).rejects.toThrow(/refused by the test trigger/);
        for (const c of certs) expect((await s.certificates.get(c.serialHex))!.status).toBe("valid");
        expect(await count(db, `SELECT count(*)::int AS n FROM enrolment_blocks WHERE value = $1`, [node])).toBe(0);
        expect(await head(db)).toEqual(before);
        expect(await count(db, `SELECT count(*)::int AS n FROM audit_events`)).toBe(eventsBefore);
        expect(s.blocks.find(subjectFor(node))).toBeNull();
        // Nothing half-done stands in the way of issuing.
        await sign(s, { cn: "still", nodeId: node });
      } finally {
        await db.raw.exec(`DROP TRIGGER signet_test_refuse ON audit_events; DROP FUNCTION signet_test_refuse();`);
      }
      const done = await s.authority.revokeAndBlock({ kind: "node", value: node }, "test", { reason: "keyCompromise" });
      expect(done.revoked).toHaveLength(4);
      expect((await s.audit.verify()).ok).toBe(true);
    });

    it("revokes a pending intent, and its completion is then refused as blocked", async () => {
      const node = `pending-${tag()}`;
      const serial = newSerialHex();
      await s.journal.recordIntent(intent(serial, s.authority.intermediate.id, { nodeId: node }), event(AUDIT_EVENTS.certificateIntent, serial));
      const { revoked } = await s.authority.revokeAndBlock({ kind: "node", value: node }, "test", { reason: "keyCompromise" });
      expect(revoked.map((c) => [c.serialHex, c.status])).toEqual([[serial, "revoked"]]);
      const before = await head(db);
      const der = Buffer.from("signed while being blocked");
      await expectCodeAsync(
        s.journal.recordIssued(serial, der, createHash("sha256").update(der).digest("hex"), event(AUDIT_EVENTS.certificateIssued, serial)),
        "blocked",
        /revoked while it was being issued/,
      );
      const row = (await s.certificates.get(serial))!;
      expect(row).toMatchObject({ status: "revoked", der: null, fingerprint: null, revocationReason: 1 });
      expect(await head(db)).toEqual(before);
      expect(await s.audit.list({ target: serial, event: AUDIT_EVENTS.certificateIssued, limit: 10 })).toEqual([]);
    });

    it("refuses a bad target", async () => {
      await expectCodeAsync(s.authority.revokeAndBlock({ kind: "host" as "node", value: "x" }, "test"), "bad_request", /node, identity, account/);
      await expectCodeAsync(s.authority.revokeAndBlock({ kind: "node", value: "" }, "test"), "bad_request");
    });
  });

  describe("the database's own refusal of blocked intents", () => {
    it("refuses an intent for a node, identity, SPIFFE ID or account blocked behind the pipeline's back, and records nothing", async () => {
      const t = tag();
      const cases: Array<[string, string, SignOpts, string]> = [
        ["node", `db-node-${t}`, { nodeId: `db-node-${t}` }, "node_id"],
        ["identity", `db-id-${t}`, { identity: `db-id-${t}` }, "identity"],
        ["identity", `spiffe://test.example/db/${t}`, { spiffeId: `spiffe://test.example/db/${t}`, identity: `db-other-${t}` }, "spiffe_id"],
        ["account", `db-acct-${t}`, { accountId: `db-acct-${t}` }, "account_id"],
      ];
      for (const [kind, value] of cases) {
        await db.raw.query(`INSERT INTO enrolment_blocks (kind, value, reason, created_by) VALUES ($1, $2, 'inserted by hand', 'test')`, [kind, value]);
      }
      const before = await head(db);
      for (const [kind, value, opts, column] of cases) {
        // The in-memory list did not see the insert: only the database can refuse.
        expect(s.blocks.find({ nodeId: opts.nodeId ?? null, identity: opts.identity ?? null, spiffeId: opts.spiffeId ?? null, accountId: opts.accountId ?? null })).toBeNull();
        await expectCodeAsync(sign(s, opts), "blocked", new RegExp(`${kind} "${value.replace(/[/.]/g, "\\$&")}" is blocked .*inserted by hand`));
        expect(await count(db, `SELECT count(*)::int AS n FROM certificates WHERE ${column} = $1`, [value])).toBe(0);
      }
      expect(await head(db)).toEqual(before);
      expect((await s.audit.verify()).ok).toBe(true);
    });

    it("fails only the blocked intent of a batch: its neighbour is recorded", async () => {
      const node = `db-batch-${tag()}`;
      await db.raw.query(`INSERT INTO enrolment_blocks (kind, value, reason, created_by) VALUES ('node', $1, 'inserted by hand', 'test')`, [node]);
      const [blocked, free] = [newSerialHex(), newSerialHex()];
      const issuerId = s.authority.intermediate.id;
      const before = await head(db);
      const results = await Promise.allSettled([
        s.journal.recordIntent(intent(blocked, issuerId, { nodeId: node }), event(AUDIT_EVENTS.certificateIntent, blocked)),
        s.journal.recordIntent(intent(free, issuerId, { nodeId: `free-${node}` }), event(AUDIT_EVENTS.certificateIntent, free)),
      ]);
      expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled"]);
      expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: "blocked" });
      expect(await s.certificates.get(blocked)).toBeNull();
      expect((await s.certificates.get(free))?.status).toBe("pending");
      expect((await head(db)).seq).toBe(before.seq + 1n);
    });
  });

  describe("unblock", () => {
    it("lifts the block, audited; a second unblock is not_found; stale block events do not bring it back", async () => {
      const node = `unblock-${tag()}`;
      const leaf = await sign(s, { nodeId: node });
      const start = await head(db);
      await s.authority.revokeAndBlock({ kind: "node", value: node }, "test", { reason: "superseded" });
      expect(s.blocks.find(subjectFor(node))).not.toBeNull();

      const lifted = await s.authority.unblock({ kind: "node", value: node }, "admin-token:u");
      expect(lifted).toMatchObject({ kind: "node", value: node, reason: "revoked (superseded) by test", createdBy: "test" });
      expect(await count(db, `SELECT count(*)::int AS n FROM enrolment_blocks WHERE value = $1`, [node])).toBe(0);
      const events = await s.audit.list({ afterSeq: start.seq, limit: 100 });
      expect(events.map((e) => e.event)).toEqual([AUDIT_EVENTS.certificateRevoked, AUDIT_EVENTS.enrolmentBlocked, AUDIT_EVENTS.enrolmentUnblocked]);
      expect(events[2]).toMatchObject({ actor: "admin-token:u", target: `node:${node}`, data: { kind: "node", value: node } });
      expect(s.blocks.find(subjectFor(node))).toBeNull();
      await expectCodeAsync(s.authority.unblock({ kind: "node", value: node }, "admin-token:u"), "not_found", /not blocked/);
      await expectCodeAsync(s.authority.unblock({ kind: "account", value: `never-${node}` }, "admin-token:u"), "not_found");
      // Unblocking does not un-revoke.
      expect((await s.certificates.get(leaf.serialHex))!.status).toBe("revoked");

      // The follower delivers the block event late, or twice: the lift stands.
      const [blockedEvent, unblockedEvent] = events.slice(1) as [StoredAuditEvent, StoredAuditEvent];
      s.blocks.apply([blockedEvent]);
      s.blocks.apply([blockedEvent, unblockedEvent]);
      expect(s.blocks.find(subjectFor(node))).toBeNull();
      const again = await sign(s, { nodeId: node });
      expect(again.serialHex).toHaveLength(32);

      // A list loaded from the table and fed the whole history, then the stale event, agrees.
      const fresh = new BlockCache(s.journal);
      await fresh.load();
      fresh.apply(events);
      fresh.apply([blockedEvent]);
      expect(fresh.find(subjectFor(node))).toBeNull();

      // A newer block does apply.
      await s.authority.revokeAndBlock({ kind: "node", value: node }, "test");
      const newer = (await s.audit.list({ afterSeq: unblockedEvent.seq, event: AUDIT_EVENTS.enrolmentBlocked, limit: 10 })).find((e) => e.target === `node:${node}`)!;
      fresh.apply([newer]);
      expect(fresh.find(subjectFor(node))).toMatchObject({ kind: "node", value: node });
      expect(s.blocks.find(subjectFor(node))).not.toBeNull();
      await s.authority.unblock({ kind: "node", value: node }, "test");
    });
  });

  describe("single revocations", () => {
    it("stores the invalidity date (to the second) and returns it everywhere", async () => {
      const c = await sign(s);
      const invalidity = new Date(Date.now() - 3 * HOUR + 123);
      const stored = new Date(Math.floor(invalidity.getTime() / 1000) * 1000);
      const rec = await s.authority.revoke(c.serialHex, "test", { reason: "keyCompromise", invalidityDate: invalidity.toISOString() });
      expect(rec.invalidityDate).toEqual(stored);
      expect((await s.certificates.get(c.serialHex))!.invalidityDate).toEqual(stored);
      const entry = (await s.revocations.revokedUnexpired(s.authority.intermediate.id, new Date())).find((e) => e.serialHex === c.serialHex);
      expect(entry).toEqual({ serialHex: c.serialHex, revokedAt: rec.revokedAt!.getTime(), reason: 1, invalidityDate: stored.getTime() });
      const [e] = await s.audit.list({ target: c.serialHex, event: AUDIT_EVENTS.certificateRevoked, limit: 10 });
      expect(e!.data).toMatchObject({ invalidityDate: stored.toISOString() });
      expect(e!.data.batch).toBeUndefined();
      // A date given as a Date works the same; a little clock skew is tolerated.
      const skewed = await sign(s);
      const soon = new Date(Date.now() + 30_000);
      expect((await s.authority.revoke(skewed.serialHex, "test", { invalidityDate: soon })).invalidityDate).toEqual(new Date(Math.floor(soon.getTime() / 1000) * 1000));
    });

    it("refuses an invalidity date in the future or not a date, changing nothing", async () => {
      const c = await sign(s, { nodeId: `future-${tag()}` });
      const before = await head(db);
      const future = new Date(Date.now() + HOUR).toISOString();
      await expectCodeAsync(s.authority.revoke(c.serialHex, "test", { invalidityDate: future }), "bad_request", /future/);
      await expectCodeAsync(s.authority.revoke(c.serialHex, "test", { invalidityDate: "yesterday" }), "bad_request", /ISO 8601/);
      await expectCodeAsync(s.authority.revokeAndBlock({ kind: "node", value: c.intent.nodeId! }, "test", { invalidityDate: future }), "bad_request", /future/);
      expect((await s.certificates.get(c.serialHex))!.status).toBe("valid");
      expect(await count(db, `SELECT count(*)::int AS n FROM enrolment_blocks WHERE value = $1`, [c.intent.nodeId])).toBe(0);
      expect(await head(db)).toEqual(before);
    });

    it("refuses to revoke a pending or failed certificate (conflict) and an unknown serial", async () => {
      const issuerId = s.authority.intermediate.id;
      const [pending, failed] = [newSerialHex(), newSerialHex()];
      await s.journal.recordIntent(intent(pending, issuerId), event(AUDIT_EVENTS.certificateIntent, pending));
      await s.journal.recordIntent(intent(failed, issuerId), event(AUDIT_EVENTS.certificateIntent, failed));
      await s.journal.recordFailure(failed, "test", event(AUDIT_EVENTS.certificateFailed, failed));
      await expectCodeAsync(s.authority.revoke(pending, "test"), "conflict", /is pending/);
      await expectCodeAsync(s.authority.revoke(failed, "test"), "conflict", /is failed/);
      await expectCodeAsync(s.authority.revoke(newSerialHex(), "test"), "unknown_certificate");
      expect((await s.certificates.get(pending))!.status).toBe("pending");
      expect((await s.certificates.get(failed))!.status).toBe("failed");
    });
  });

  describe("RevocationStore", () => {
    it("revokedUnexpired lists the issuer's revoked, unexpired certificates; revokedSince those revoked after an audit seq", async () => {
      const iss = `test-issuer-${tag()}`;
      const [valid, revoked, revokedExpired, later, laterExpired] = [newSerialHex(), newSerialHex(), newSerialHex(), newSerialHex(), newSerialHex()];
      const past = { notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) };
      await issueDirect(s, valid, iss);
      await issueDirect(s, revoked, iss);
      await issueDirect(s, revokedExpired, iss, past);
      await issueDirect(s, later, iss);
      await issueDirect(s, laterExpired, iss, past);
      await s.authority.revoke(revoked, "test", { reason: "keyCompromise" });
      await s.authority.revoke(revokedExpired, "test");

      const hw = await s.revocations.highWater();
      expect(hw).toBe((await head(db)).seq);
      await s.journal.append({ event: "test.noise", actor: "test", target: null, data: {} });
      await s.authority.revoke(later, "test", { reason: "superseded" });
      await s.authority.revoke(laterExpired, "test");

      const now = new Date();
      const serials = (entries: { serialHex: string }[]) => entries.map((e) => e.serialHex).sort();
      expect(serials(await s.revocations.revokedUnexpired(iss, now))).toEqual([revoked, later].sort());
      expect(serials(await s.revocations.revokedUnexpired(iss, new Date(Date.now() - 4 * HOUR)))).toEqual([revoked, revokedExpired, later, laterExpired].sort());
      expect(await s.revocations.revokedUnexpired(`other-${iss}`, now)).toEqual([]);
      const row = (await s.certificates.get(revoked))!;
      expect((await s.revocations.revokedUnexpired(iss, now)).find((e) => e.serialHex === revoked)).toEqual({
        serialHex: revoked,
        revokedAt: row.revokedAt!.getTime(),
        reason: 1,
        invalidityDate: null,
      });

      expect(serials(await s.revocations.revokedSince(iss, hw, now))).toEqual([later]);
      expect(serials(await s.revocations.revokedSince(iss, 0n, now))).toEqual([revoked, later].sort());
      expect(await s.revocations.revokedSince(iss, (await head(db)).seq, now)).toEqual([]);
    });

    it("feed pages revocations after a cursor, oldest first, with more and the next cursor; expired ones only on request", async () => {
      const iss = `feed-issuer-${tag()}`;
      const node = `feed-${tag()}`;
      const [f1, f2, f3] = [newSerialHex(), newSerialHex(), newSerialHex()];
      await issueDirect(s, f1, iss, { nodeId: node });
      await issueDirect(s, f2, iss, { nodeId: node, notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) });
      await issueDirect(s, f3, iss, { nodeId: node });
      const since = BigInt(await s.revocations.latestCursor());
      for (const serial of [f1, f2, f3]) await s.authority.revoke(serial, "admin-token:feed", { reason: "superseded" });
      const seqOf = async (serial: string) => (await s.audit.list({ target: serial, event: AUDIT_EVENTS.certificateRevoked, limit: 1 }))[0]!.seq;

      const page1 = await s.revocations.feed(since, 2);
      expect(page1.items.map((i) => i.serial)).toEqual([f1]); // f2 has expired: skipped, but paged past
      expect(page1.more).toBe(true);
      expect(page1.cursor).toBe(String(await seqOf(f2)));
      const row = (await s.certificates.get(f1))!;
      expect(page1.items[0]).toEqual({
        cursor: String(await seqOf(f1)),
        serial: f1,
        issuerId: iss,
        revokedAt: row.revokedAt!.toISOString(),
        reason: "superseded",
        reasonCode: 4,
        invalidityDate: null,
        notAfter: row.notAfter.toISOString(),
        nodeId: node,
        identity: "direct",
        spiffeId: null,
        actor: "admin-token:feed",
      });
      expect((await s.revocations.feed(since, 2, true)).items.map((i) => i.serial)).toEqual([f1, f2]);

      const page2 = await s.revocations.feed(BigInt(page1.cursor), 2);
      expect(page2.items.map((i) => i.serial)).toEqual([f3]);
      expect(page2.more).toBe(false);
      expect(page2.cursor).toBe(String(await seqOf(f3)));
      const page3 = await s.revocations.feed(BigInt(page2.cursor), 2);
      expect(page3).toEqual({ items: [], cursor: page2.cursor, more: false });
      expect(await s.revocations.latestCursor()).toBe(page2.cursor);
    });

    it("statusOf maps valid to good, revoked to revoked, pending and failed to unknown, and a missing serial to null", async () => {
      const iss = `status-issuer-${tag()}`;
      const [valid, revoked, pending, failed] = [newSerialHex(), newSerialHex(), newSerialHex(), newSerialHex()];
      await issueDirect(s, valid, iss);
      await issueDirect(s, revoked, iss);
      await s.journal.recordIntent(intent(pending, iss), event(AUDIT_EVENTS.certificateIntent, pending));
      await s.journal.recordIntent(intent(failed, iss), event(AUDIT_EVENTS.certificateIntent, failed));
      await s.journal.recordFailure(failed, "test", event(AUDIT_EVENTS.certificateFailed, failed));
      const rec = await s.authority.revoke(revoked, "test", { reason: "cessationOfOperation" });

      const v = (await s.certificates.get(valid))!;
      expect(await s.revocations.statusOf(valid)).toEqual({ serialHex: valid, issuerId: iss, status: "good", revokedAt: null, reason: null, notAfter: v.notAfter });
      expect(await s.revocations.statusOf(revoked)).toEqual({ serialHex: revoked, issuerId: iss, status: "revoked", revokedAt: rec.revokedAt, reason: 5, notAfter: rec.notAfter });
      expect((await s.revocations.statusOf(pending))?.status).toBe("unknown");
      expect((await s.revocations.statusOf(failed))?.status).toBe("unknown");
      expect(await s.revocations.statusOf(newSerialHex())).toBeNull();
    });
  });
});

const postgresql = dbTargets().find((t) => t.name === "postgresql");

describe.skipIf(postgresql === undefined)("two replicas on one PostgreSQL", () => {
  let url: string;
  let a: Services;
  let b: Services;
  let follower: AuditFollower;
  const received: FollowedEvent[] = [];

  /** Waits (bounded) until `done` holds; the caller asserts afterwards. */
  async function until(done: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !done(); i++) await sleep(50);
  }

  beforeAll(async () => {
    url = (await postgresql!.create())!;
    a = await open(url);
    await bootstrapDatabase(a, false);
    b = await open(url);
    follower = new AuditFollower(b.db, [AUDIT_EVENTS.certificateRevoked, AUDIT_EVENTS.enrolmentBlocked, AUDIT_EVENTS.enrolmentUnblocked], createLogger("silent"), {
      pollMs: 100,
    });
    await follower.start();
    follower.subscribe((events) => received.push(...events));
    follower.subscribe(b.blocks.apply);
  });

  afterAll(async () => {
    await follower?.stop();
    await b?.close();
    await a?.close();
    await postgresql?.dropAll();
  });

  it("delivers a revocation made through A to B, with its data and seq", async () => {
    const leaf = await sign(a, { cn: "followed" });
    const rec = await a.authority.revoke(leaf.serialHex, "admin-token:a", { reason: "keyCompromise" });
    await until(() => received.some((e) => e.target === leaf.serialHex));
    const got = received.filter((e) => e.target === leaf.serialHex);
    expect(got).toHaveLength(1);
    const [stored] = await b.audit.list({ target: leaf.serialHex, event: AUDIT_EVENTS.certificateRevoked, limit: 1 });
    expect(got[0]).toMatchObject({ seq: stored!.seq, event: AUDIT_EVENTS.certificateRevoked, actor: "admin-token:a" });
    expect(got[0]!.data).toMatchObject({ serial: leaf.serialHex, issuerId: a.authority.intermediate.id, reasonCode: 1, revokedAt: rec.revokedAt!.toISOString() });
    expect(follower.cursor).toBeGreaterThanOrEqual(stored!.seq);
    // Only the events it follows: the intent and issuance before it were not delivered.
    expect(received.every((e) => e.event !== AUDIT_EVENTS.certificateIntent && e.event !== AUDIT_EVENTS.certificateIssued)).toBe(true);
  });

  it("carries a block set on A into B's list, and its lifting", async () => {
    const node = `follow-${tag()}`;
    await a.authority.revokeAndBlock({ kind: "node", value: node }, "admin-token:a");
    let seen: EnrolmentBlock | null = null;
    await until(() => (seen = b.blocks.find(subjectFor(node))) !== null);
    expect(seen).toMatchObject({ kind: "node", value: node, createdBy: "admin-token:a" });
    await expectCodeAsync(sign(b, { nodeId: node }), "blocked");
    await a.authority.unblock({ kind: "node", value: node }, "admin-token:a");
    await until(() => b.blocks.find(subjectFor(node)) === null);
    expect(b.blocks.find(subjectFor(node))).toBeNull();
    const leaf = await sign(b, { nodeId: node });
    expect(leaf.serialHex).toHaveLength(32);
  });

  /** Starts `first`, then `second`, while a third connection holds the audit head's row lock, each
   * once the one before is waiting for it; then releases the lock. The order the two get it in is
   * the order they asked (PostgreSQL queues tuple lock waiters). */
  async function withHeadHeld(first: () => Promise<unknown>, second: () => Promise<unknown>): Promise<PromiseSettledResult<unknown>[]> {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    const lockWaiters = async () =>
      Number((await holder.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0]!.n);
    const waitForWaiters = async (n: number) => {
      for (let i = 0; i < 200 && (await lockWaiters()) < n; i++) await sleep(25);
      expect(await lockWaiters()).toBeGreaterThanOrEqual(n);
    };
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE");
      const p1 = first();
      p1.catch(() => undefined);
      await waitForWaiters(1);
      const p2 = second();
      p2.catch(() => undefined);
      await waitForWaiters(2);
      await holder.query("COMMIT");
      return await Promise.allSettled([p1, p2]);
    } finally {
      await holder.end();
    }
  }

  // Regression: revokeAndBlock locked the audit head first and an issuance batch last, so an intent
  // that B inserted while A's revokeAndBlock waited was invisible to A's UPDATE, and A's block to B's
  // NOT EXISTS: both committed and the intent became a valid certificate for a blocked node. Now
  // batches hold an advisory lock shared and revokeAndBlock takes it exclusively, first. PostgreSQL
  // only (PGlite has one connection). Repro: hold audit_head FOR UPDATE on a third connection;
  // revokeAndBlock(node) on A; recordIntent(node) on B; release the head.
  it("an intent recorded on B while A blocks its node is refused or revoked, never left to be issued", async () => {
    const node = `race-${tag()}`;
    const serial = newSerialHex();
    const results = await withHeadHeld(
      () => a.authority.revokeAndBlock({ kind: "node", value: node }, "admin-token:a", { reason: "keyCompromise" }),
      () => b.journal.recordIntent(intent(serial, b.authority.intermediate.id, { nodeId: node }), event(AUDIT_EVENTS.certificateIntent, serial)),
    );
    const [blocking, recording] = results as [PromiseSettledResult<unknown>, PromiseSettledResult<unknown>];
    expect(blocking.status).toBe("fulfilled");
    if (recording.status === "rejected") {
      expect(recording.reason).toMatchObject({ code: "blocked" });
      return;
    }
    // Recorded before the block took effect: then it was revoked with the rest, and completing it
    // (the CA key has signed meanwhile) is refused.
    const der = Buffer.from("signed after the block");
    const completion = await b.journal
      .recordIssued(serial, der, createHash("sha256").update(der).digest("hex"), event(AUDIT_EVENTS.certificateIssued, serial))
      .then(() => null, (err: unknown) => err);
    expect((await b.certificates.get(serial))?.status).toBe("revoked");
    expect(completion).toMatchObject({ code: "blocked" });
  });

  // Regression: completing an intent (row lock, then head) and revokeAndBlock (head, then the same
  // row) deadlocked; PostgreSQL aborted one after deadlock_timeout and recordIssued failed with a raw
  // 40P01. The advisory lock taken before the head by both orders them. Repro: an intent pending for
  // node N; hold audit_head FOR UPDATE; revokeAndBlock(N) on A; recordIssued on B; release.
  it("completing an intent while A blocks its node is refused as blocked, not by a deadlock", async () => {
    const node = `deadlock-${tag()}`;
    const serial = newSerialHex();
    await b.journal.recordIntent(intent(serial, b.authority.intermediate.id, { nodeId: node }), event(AUDIT_EVENTS.certificateIntent, serial));
    const der = Buffer.from("signed while being blocked");
    const results = await withHeadHeld(
      () => a.authority.revokeAndBlock({ kind: "node", value: node }, "admin-token:a", { reason: "keyCompromise" }),
      () => b.journal.recordIssued(serial, der, createHash("sha256").update(der).digest("hex"), event(AUDIT_EVENTS.certificateIssued, serial)),
    );
    expect((await b.certificates.get(serial))?.status).toBe("revoked");
    expect(results[0]!.status).toBe("fulfilled");
    expect(results[1]!.status).toBe("rejected");
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: "blocked" });
  });
});
