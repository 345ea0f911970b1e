// The journal: every write that must be audited goes through here, with its audit events appended to
// the hash chain in the same transaction (under the chain head's row lock, so several replicas on one
// PostgreSQL keep one chain). Issuance writes are group-committed: calls that arrive while a batch is
// in flight are written together as a handful of set-based statements, which is what lets the
// pipeline store thousands of certificates per second (Prisma's createMany alone manages ~900 rows/s,
// see FACTS.md). Those batches go straight to the driver under Prisma (RawSql: the pg pool or the
// PGlite instance): on this one hot path Prisma's query compiler cost as much CPU per certificate as
// the signature. Low-rate writes (provisioners, revocations) use transact(), on Prisma.
import type { Logger } from "pino";
import { AUDIT_EVENTS, chainEvents, type ChainedEvent } from "../../ca/audit.js";
import { blockedError } from "../../ca/authority.js";
import {
  SerialConflict,
  matchBlock,
  type AuditEventInput,
  type AuditLog,
  type BlockTarget,
  type CertificateIntent,
  type CertificateRecord,
  type EnrolmentBlock,
  type IssuanceLedger,
  type Revocation,
  type StoredAuditEvent,
} from "../../ca/ports.js";
import { SignetError } from "../../ca/errors.js";
import type { PrismaClient } from "./database.js";
import type { RawSql } from "./migrate.js";
import { blockFromRow, certificateFromRow, type BlockRow } from "./rows.js";

type Tx = Parameters<Parameters<PrismaClient["$transaction"]>[0]>[0];

/** What lockHead and writeEvents need: a parameterised query inside the caller's transaction. */
interface Exec {
  query<T>(sql: string, params?: unknown[]): Promise<T[]>;
}

type Op =
  | { kind: "intent"; intent: CertificateIntent; audit: AuditEventInput; done: Settle }
  | { kind: "issued"; serial: string; der: Buffer; fingerprint: string; audit: AuditEventInput; done: Settle }
  | { kind: "failed"; serial: string; reason: string; audit: AuditEventInput; done: Settle }
  | { kind: "event"; audit: AuditEventInput; done: Settle };

interface Settle {
  resolve(): void;
  reject(err: unknown): void;
}

// Arrays arrive as JSON arrays and jsonb_to_recordset turns them into text[] itself.
const INSERT_INTENTS = `
INSERT INTO certificates (serial, issuer_id, status, subject, common_name, dns_names, ip_addresses, uris, emails,
  spiffe_id, roles, profile, provisioner_id, provisioner_name, identity, node_id, not_before, not_after,
  key_algorithm, subject_key_id, requested_by, account_id)
SELECT v.serial, v.issuer_id, 'pending'::"CertificateStatus", v.subject, v.common_name, v.dns, v.ip, v.uri,
  v.email, v.spiffe_id, v.roles, v.profile, v.provisioner_id, v.provisioner_name,
  v.identity, v.node_id, v.not_before, v.not_after, v.key_algorithm, v.subject_key_id, v.requested_by, v.account_id
FROM jsonb_to_recordset($1::jsonb) AS v(serial text, issuer_id text, subject text, common_name text, dns text[],
  ip text[], uri text[], email text[], spiffe_id text, roles text[], profile text, provisioner_id text,
  provisioner_name text, identity text, node_id text, not_before timestamptz, not_after timestamptz,
  key_algorithm text, subject_key_id text, requested_by text, account_id text)
WHERE NOT EXISTS (SELECT 1 FROM enrolment_blocks b WHERE (b.kind = 'node' AND b.value = v.node_id)
  OR (b.kind = 'identity' AND b.value IN (v.identity, v.spiffe_id)) OR (b.kind = 'account' AND b.value = v.account_id))
ON CONFLICT (serial) DO NOTHING
RETURNING serial`;

