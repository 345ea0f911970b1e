// Upstream pools: the model servers behind a route. Each target keeps a pool of keep-alive
// connections (undici); active health checks take a failing target out of rotation and bring it back;
// balancing is round-robin or least outstanding requests; session affinity sends one caller (or one
// session header value) to one target by consistent hashing (a hash ring with virtual nodes), so
// adding a target moves about 1/n of the sessions and the model server's prefix cache stays warm.
import { createHash } from "node:crypto";
import { Pool } from "undici";
import type { Logger } from "pino";
import type { UpstreamConfig } from "./config.js";

export interface Target {
  url: string;
  pool: Pool;
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
      pool: new Pool(url, { connections: config.connections, pipelining: 1, connectTimeout: config.connectTimeoutMs, headersTimeout: config.headersTimeoutMs, bodyTimeout: 0, keepAliveTimeout: 30_000 }),
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
        try {
          const r = await t.pool.request({ path: hc.path, method: "GET", headersTimeout: hc.timeoutMs, bodyTimeout: hc.timeoutMs, signal: AbortSignal.timeout(hc.timeoutMs) });
          await r.body.dump();
          good = r.statusCode >= 200 && r.statusCode < 300;
        } catch {
          good = false;
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
    await Promise.all(this.targets.map((t) => t.pool.destroy().catch(() => undefined)));
  }
}

/** Errors after which nothing reached the upstream, so the request may go to another target. */
export function connectFailure(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "ENOTFOUND" || code === "EAI_AGAIN";
}
