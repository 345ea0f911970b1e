// The enrolment block list in memory, for the issuance pipeline. Reloaded whenever the audit log says
// a block was set or lifted (on this replica or another). The ledger checks blocks again in the
// statement that records an intent, so the pipeline's answer is a fast, clear refusal and the
// database's is the guarantee.
import { matchBlock, type BlockList, type EnrolmentBlock, type EnrolmentSubject } from "../../ca/ports.js";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import type { Journal } from "../db/journal.js";
import type { FollowedEvent } from "./follower.js";

export class BlockCache implements BlockList {
  #blocks = new Map<string, EnrolmentBlock>();
  #loading: Promise<void> | null = null;
  #stale = false;

  constructor(private readonly journal: Journal) {}

  async load(): Promise<void> {
    const blocks = await this.journal.blocks();
    this.#blocks = new Map(blocks.map((b) => [`${b.kind}\0${b.value}`, b]));
  }

  find(subject: EnrolmentSubject): EnrolmentBlock | null {
    return matchBlock(this.#blocks, subject);
  }

  list(): EnrolmentBlock[] {
    return [...this.#blocks.values()];
  }

  /** The follower's listener. */
  onEvents = (events: FollowedEvent[]): void => {
    if (!events.some((e) => e.event === AUDIT_EVENTS.enrolmentBlocked || e.event === AUDIT_EVENTS.enrolmentUnblocked)) return;
    // Reload rather than patch: blocks are few, and the table is the truth.
    this.#reload();
  };

  #reload(): void {
    if (this.#loading) {
      this.#stale = true; // a change that committed after the running read began
      return;
    }
    this.#loading = this.load()
      .catch(() => undefined)
      .finally(() => {
        this.#loading = null;
        if (this.#stale) {
          this.#stale = false;
          this.#reload();
        }
      });
  }
}