const COMPLETE_ISSUED = `
UPDATE certificates c SET status = 'valid', der = decode(v.der, 'base64'), fingerprint = v.fingerprint
FROM jsonb_to_recordset($1::jsonb) AS v(serial text, der text, fingerprint text)
WHERE c.serial = v.serial AND c.status = 'pending'
RETURNING c.serial`;

const MARK_FAILED = `
UPDATE certificates c SET status = 'failed', failure = v.reason
FROM jsonb_to_recordset($1::jsonb) AS v(serial text, reason text)
WHERE c.serial = v.serial AND c.status = 'pending'
RETURNING c.serial`;

const INSERT_EVENTS = `
INSERT INTO audit_events (seq, time, event, actor, target, data, prev_hash, hash)
SELECT v.seq, v.time, v.event, v.actor, v.target, v.data, v.prev_hash, v.hash
FROM jsonb_to_recordset($1::jsonb) AS v(seq bigint, time timestamptz, event text, actor text, target text,
  data jsonb, prev_hash text, hash text)`;

// One statement for a whole batch, for the optimistic path: every data-modifying CTE runs exactly
// once; the counts tell whether every operation did what was assumed when its events were chained.
const WRITE_BATCH_AT_ONCE = `
WITH ins AS (${INSERT_INTENTS.trim()}),
iss AS (${COMPLETE_ISSUED.trim().replace("$1", "$2")}),
fld AS (${MARK_FAILED.trim().replace("$1", "$3")}),
ev AS (${INSERT_EVENTS.trim().replace("$1", "$4")} RETURNING 1),
hd AS (UPDATE audit_head SET seq = $5::bigint, hash = $6 WHERE id = 1 AND seq = $7::bigint AND hash = $8 RETURNING 1)
SELECT (SELECT count(*) FROM ins)::int AS ins, (SELECT count(*) FROM iss)::int AS iss,
  (SELECT count(*) FROM fld)::int AS fld, (SELECT count(*) FROM ev)::int AS ev, (SELECT count(*) FROM hd)::int AS hd`;

/** The optimistic write did not go as assumed; the batch is written again the exact way. */
class OptimisticMiss extends Error {}

export interface JournalOptions {
  /** The only writer of this database (PGlite: one process, one connection). Batches then go as one
   * optimistic statement each (PGlite's per-statement cost dominates its batches), falling back to
   * the exact path when anything differs from what was assumed. */
  singleWriter?: boolean;
  /** Most operations written in one transaction. */
  maxBatch?: number;
  /** Batches written concurrently, each on its own connection (PostgreSQL). They overlap their data
   * statements and serialise only on the audit head's row lock, taken last. PGlite has one
   * connection, so 1 there. */
  maxInFlight?: number;
  /** NOTIFY other replicas (LISTEN on EVENTS_CHANNEL) when transact() stores events. Default: when
   * not the single writer. */
  notify?: boolean;
}

/** An advisory lock key ("SIGN"). Issuance batches hold it shared while they record and complete
 * intents; revokeAndBlock takes it exclusively, first. So a block never races an intent: a batch
 * that started earlier commits before the block is read by the revoking UPDATE (which then sees its
 * rows), and a batch that starts later records its intents after the block commits (and its NOT
 * EXISTS sees it). Taking it before the audit head keeps one lock order everywhere. */
const ISSUANCE_LOCK = 1397311822;

/** The channel transact() notifies on, with the last stored seq as payload. */
export const EVENTS_CHANNEL = "signet_events";

export class Journal implements IssuanceLedger, AuditLog {
  readonly #prisma: PrismaClient;
  readonly #raw: RawSql;
  readonly #log: Logger;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #singleWriter: boolean;
  readonly #notify: boolean;
  /** The single writer's copy of the chain head after its last batch; checked by the statement. */
  #head: { seq: bigint; hash: string } | null = null;
  #queue: Op[] = [];
  #inFlight = 0;
  #gathering = false;
  #idle: Array<() => void> = [];
  /** Batches written in one statement, and those written the exact way (after a miss, or always). */
  readonly stats = { atOnce: 0, exact: 0, misses: 0 };
  /** Called with each event after it is durably stored (the live feed and metrics hook in here). */
  onEvents: ((events: StoredAuditEvent[]) => void) | null = null;

