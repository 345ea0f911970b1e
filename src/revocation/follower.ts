// Follows the audit log for the events other parts of this process react to: revocations (OCSP,
// CRLs, the live feed) and enrolment blocks (the pipeline's block list). The audit log is the one
// source because its seq is assigned under the chain head's row lock and committed in that order, so
// "everything after seq N" never skips a row that commits late: a cursor is enough to be complete,
// on one replica or several. Wake-ups come from this process's own writes (Journal.onEvents), from
// other replicas (PostgreSQL NOTIFY) and, as a safety net, from a slow poll.
import type { Logger } from "pino";
import type { Database } from "../db/database.js";
import { EVENTS_CHANNEL } from "../db/journal.js";

export interface FollowedEvent {
  seq: bigint;
  time: Date;
  event: string;
  actor: string;
  target: string | null;
  data: Record<string, unknown>;
}

export type EventListener = (events: FollowedEvent[]) => void;

const PAGE = 1000;

export class AuditFollower {
  readonly #db: Database;
  readonly #events: string[];
  readonly #log: Logger;
  readonly #pollMs: number;
  readonly #listeners = new Set<EventListener>();
  #cursor = 0n;
  #running: Promise<void> | null = null;
  #again = false;
  #timer: NodeJS.Timeout | null = null;
  #unlisten: (() => Promise<void>) | null = null;
  #stopped = false;

  constructor(db: Database, events: readonly string[], log: Logger, opts: { pollMs?: number } = {}) {
    this.#db = db;
    this.#events = [...events];
    this.#log = log;
    this.#pollMs = opts.pollMs ?? 2000;
  }

  /** The seq of the last event delivered. */
  get cursor(): bigint {
    return this.#cursor;
  }

  /** Starts after the current end of the log: callers load the present state themselves. */
  async start(): Promise<void> {
    const [head] = await this.#db.raw.query<{ seq: string | number | bigint }>(`SELECT seq FROM audit_head WHERE id = 1`);
    this.#cursor = BigInt(head?.seq ?? 0);
    this.#unlisten = await this.#db.listen(EVENTS_CHANNEL, () => this.poke(), (err) => this.#log.warn({ err }, "lost the database notification connection; reconnecting"));
    const tick = () => {
      this.#timer = setTimeout(() => {
        this.poke();
        tick();
      }, this.#pollMs);
      this.#timer.unref();
    };
    tick();
  }

  subscribe(fn: EventListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reads what is new; concurrent pokes coalesce into one more read. Resolves when caught up. */
  poke(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#drain().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #drain(): Promise<void> {
    do {
      this.#again = false;
      try {
        let n: number;
        do {
          const rows = await this.#db.raw.query<{ seq: string | number | bigint; time: Date | string; event: string; actor: string; target: string | null; data: unknown }>(
            `SELECT seq, time, event, actor, target, data FROM audit_events WHERE seq > $1::bigint AND event = ANY($2::text[]) ORDER BY seq LIMIT ${PAGE}`,
            [this.#cursor.toString(), this.#events],
          );
          n = rows.length;
          if (n === 0) break;
          const events = rows.map((r) => ({
            seq: BigInt(r.seq),
            time: new Date(r.time),
            event: r.event,
            actor: r.actor,
            target: r.target,
            data: (typeof r.data === "string" ? JSON.parse(r.data) : r.data) as Record<string, unknown>,
          }));
          this.#cursor = events[events.length - 1]!.seq;
          this.#deliver(events);
        } while (n === PAGE && !this.#stopped);
      } catch (err) {
        if (this.#stopped) return;
        this.#log.warn({ err }, "reading new audit events failed; retrying at the next poll");
        return;
      }
    } while (this.#again && !this.#stopped);
  }

  #deliver(events: FollowedEvent[]): void {
    for (const fn of this.#listeners) {
      try {
        fn(events);
      } catch (err) {
        this.#log.error({ err }, "an audit event listener failed");
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#unlisten?.();
    await this.#running?.catch(() => undefined);
  }
}
