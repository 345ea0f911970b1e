// Revocation as the server runs it: the audit follower feeds the OCSP responder, the CRL publisher,
// the block list and the live feed's subscribers; node-cron regenerates CRLs on schedule; the
// delegated OCSP responder certificate is issued at start and renewed at two thirds of its life.
import { hostname } from "node:os";
import { schedule, type ScheduledTask } from "node-cron";
import { AUDIT_EVENTS } from "../../ca/audit.js";
import { CrlPublisher } from "../../ca/crl-publisher.js";
import { OcspResponder, type ResponderCredentials } from "../../ca/ocsp-responder.js";
import { SoftwareSigner } from "../../ca/signer.js";
import { issuerUrls } from "../config.js";
import type { Services } from "../services.js";
import { issueOwnCertificate } from "../server/tls.js";
import { AuditFollower, type FollowedEvent } from "./follower.js";

const FOLLOWED = [AUDIT_EVENTS.certificateRevoked, AUDIT_EVENTS.enrolmentBlocked, AUDIT_EVENTS.enrolmentUnblocked];
/** Revocations arriving within this window share one CRL regeneration. */
const CRL_DEBOUNCE_MS = 250;
const OCSP_REFRESH_MS = 60_000;
const RETRY_MS = 60_000;

export class RevocationService {
  readonly follower: AuditFollower;
  readonly responder: OcspResponder;
  readonly crls: CrlPublisher;
  readonly #s: Services;
  #credentials: ResponderCredentials | null = null;
  #timers = new Set<NodeJS.Timeout>();
  /** The pending responder renewal. */
  #renewal: NodeJS.Timeout | null = null;
  #tasks: ScheduledTask[] = [];
  #crlRun: Promise<void> | null = null;
  #crlPending = { full: false, anchor: false, delta: false };
  #debounce: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(s: Services) {
    this.#s = s;
    const { config: cfg, authority } = s;
    const issuers = [authority.intermediate, authority.root];
    this.follower = new AuditFollower(s.db, FOLLOWED, s.log.child({ component: "revocation" }), { pollMs: cfg.revocationPollMs });
    this.responder = new OcspResponder({
      issuers,
      source: s.revocations,
      credentials: (issuerId) => this.#credentialsFor(issuerId),
      validitySeconds: cfg.ocspValiditySeconds,
    });
    this.crls = new CrlPublisher({
      issuers,
      source: s.revocations,
      validitySeconds: cfg.crlValiditySeconds,
      deltaValiditySeconds: cfg.deltaCrlValiditySeconds,
      deltaUrl: (id) => issuerUrls(cfg, id).deltaCrl,
    });
  }

  /** Loads the present state (CRLs generated, the responder certificate issued) and starts following. */
  async start(): Promise<void> {
    const s = this.#s;
    await this.follower.start();
    // Blocks set between loading the list and the follower's start are read again here.
    await s.blocks.load();
    this.follower.subscribe(s.blocks.apply);
    this.follower.subscribe(this.#onEvents);
    // This process's own revocations reach OCSP and the CRLs as they commit; the follower then sees
    // them again (harmlessly) together with other replicas' (which arrive through NOTIFY or polling).
    const previous = s.journal.onEvents;
    s.journal.onEvents = (events) => {
      previous?.(events);
      let followed = false;
      for (const e of events) {
        if (e.event === AUDIT_EVENTS.certificateIssued && e.target) this.responder.issued(e.target);
        else if ((FOLLOWED as string[]).includes(e.event)) followed = true;
      }
      if (followed) {
        this.#onEvents(events.map((e) => ({ ...e, target: e.target ?? null })));
        void this.follower.poke();
      }
    };
    await this.renewResponder();
    await this.#regenerate("full", true);
    this.#tasks.push(
      schedule(s.config.crlSchedule, () => this.#regenerate("full", true), { name: "crl-full", noOverlap: true }),
      schedule(s.config.deltaCrlSchedule, () => this.#regenerate("delta"), { name: "crl-delta", noOverlap: true }),
    );
    const refresh = setInterval(() => {
      this.responder.refresh().catch((err: unknown) => s.log.error({ err }, "refreshing OCSP answers failed"));
    }, OCSP_REFRESH_MS);
    refresh.unref();
    this.#timers.add(refresh);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#tasks) await t.destroy();
    for (const t of this.#timers) clearTimeout(t);
    if (this.#debounce) clearTimeout(this.#debounce);
    await this.follower.stop();
    await this.#crlRun?.catch(() => undefined);
  }

  /** The delegated responder certificate currently in use (null: answers are signed by the CA key). */
  get responderCertificate(): Buffer | null {
    return this.#credentials?.certDer ?? null;
  }

  #credentialsFor(issuerId: string): ResponderCredentials | null {
    const c = this.#credentials;
    // Only the intermediate issues a delegated responder; the root (when online) signs its own answers.
    if (!c || issuerId !== this.#s.authority.intermediate.id || c.notAfter.getTime() <= Date.now()) return null;
    return c;
  }

  #onEvents = (events: FollowedEvent[]): void => {
    let revoked = false;
    for (const e of events) {
      if (e.event !== AUDIT_EVENTS.certificateRevoked) continue;
      revoked = true;
      const d = e.data;
      const serial = typeof d.serial === "string" ? d.serial : e.target;
      if (!serial) continue;
      const issuerId = typeof d.issuerId === "string" ? d.issuerId : this.#s.authority.intermediate.id;
      const revokedAt = asDate(d.revokedAt) ?? e.time;
      const reason = typeof d.reasonCode === "number" ? d.reasonCode : 0;
      const notAfter = asDate(d.notAfter) ?? new Date(Date.now() + 86_400_000);
      this.responder.revoked(serial, issuerId, revokedAt, reason, notAfter).catch((err: unknown) => this.#s.log.error({ err, serial }, "re-signing OCSP answers failed"));
    }
    if (revoked) this.#soon();
  };

  /** A revocation regenerates the full CRL and the delta within a fraction of a second. */
  #soon(): void {
    if (this.#debounce) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      void this.#regenerate("full", false);
    }, CRL_DEBOUNCE_MS);
  }

  /** One generation at a time; what is asked for during one runs once after it (a full CRL covers a
   * delta, and an anchoring request stays anchoring). */
  #regenerate(kind: "full" | "delta", anchor = false): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#crlRun) {
      const p = this.#crlPending;
      p.full ||= kind === "full";
      p.anchor ||= anchor;
      p.delta ||= kind === "delta";
      return this.#crlRun;
    }
    this.#crlRun = (async () => {
      try {
        const out = kind === "full" ? await this.crls.publish({ anchor }) : await this.crls.publishDeltas();
        for (const c of out) {
          this.#s.metrics.crlEntries.set({ issuer: c.issuerId, kind: c.kind }, c.entries);
          this.#s.metrics.crlGenerated.set({ issuer: c.issuerId, kind: c.kind }, c.thisUpdate.getTime() / 1000);
        }
      } catch (err) {
        this.#s.log.error({ err, kind }, "generating CRLs failed; the previous ones stay published");
      }
    })().finally(() => {
      this.#crlRun = null;
      const p = this.#crlPending;
      this.#crlPending = { full: false, anchor: false, delta: false };
      if (p.full) void this.#regenerate("full", p.anchor);
      else if (p.delta) void this.#regenerate("delta");
    });
    return this.#crlRun;
  }

  /** Issues a new responder certificate for a new key and switches to it (at start, then at 2/3 of
   * each one's life; answers signed by the previous one stay valid until their nextUpdate, which
   * never passes that certificate's notAfter). */
  async renewResponder(): Promise<void> {
    if (this.#renewal) clearTimeout(this.#renewal);
    this.#renewal = null;
    const s = this.#s;
    try {
      const { privateKey, publicKey, issued } = await issueOwnCertificate(s.authority, {
        keyAlgorithm: "P-256",
        commonName: "Signet OCSP Responder",
        profile: "ocsp-responder",
        lifetimeSeconds: s.config.ocspResponderLifetimeSeconds,
        identity: `signet:ocsp-responder:${hostname()}`,
        actor: "system:ocsp",
      });
      this.#credentials = { signer: new SoftwareSigner(privateKey, publicKey, "P-256"), certDer: issued.der, notAfter: issued.notAfter };
      s.log.info({ serial: issued.serialHex, notAfter: issued.notAfter }, "issued the OCSP responder certificate");
      const life = issued.notAfter.getTime() - issued.notBefore.getTime();
      this.#renewal = this.#after(Math.max(issued.notBefore.getTime() + (life * 2) / 3 - Date.now(), 1000), () => this.renewResponder());
    } catch (err) {
      s.log.error({ err }, "could not issue the OCSP responder certificate; OCSP answers are signed by the CA key until it can");
      this.#renewal = this.#after(RETRY_MS, () => this.renewResponder());
    }
  }

  #after(ms: number, fn: () => Promise<void>): NodeJS.Timeout | null {
    if (this.#stopped) return null;
    // setTimeout holds at most ~24.8 days; waits over a day are re-armed daily.
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (ms > 86_400_000) this.#renewal = this.#after(ms - 86_400_000, fn);
      else void fn();
    }, Math.min(ms, 86_400_000));
    t.unref();
    this.#timers.add(t);
    return t;
  }
}

/** Event data holds Dates as this process wrote them and ISO strings as read back from the log. */
function asDate(v: unknown): Date | null {
  if (v instanceof Date) return v;
  if (typeof v === "string") {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return null;
}