  constructor(prisma: PrismaClient, raw: RawSql, log: Logger, opts: JournalOptions = {}) {
    this.#prisma = prisma;
    this.#raw = raw;
    this.#log = log;
    this.#maxBatch = opts.maxBatch ?? 64;
    this.#maxInFlight = opts.maxInFlight ?? 1;
    this.#singleWriter = opts.singleWriter ?? false;
    this.#notify = opts.notify ?? !this.#singleWriter;
  }

  recordIntent(intent: CertificateIntent, audit: AuditEventInput): Promise<void> {
    return this.#enqueue((done) => ({ kind: "intent", intent, audit, done }));
  }

  recordIssued(serial: string, der: Buffer, fingerprint: string, audit: AuditEventInput): Promise<void> {
    return this.#enqueue((done) => ({ kind: "issued", serial, der, fingerprint, audit, done }));
  }

  recordFailure(serial: string, reason: string, audit: AuditEventInput): Promise<void> {
    return this.#enqueue((done) => ({ kind: "failed", serial, reason, audit, done }));
  }

  append(audit: AuditEventInput): Promise<void> {
    return this.#enqueue((done) => ({ kind: "event", audit, done }));
  }

  async revoke(serial: string, r: Revocation, audit: AuditEventInput): Promise<CertificateRecord | null> {
    return this.transact(async (tx, append) => {
      const rows = await tx.$queryRawUnsafe<{ serial: string }[]>(
        `UPDATE certificates SET status = 'revoked', revoked_at = $2::timestamptz, revocation_reason = $3, revoked_by = $4,
           invalidity_date = $5::timestamptz
         WHERE serial = $1 AND status = 'valid' RETURNING serial`,
        serial,
        r.at.toISOString(),
        r.reason,
        r.actor,
        r.invalidityDate?.toISOString() ?? null,
      );
      if (rows.length === 0) return null;
      append(audit);
      return certificateFromRow(await tx.certificate.findUniqueOrThrow({ where: { serial } }));
    });
  }

  async revokeAndBlock(
    target: BlockTarget,
    r: Revocation,
    blockReason: string,
    auditFor: (c: CertificateRecord) => AuditEventInput,
    blockAudit: AuditEventInput,
  ): Promise<{ revoked: CertificateRecord[]; block: EnrolmentBlock }> {
    return this.transact(async (tx, append) => {
      // The block first: from its commit on, no intent for the target can be recorded (INSERT_INTENTS
      // checks it). Intents recorded before it are pending or valid, and revoked below.
      const [blockRow] = await tx.$queryRawUnsafe<BlockRow[]>(
        `INSERT INTO enrolment_blocks (kind, value, reason, created_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, value) DO UPDATE SET kind = EXCLUDED.kind
         RETURNING kind, value, reason, created_by, created_at`,
        target.kind,
        target.value,
        blockReason,
        r.actor,
      );
      const where = { node: "node_id = $1", identity: "(identity = $1 OR spiffe_id = $1)", account: "account_id = $1" }[target.kind];
      const rows = await tx.$queryRawUnsafe<{ serial: string }[]>(
        `UPDATE certificates SET status = 'revoked', revoked_at = $2::timestamptz, revocation_reason = $3, revoked_by = $4,
           invalidity_date = $5::timestamptz
         WHERE ${where} AND status IN ('valid', 'pending') AND not_after > $2::timestamptz RETURNING serial`,
        target.value,
        r.at.toISOString(),
        r.reason,
        r.actor,
        r.invalidityDate?.toISOString() ?? null,
      );
      const revoked =
        rows.length === 0
          ? []
          : (await tx.certificate.findMany({ where: { serial: { in: rows.map((x) => x.serial) } }, orderBy: { createdAt: "asc" } })).map(certificateFromRow);
      for (const c of revoked) append(auditFor(c));
      append(blockAudit);
      return { revoked, block: blockFromRow(blockRow!) };
    }, { excludeIssuance: true });
  }

