// A pool of worker threads that verify CSR signatures, so that the issuance pipeline's most
// expensive step runs beside (not on) the main thread that does the HTTP, policy and storage work.
// Requests that arrive together are posted to a worker as one message. A worker that dies is
// replaced and its in-flight requests are verified in-process instead, so a crash loses nothing.
import type { Worker } from "node:worker_threads";
import { ERROR_CODES, SignetError, type ErrorCode } from "../../ca/errors.js";
import { inProcessCsrVerifier, type CsrVerifier } from "../../ca/csr-verifier.js";
import type { ParsedCsr } from "../../ca/x509/index.js";
import type { VerifyReply, VerifyRequest } from "./csr-verify-worker.js";
import { spawnWorker } from "./spawn.js";

const fromSource = import.meta.url.endsWith(".ts");
const startWorker = () => spawnWorker(new URL("./csr-verify-worker", import.meta.url), fromSource);

interface Pending {
  csr: ParsedCsr;
  resolve(): void;
  reject(err: unknown): void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
}

export class CsrVerifyPool implements CsrVerifier {
  readonly #slots: Slot[] = [];
  #queue: Array<{ id: number; pending: Pending }> = [];
  #nextId = 1;
  #next = 0;
  #scheduled = false;
  #closed = false;
  /** How many verdicts came from workers and how many from the in-process fallback. */
  readonly stats = { byWorker: 0, inProcess: 0 };

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  verify(csr: ParsedCsr): Promise<void> {
    if (this.#closed || this.#slots.length === 0) {
      this.stats.inProcess++;
      return inProcessCsrVerifier.verify(csr);
    }
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, pending: { csr, resolve, reject } });
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => this.#dispatch());
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.splice(0).map((s) => s.worker.terminate()));
  }

  /** Kills one worker the way a crash would (for tests of the recovery path). */
  async terminateOneForTest(): Promise<void> {
    const slot = this.#slots[0];
    if (!slot) return;
    const exited = new Promise<void>((r) => slot.worker.once("exit", () => r()));
    slot.worker.postMessage("exit-for-test");
    await exited;
  }

  #dispatch(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    if (queue.length === 0) return;
    // Split what arrived this tick across the workers.
    const per = Math.ceil(queue.length / this.#slots.length);
    for (let i = 0; i < queue.length; i += per) {
      const slot = this.#slots[this.#next++ % this.#slots.length]!;
      const batch: VerifyRequest[] = [];
      for (const { id, pending } of queue.slice(i, i + per)) {
        slot.inFlight.set(id, pending);
        batch.push({ id, der: pending.csr.der });
      }
      slot.worker.postMessage(batch);
    }
  }

  #spawn(): Slot {
    const worker = startWorker();
    worker.unref();
    const slot: Slot = { worker, inFlight: new Map() };
    worker.on("message", (replies: VerifyReply[]) => {
      for (const r of replies) {
        const p = slot.inFlight.get(r.id);
        if (!p) continue;
        slot.inFlight.delete(r.id);
        this.stats.byWorker++;
        if (r.ok) p.resolve();
        else p.reject(new SignetError(r.code in ERROR_CODES ? (r.code as ErrorCode) : "bad_csr", r.message));
      }
    });
    const replace = () => {
      const orphans = [...slot.inFlight.values()];
      slot.inFlight.clear();
      const at = this.#slots.indexOf(slot);
      if (at >= 0 && !this.#closed) this.#slots[at] = this.#spawn();
      this.stats.inProcess += orphans.length;
      for (const p of orphans) inProcessCsrVerifier.verify(p.csr).then(p.resolve, p.reject);
    };
    worker.on("error", replace);
    worker.on("exit", (code) => {
      if (!this.#closed && code !== 0) replace();
    });
    return slot;
  }
}
