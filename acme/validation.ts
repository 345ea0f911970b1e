// Runs a challenge's validation after the client's POST (RFC 8555 §7.5.1, §8.2): up to `attempts`
// tries `retryDelayMs` apart. While it retries, the challenge stays "processing" with the last error
// in its "error" field; a client that POSTs to it again gets an immediate retry. Then the challenge and
// its authorization become valid or invalid together.
import type { FastifyBaseLogger } from "fastify";
import type { AcmeStore, AuthzRecord, ChallengeType, DeviceAttested } from "./ports.js";
import type { ProblemDocument } from "./problems.js";
import type { ChallengeValidator } from "./validator.js";

export interface ValidationOptions {
  attempts: number;
  retryDelayMs: number;
  /** Validations running at once in this process, and per account: each holds sockets and timers. */
  maxRunning?: number;
  maxPerAccount?: number;
}

/**
 * Ends a challenge that is processing: valid (with what it proved, for device-attest-01) and its
 * authorization with it, unless the authorization expired meanwhile; or invalid with the problem,
 * and then its order too (§7.1.6; stored, so that lists and ARI `replaces` see it at once).
 * `known`: the authorization as last read or written. Returns the authorization as it ends.
 */
export async function settleChallenge(
  store: AcmeStore,
  known: AuthzRecord,
  type: ChallengeType,
  outcome: { valid: true; attested?: DeviceAttested } | { valid: false; error: ProblemDocument },
  now: Date,
): Promise<AuthzRecord | null> {
  const final = await store.updateAuthz(
    known.id,
    (a) => {
      const c = a.challenges.find((x) => x.type === type);
      if (!c || c.status !== "processing" || a.status !== "pending") return null;
      if (outcome.valid && a.expires > now) {
        c.status = "valid";
        c.validated = now.toISOString();
        delete c.error;
        if (outcome.attested) c.attested = outcome.attested;
        a.status = "valid";
      } else {
        c.status = "invalid";
        c.error = outcome.valid ? { type: "urn:ietf:params:acme:error:unauthorized", detail: "the authorization expired during validation", status: 403 } : outcome.error;
        a.status = "invalid";
      }
      return a;
    },
    known,
  );
  if (final?.status === "invalid") {
    const error = final.challenges.find((c) => c.type === type)?.error;
    await store.setOrderStatus(final.orderId, "pending", "invalid", error ? { error: { ...error, identifier: final.identifier } } : {});
  }
  return final;
}

export class ValidationRunner {
  readonly #running = new Map<string, { wake: () => void; done: Promise<void> }>();
  readonly #perAccount = new Map<string, number>();
  #closed = false;

  constructor(
    private readonly store: AcmeStore,
    private readonly validator: ChallengeValidator,
    private readonly opts: ValidationOptions,
    private readonly log: FastifyBaseLogger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** Whether a new validation for this account may start now (else the client is rate-limited). */
  admits(accountId: string): boolean {
    return this.#running.size < (this.opts.maxRunning ?? 1000) && (this.#perAccount.get(accountId) ?? 0) < (this.opts.maxPerAccount ?? 50);
  }

  /** Starts validating in the background (the challenge is already marked processing). */
  start(authz: AuthzRecord, type: ChallengeType, token: string, keyAuthorization: string): void {
    if (this.#closed || this.#running.has(authz.id)) return;
    const account = authz.accountId;
    this.#perAccount.set(account, (this.#perAccount.get(account) ?? 0) + 1);
    let wake = () => {};
    const entry = { wake: () => wake(), done: Promise.resolve() };
    entry.done = this.#run(authz, type, token, keyAuthorization, (w) => (wake = w))
      .catch((err: unknown) => this.log.error({ err, authz: authz.id }, "challenge validation failed unexpectedly"))
      .finally(() => {
        this.#running.delete(authz.id);
        const n = (this.#perAccount.get(account) ?? 1) - 1;
        if (n <= 0) this.#perAccount.delete(account);
        else this.#perAccount.set(account, n);
      });
    this.#running.set(authz.id, entry);
  }

  /** A client asked for a retry (§8.2): the pending wait ends now. False if nothing runs here. */
  retryNow(authzId: string): boolean {
    const r = this.#running.get(authzId);
    r?.wake();
    return r !== undefined;
  }

  /** Ends validations abandoned by a replica that stopped: a challenge left "processing" longer than
   * any attempt sequence takes becomes invalid, with its authorization and order; and orders left
   * "processing" by an interrupted finalize become invalid. Run periodically on every replica. */
  async sweep(maxValidationMs: number, now = this.clock()): Promise<{ validations: number; orders: number }> {
    const before = new Date(now.getTime() - maxValidationMs);
    let validations = 0;
    for (const id of await this.store.staleValidations(before, 100)) {
      if (this.#running.has(id)) continue;
      const problem: ProblemDocument = { type: "urn:ietf:params:acme:error:serverInternal", detail: "the validation was interrupted (the server validating it stopped); start a new order", status: 500 };
      const a = await this.store.updateAuthz(id, (x) => {
        const c = x.challenges.find((ch) => ch.status === "processing");
        if (!c || x.status !== "pending") return null;
        c.status = "invalid";
        c.error = problem;
        x.status = "invalid";
        return x;
      });
      if (a?.status === "invalid") {
        validations++;
        await this.store.setOrderStatus(a.orderId, "pending", "invalid", { error: { ...problem, identifier: a.identifier } });
      }
    }
    const orders = await this.store.failStaleOrders(before, { type: "urn:ietf:params:acme:error:serverInternal", detail: "finalization was interrupted (the server finalizing it stopped); start a new order", status: 500 });
    return { validations, orders };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const r of this.#running.values()) r.wake();
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
  }

  async #run(authz: AuthzRecord, type: ChallengeType, token: string, keyAuthorization: string, onWake: (w: () => void) => void): Promise<void> {
    let problem: ProblemDocument | null = null;
    // The last state this runner wrote or was given: each update starts from it (no read) and falls
    // back to reading only if someone else changed the authorization meanwhile.
    let known = authz;
    for (let attempt = 1; attempt <= this.opts.attempts; attempt++) {
      problem = await this.validator.validate(type, authz.identifier, token, keyAuthorization);
      if (problem === null || attempt === this.opts.attempts || this.#closed) break;
      const last = problem;
      const still = await this.store.updateAuthz(authz.id, (a) => {
        const c = a.challenges.find((x) => x.type === type);
        if (!c || c.status !== "processing") return null;
        c.error = last;
        return a;
      }, known);
      if (still) known = still;
      if (!still || still.challenges.find((x) => x.type === type)?.status !== "processing") return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.opts.retryDelayMs * attempt);
        onWake(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await settleChallenge(this.store, known, type, problem === null ? { valid: true } : { valid: false, error: problem }, this.clock());
  }
}