  async unblock(target: BlockTarget, audit: AuditEventInput): Promise<EnrolmentBlock | null> {
    return this.transact(async (tx, append) => {
      const [row] = await tx.$queryRawUnsafe<BlockRow[]>(
        `DELETE FROM enrolment_blocks WHERE kind = $1 AND value = $2 RETURNING kind, value, reason, created_by, created_at`,
        target.kind,
        target.value,
      );
      if (!row) return null;
      append(audit);
      return blockFromRow(row);
    });
  }

  /** Every block, oldest first. */
  async blocks(): Promise<EnrolmentBlock[]> {
    const rows = await this.#raw.query<BlockRow>(`SELECT kind, value, reason, created_by, created_at FROM enrolment_blocks ORDER BY created_at, kind, value`);
    return rows.map(blockFromRow);
  }

  /** Marks intents that have been pending for longer than `olderThanSeconds` as failed: the process
   * that recorded them stopped before signing or storing (nothing was handed out). Returns the serials. */
  async sweepAbandoned(olderThanSeconds: number, actor = "system:sweep"): Promise<string[]> {
    return this.transact(async (tx, append) => {
      const reason = "abandoned: the process stopped before the certificate was signed and stored";
      const rows = await tx.$queryRawUnsafe<{ serial: string }[]>(
        `UPDATE certificates SET status = 'failed', failure = $1
         WHERE status = 'pending' AND created_at < now() - make_interval(secs => $2) RETURNING serial`,
        reason,
        olderThanSeconds,
      );
      for (const { serial } of rows) {
        append({ event: AUDIT_EVENTS.certificateFailed, actor, target: serial, data: { serial, reason } });
      }
      return rows.map((r) => r.serial);
    }, { excludeIssuance: true });
  }

  /** Runs `fn` in a transaction that holds the audit chain; events passed to `append` are chained and
   * stored with it, or not at all. */
  async transact<T>(fn: (tx: Tx, append: (e: AuditEventInput) => void) => Promise<T>, opts: { excludeIssuance?: boolean } = {}): Promise<T> {
    this.#head = null;
    let stored: StoredAuditEvent[] = [];
    const out = await this.#prisma.$transaction(
      async (tx) => {
        const exec: Exec = { query: (sql, params = []) => tx.$queryRawUnsafe(sql, ...params) };
        // Waits for issuance batches in flight and holds new ones back until this commits.
        if (opts.excludeIssuance && !this.#singleWriter) await exec.query(`SELECT pg_advisory_xact_lock(${ISSUANCE_LOCK})::text AS ok`);
        const head = await lockHead(exec);
        const events: AuditEventInput[] = [];
        const result = await fn(tx, (e) => events.push(e));
        stored = await writeEvents(exec, head, events);
        // Other replicas follow the audit log (revocations, blocks); this wakes them at commit.
        if (stored.length > 0 && this.#notify) await exec.query(`SELECT pg_notify('${EVENTS_CHANNEL}', $1)::text AS ok`, [stored[stored.length - 1]!.seq.toString()]);
        return result;
      },
      { timeout: 30_000, maxWait: 30_000 },
    );
    // A batch that finished while this waited may have stored a copy this transaction made stale.
    this.#head = null;
    this.#published(stored);
    return out;
  }

  /** Waits until everything queued so far is written. */
  drain(): Promise<void> {
    if (this.#queue.length === 0 && this.#inFlight === 0 && !this.#gathering) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #enqueue(make: (done: Settle) => Op): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push(make({ resolve, reject }));
      if (this.#inFlight < this.#maxInFlight && !this.#gathering) {
        // Let the calls made in this turn of the event loop join the batch.
        this.#gathering = true;
        setImmediate(() => {
          this.#gathering = false;
          this.#pump();
        });
      }
    });
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#inFlight < this.#maxInFlight) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#inFlight++;
      void this.#write(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
    if (this.#queue.length === 0 && this.#inFlight === 0 && !this.#gathering) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #write(batch: Op[]): Promise<void> {
    let written: { stored: StoredAuditEvent[]; settle: () => void };
    try {
      written = await this.#writeBatch(batch);
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.done.reject(err);
        return;
      }
      // One bad operation must not fail its neighbours: retry each alone.
      for (const op of batch) await this.#write([op]);
      return;
    }
    // Committed: from here nothing may retry the batch (that would write its events twice).
    written.settle();
    this.#published(written.stored);
  }

