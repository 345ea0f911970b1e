// The enrolment block list in memory, for the issuance pipeline. Loaded from the table at start, then
// kept current from the audit events that set and lift blocks: this process's own as they commit
// (so an unblock is in effect when its API call returns) and other replicas' through the follower.
// Each key remembers the seq of the last event applied to it, so an event seen twice (locally, then
// from the follower) or late never undoes a newer one. The ledger checks blocks again in the
// statement that records an intent: the pipeline's answer is a fast, clear refusal and the
// database's is the guarantee.
import { AUDIT_EVENTS } from "../../ca/audit.js";
import { matchBlock, type BlockKind, type BlockList, type EnrolmentBlock, type EnrolmentSubject } from "../../ca/ports.js";
import type { Journal } from "../db/journal.js";

/** The part of an audit event blocks are rebuilt from (stored and followed events both have it). */
export interface BlockEvent {
  seq: bigint;
  time: Date;
  event: string;
  actor: string;
  data: Record<string, unknown>;
}

export class BlockCache implements BlockList {
  readonly #blocks = new Map<string, EnrolmentBlock>();
  /** key → seq of the last event applied to it (blocked or lifted). */
  readonly #applied = new Map<string, bigint>();

  constructor(private readonly journal: Journal) {}

  async load(): Promise<void> {
    const blocks = await this.journal.blocks();
    this.#blocks.clear();
    for (const b of blocks) this.#blocks.set(key(b.kind, b.value), b);
  }

  find(subject: EnrolmentSubject): EnrolmentBlock | null {
    return matchBlock(this.#blocks, subject);
  }

  /** Applies block and unblock events, in seq order; others are ignored. */
  apply = (events: readonly BlockEvent[]): void => {
    for (const e of events) {
      const blocked = e.event === AUDIT_EVENTS.enrolmentBlocked;
      if (!blocked && e.event !== AUDIT_EVENTS.enrolmentUnblocked) continue;
      const kind = e.data.kind as BlockKind;
      const value = e.data.value;
      if (typeof value !== "string") continue;
      const k = key(kind, value);
      if ((this.#applied.get(k) ?? -1n) >= e.seq) continue;
      this.#applied.set(k, e.seq);
      if (!blocked) {
        this.#blocks.delete(k);
      } else if (!this.#blocks.has(k)) {
        // A repeated block keeps the original's date and reason, as the table does.
        this.#blocks.set(k, { kind, value, reason: String(e.data.reason ?? ""), createdBy: e.actor, createdAt: e.time });
      }
    }
  };
}

const key = (kind: string, value: string) => `${kind}\0${value}`;
