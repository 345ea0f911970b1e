// Upstream pools: the model servers behind a route. Each target keeps a pool of keep-alive
// connections (the proxy's own HTTP/1.1 client); active health checks take a failing target out of rotation and bring it back;
// balancing is round-robin or least outstanding requests; session affinity sends one caller (or one
// session header value) to one target by consistent hashing (a hash ring with virtual nodes), so
// adding a target moves about 1/n of the sessions and the model server's prefix cache stays warm.
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { UpstreamConfig } from "./config.js";
import { Http1Client, UpstreamError, type Cancellation } from "./http1-client.js";

export interface Target {
  url: string;
  client: Http1Client;
  healthy: boolean;
  outstanding: number;
  /** Consecutive health check results, for the thresholds. */
  fails: number;
  passes: number;
}

const VNODES = 128;

function hash32(s: string): number {
  return createHash("sha1").update(s).digest().readUInt32BE(0);
}

export class UpstreamPool {
  readonly targets: Target[];
  #rr = 0;
  #ring: Array<{ at: number; target: Target }> = [];
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    readonly config: UpstreamConfig,
    private readonly log: Logger,
    private readonly onHealth: (target: string, healthy: boolean) => void = () => {},
  ) {
    this.targets = config.targets.map((url) => ({
      url,
      client: new Http1Client(url, { connections: config.connections, connectTimeoutMs: config.connectTimeoutMs, headersTimeoutMs: config.headersTimeoutMs }),
      healthy: true,
      outstanding: 0,
      fails: 0,
      passes: 0,
    }));
    for (const t of this.targets) this.onHealth(t.url, true);
    const ring: Array<{ at: number; target: Target }> = [];
    for (const t of this.targets) for (let v = 0; v < VNODES; v++) ring.push({ at: hash32(`${t.url}#${v}`), target: t });
    this.#ring = ring.sort((a, b) => a.at - b.at);
    if (config.healthCheck) this.#schedule(0);
  }

  /** Picks a healthy target other than those in `exclude` (retries); `key`: the affinity key. */
  pick(key: string | null, exclude: ReadonlySet<Target> = new Set()): Target | null {
    const ok = (t: Target) => t.healthy && !exclude.has(t);
    if (key !== null && this.config.affinity) {
      // The first healthy target clockwise from the key's point on the ring.
      const h = hash32(key);
      let lo = 0;
      let hi = this.#ring.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.#ring[mid]!.at < h) lo = mid + 1;
        else hi = mid;
      }
      for (let i = 0; i < this.#ring.length; i++) {
        const t = this.#ring[(lo + i) % this.#ring.length]!.target;
        if (ok(t)) return t;
      }
      return null;
    }
    const n = this.targets.length;
    if (this.config.balance === "least-outstanding") {
      let best: Target | null = null;
      // Start at a rotating offset so ties spread.
      const start = this.#rr++ % n;
      for (let i = 0; i < n; i++) {
        const t = this.targets[(start + i) % n]!;
        if (ok(t) && (best === null || t.outstanding < best.outstanding)) best = t;
      }
      return best;
    }
    for (let i = 0; i < n; i++) {
      const t = this.targets[this.#rr++ % n]!;
      if (ok(t)) return t;
    }
    return null;
  }

  /** A connection to the target could not be made: out of rotation until a health check passes
   * (without health checks, it stays in: there is nothing to bring it back). */
  markDown(t: Target): void {
    if (!this.config.healthCheck || !t.healthy) return;
    t.healthy = false;
    t.passes = 0;
    this.onHealth(t.url, false);
    this.log.warn({ upstream: this.config.name, target: t.url }, "upstream target failed a connection; out of rotation");
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#check(), delay);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const hc = this.config.healthCheck!;
    await Promise.all(
      this.targets.map(async (t) => {
        let good = false;
        const cancel: Cancellation = { cancelled: false, hook: null };
        const timer = setTimeout(() => {
          cancel.cancelled = true;
          cancel.hook?.();
        }, hc.timeoutMs);
        try {
          const r = await t.client.request({ method: "GET", path: hc.path, headers: "", body: null }, cancel);
          await r.readAll(64 * 1024);
          good = r.status >= 200 && r.status < 300;
        } catch {
          good = false;
        } finally {
          clearTimeout(timer);
        }
        if (good) {
          t.fails = 0;
          if (!t.healthy && ++t.passes >= hc.healthyAfter) {
            t.healthy = true;
            this.onHealth(t.url, true);
            this.log.info({ upstream: this.config.name, target: t.url }, "upstream target healthy again; back in rotation");
          }
        } else {
          t.passes = 0;
          if (t.healthy && ++t.fails >= hc.unhealthyAfter) {
            t.healthy = false;
            this.onHealth(t.url, false);
            this.log.warn({ upstream: this.config.name, target: t.url }, "upstream target failed its health checks; out of rotation");
          }
        }
      }),
    );
    this.#schedule(hc.intervalMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const t of this.targets) t.client.close();
  }
}

/** Errors after which nothing reached the upstream, so the request may go to another target. */
export function connectFailure(err: unknown): boolean {
  return err instanceof UpstreamError && err.failure === "connect";
}