  async #writeBatch(batch: Op[]): Promise<{ stored: StoredAuditEvent[]; settle: () => void }> {
    if (this.#singleWriter) {
      try {
        const written = await this.#writeBatchAtOnce(batch);
        this.stats.atOnce++;
        return written;
      } catch (err) {
        this.#head = null;
        if (!(err instanceof OptimisticMiss)) throw err;
        this.stats.misses++;
      }
    }
    this.stats.exact++;
    this.#head = null;
    return this.#writeBatchExact(batch);
  }

  /** Assumes every operation succeeds, chains the events accordingly and writes it all in one
   * statement; any count that differs rolls the transaction back (OptimisticMiss). */
  async #writeBatchAtOnce(batch: Op[]): Promise<{ stored: StoredAuditEvent[]; settle: () => void }> {
    return this.#raw.transaction(async (sql) => {
      const failures = new Map<Op, unknown>();
      const intents = firstPerSerial(batch, "intent", (serial) => new SerialConflict(serial), failures);
      const issued = firstPerSerial(batch, "issued", (serial) => new Error(`certificate ${serial} is not pending`), failures);
      const failed = firstPerSerial(batch, "failed", (serial) => new Error(`certificate ${serial} is not pending`), failures);
      if (failures.size > 0) throw new OptimisticMiss();
      const head = this.#head ?? (await lockHead(sql));
      const stored = chainEvents(head, batch.map((o) => o.audit), new Date());
      const last = stored[stored.length - 1]!;
      const [counts] = await sql.query<{ ins: number; iss: number; fld: number; ev: number; hd: number }>(WRITE_BATCH_AT_ONCE, [
        JSON.stringify(intents.map((o) => intentRow(o.intent))),
        JSON.stringify(issued.map(issuedRow)),
        JSON.stringify(failed.map(failedRow)),
        eventRowsJson(stored),
        last.seq.toString(),
        last.hash,
        head.seq.toString(),
        head.hash,
      ]);
      if (!counts || counts.ins !== intents.length || counts.iss !== issued.length || counts.fld !== failed.length || counts.ev !== stored.length || counts.hd !== 1) {
        throw new OptimisticMiss();
      }
      this.#head = { seq: last.seq, hash: last.hash };
      return {
        stored,
        settle: () => {
          for (const o of batch) o.done.resolve();
        },
      };
    });
  }

  async #writeBatchExact(batch: Op[]): Promise<{ stored: StoredAuditEvent[]; settle: () => void }> {
    return this.#raw.transaction(async (sql) => {
      if (!this.#singleWriter && batch.some((o) => o.kind === "intent" || o.kind === "issued")) {
        await sql.query(`SELECT pg_advisory_xact_lock_shared(${ISSUANCE_LOCK})::text AS ok`);
      }
      const ok = new Set<Op>();
      const failures = new Map<Op, unknown>();

      // ON CONFLICT and UPDATE ... FROM both let one statement touch a row once, reporting it once:
      // two ops for one serial in a batch must not both read that as success (two certificates
      // sharing a serial). The first keeps the serial; the others fail as they would alone, later.
      const intents = firstPerSerial(batch, "intent", (serial) => new SerialConflict(serial), failures);
      if (intents.length > 0) {
        const rows = await sql.query<{ serial: string }>(INSERT_INTENTS, [JSON.stringify(intents.map((o) => intentRow(o.intent)))]);
        const inserted = new Set(rows.map((r) => r.serial));
        const missing = intents.filter((o) => !inserted.has(o.intent.serialHex));
        const blocked = missing.length > 0 ? await blocksFor(sql, missing.map((o) => o.intent)) : new Map<string, EnrolmentBlock>();
        for (const o of intents) {
          if (inserted.has(o.intent.serialHex)) {
            ok.add(o);
            continue;
          }
          const block = matchBlock(blocked, o.intent);
          failures.set(o, block ? blockedError(block) : new SerialConflict(o.intent.serialHex));
        }
      }
      await update(sql, batch, "issued", COMPLETE_ISSUED, issuedRow, ok, failures);
      await update(sql, batch, "failed", MARK_FAILED, failedRow, ok, failures);
      for (const o of batch) if (o.kind === "event") ok.add(o);

      // The chain's head is locked last, so concurrent batches overlap everything above.
      const head = await lockHead(sql);
      const stored = await writeEvents(sql, head, batch.filter((o) => ok.has(o)).map((o) => o.audit));
      return {
        stored,
        settle: () => {
          for (const o of batch) {
            const f = failures.get(o);
            if (f === undefined) o.done.resolve();
            else o.done.reject(f);
          }
        },
      };
    });
  }

  #published(stored: StoredAuditEvent[]): void {
    if (stored.length === 0) return;
    try {
      for (const e of stored) {
        this.#log.info({ event: e.event, seq: e.seq.toString(), actor: e.actor, target: e.target, data: e.data, hash: e.hash }, e.event);
      }
      this.onEvents?.(stored);
    } catch (err) {
      // The events are stored; a failing log sink or listener must not turn that into an error.
      this.#log.error({ err }, "publishing stored audit events failed");
    }
  }
}

async function update<K extends "issued" | "failed">(
  sql: Exec,
  batch: Op[],
  kind: K,
  statement: string,
  row: (o: Extract<Op, { kind: K }>) => Record<string, unknown>,
  ok: Set<Op>,
  failures: Map<Op, unknown>,
): Promise<void> {
  const ops = firstPerSerial(batch, kind, (serial) => new Error(`certificate ${serial} is not pending`), failures);
  if (ops.length === 0) return;
  const rows = await sql.query<{ serial: string }>(statement, [JSON.stringify(ops.map(row))]);
  const updated = new Set(rows.map((r) => r.serial));
  const missed = ops.map((o) => (o as { serial: string }).serial).filter((serial) => !updated.has(serial));
  // An intent revoked while it was being signed (revoke --node): the caller gets the reason.
  const revoked =
    missed.length === 0
      ? new Set<string>()
      : new Set((await sql.query<{ serial: string }>(`SELECT serial FROM certificates WHERE serial = ANY($1::text[]) AND status = 'revoked'`, [missed])).map((r) => r.serial));
  for (const o of ops) {
    const serial = (o as { serial: string }).serial;
    if (updated.has(serial)) ok.add(o);
    else if (revoked.has(serial)) failures.set(o, new SignetError("blocked", `certificate ${serial} was revoked while it was being issued: its node, identity or account has been blocked`));
    else failures.set(o, new Error(`certificate ${serial} is not pending`));
  }
}

/** The blocks that apply to any of `intents`, keyed as matchBlock expects. */
async function blocksFor(sql: Exec, intents: CertificateIntent[]): Promise<Map<string, EnrolmentBlock>> {
  const values = [...new Set(intents.flatMap((i) => [i.nodeId, i.identity, i.spiffeId, i.accountId]).filter((v): v is string => v !== null))];
  if (values.length === 0) return new Map();
  const rows = await sql.query<BlockRow>(`SELECT kind, value, reason, created_by, created_at FROM enrolment_blocks WHERE value = ANY($1::text[])`, [values]);
  return new Map(rows.map((r) => [`${r.kind}\0${r.value}`, blockFromRow(r)]));
}

/** The batch's ops of one kind, one per serial; later ops for a serial already seen fail with `conflict`. */
function firstPerSerial<K extends "intent" | "issued" | "failed">(
  batch: Op[],
  kind: K,
  conflict: (serial: string) => unknown,
  failures: Map<Op, unknown>,
): Extract<Op, { kind: K }>[] {
  const seen = new Set<string>();
  const out: Extract<Op, { kind: K }>[] = [];
  for (const o of batch) {
    if (o.kind !== kind) continue;
    const serial = o.kind === "intent" ? o.intent.serialHex : (o as { serial: string }).serial;
    if (seen.has(serial)) {
      failures.set(o, conflict(serial));
    } else {
      seen.add(serial);
      out.push(o as Extract<Op, { kind: K }>);
    }
  }
  return out;
}

async function lockHead(sql: Exec): Promise<{ seq: bigint; hash: string }> {
  const rows = await sql.query<{ seq: bigint | string | number; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`);
  const row = rows[0];
  if (!row) throw new Error("audit_head row is missing: the database was not migrated");
  return { seq: BigInt(row.seq), hash: row.hash };
}

async function writeEvents(sql: Exec, head: { seq: bigint; hash: string }, events: AuditEventInput[]): Promise<StoredAuditEvent[]> {
  if (events.length === 0) return [];
  const stored = chainEvents(head, events, new Date());
  await sql.query(INSERT_EVENTS, [eventRowsJson(stored)]);
  const last = stored[stored.length - 1]!;
  await sql.query(`UPDATE audit_head SET seq = $1::bigint, hash = $2 WHERE id = 1`, [last.seq.toString(), last.hash]);
  return stored;
}

/** The events as a JSON array for INSERT_EVENTS; the data goes in as the canonical JSON that was
 * hashed, not re-serialised. */
function eventRowsJson(stored: ChainedEvent[]): string {
  const rows = stored.map(
    (e) =>
      `{"seq":"${e.seq}","time":"${e.time.toISOString()}","event":${JSON.stringify(e.event)},"actor":${JSON.stringify(e.actor)},` +
      `"target":${JSON.stringify(e.target ?? null)},"data":${e.dataJson},"prev_hash":"${e.prevHash}","hash":"${e.hash}"}`,
  );
  return `[${rows.join(",")}]`;
}

function issuedRow(o: Extract<Op, { kind: "issued" }>): Record<string, unknown> {
  return { serial: o.serial, der: o.der.toString("base64"), fingerprint: o.fingerprint };
}

function failedRow(o: Extract<Op, { kind: "failed" }>): Record<string, unknown> {
  return { serial: o.serial, reason: o.reason };
}

function intentRow(i: CertificateIntent): Record<string, unknown> {
  return {
    serial: i.serialHex,
    issuer_id: i.issuerId,
    subject: i.subject,
    common_name: i.commonName,
    dns: i.names.dns,
    ip: i.names.ip,
    uri: i.names.uri,
    email: i.names.email,
    spiffe_id: i.spiffeId,
    roles: i.roles,
    profile: i.profile,
    provisioner_id: i.provisionerId,
    provisioner_name: i.provisionerName,
    identity: i.identity,
    node_id: i.nodeId,
    not_before: i.notBefore.toISOString(),
    not_after: i.notAfter.toISOString(),
    key_algorithm: i.keyAlgorithm,
    subject_key_id: i.subjectKeyId,
    requested_by: i.requestedBy,
    account_id: i.accountId,
  };
}
