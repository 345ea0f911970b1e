// Rate limits with GCRA (the generic cell rate algorithm: a leaky bucket kept as one timestamp, the
// "theoretical arrival time"): a steady rate with a burst allowance, in requests and in LLM tokens.
// In memory for one process; in Redis (one Lua script, atomic) when processes or replicas share them.
// Token costs are estimated before forwarding and reconciled with the upstream's `usage` after:
// `adjust` moves the arrival time by the difference without refusing anything.
import type { Redis } from "ioredis";

export interface LimitResult {
  allowed: boolean;
  /** When a refused request may be retried, in ms. */
  retryAfterMs: number;
  /** What is left of the burst after this request (in cost units). */
  remaining: number;
  /** Until the bucket is full again, in ms. */
  resetMs: number;
}

export interface Rate {
  /** Cost units per minute. */
  perMinute: number;
  /** How many units may come at once. */
  burst: number;
}

export interface Limiter {
  /** Takes `cost` from each key's bucket, all or nothing: refused if any one would overflow. */
  take(keys: string[], rates: Rate[], cost: number): Promise<LimitResult>;
  /** Adds `delta` (may be negative) to buckets without refusing (reconciling an estimate). */
  adjust(keys: string[], rates: Rate[], delta: number): Promise<void>;
  close(): Promise<void>;
}

const interval = (r: Rate) => 60_000 / r.perMinute;

function gcra(tat: number, now: number, r: Rate, cost: number): { allowed: boolean; newTat: number; retryAfterMs: number; remaining: number; resetMs: number } {
  const t = interval(r);
  const tolerance = t * r.burst;
  const base = Math.max(tat, now);
  const newTat = base + t * cost;
  const allowAt = newTat - tolerance;
  if (allowAt > now) return { allowed: false, newTat: tat, retryAfterMs: Math.ceil(allowAt - now), remaining: Math.max(0, Math.floor((tolerance - (base - now)) / t)), resetMs: Math.ceil(base - now) };
  return { allowed: true, newTat, retryAfterMs: 0, remaining: Math.max(0, Math.floor((tolerance - (newTat - now)) / t)), resetMs: Math.ceil(newTat - now) };
}

export class MemoryLimiter implements Limiter {
  readonly #tat = new Map<string, number>();
  #sweeps = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  async take(keys: string[], rates: Rate[], cost: number): Promise<LimitResult> {
    return this.takeSync(keys, rates, cost);
  }

  takeSync(keys: string[], rates: Rate[], cost: number): LimitResult {
    const now = this.clock();
    if (++this.#sweeps % 10_000 === 0) for (const [k, v] of this.#tat) if (v < now) this.#tat.delete(k);
    let worst: LimitResult = { allowed: true, retryAfterMs: 0, remaining: Number.MAX_SAFE_INTEGER, resetMs: 0 };
    const next: number[] = [];
    for (let i = 0; i < keys.length; i++) {
      const g = gcra(this.#tat.get(keys[i]!) ?? 0, now, rates[i]!, cost);
      if (!g.allowed) return { allowed: false, retryAfterMs: g.retryAfterMs, remaining: 0, resetMs: g.resetMs };
      next.push(g.newTat);
      if (g.remaining < worst.remaining) worst = { allowed: true, retryAfterMs: 0, remaining: g.remaining, resetMs: g.resetMs };
    }
    for (let i = 0; i < keys.length; i++) this.#tat.set(keys[i]!, next[i]!);
    return worst;
  }

  async adjust(keys: string[], rates: Rate[], delta: number): Promise<void> {
    const now = this.clock();
    for (let i = 0; i < keys.length; i++) {
      const tat = Math.max(this.#tat.get(keys[i]!) ?? 0, now);
      this.#tat.set(keys[i]!, Math.max(now, tat + interval(rates[i]!) * delta));
    }
  }

  async close(): Promise<void> {}
}

// KEYS: the buckets. ARGV: (unused), cost, mode (1 take, 0 adjust), then per key: interval (ms per
// unit) and tolerance (ms). Time is Redis's own (every replica reads one clock), in ms; values are
// stored with 17 significant digits. All or nothing: nothing is written if any key refuses.
const SCRIPT = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cost = tonumber(ARGV[2])
local adjust = ARGV[3] == "0"
local n = #KEYS
local tats = {}
local worstRemaining = -1
local worstReset = 0
for i = 1, n do
  local t = tonumber(ARGV[2 + 2 * i])
  local tol = tonumber(ARGV[3 + 2 * i])
  local tat = tonumber(redis.call("GET", KEYS[i]) or "0")
  local base = math.max(tat, now)
  local newTat = base + t * cost
  if adjust then
    tats[i] = math.max(now, newTat)
  else
    local allowAt = newTat - tol
    if allowAt > now then
      return {0, math.ceil(allowAt - now), math.ceil(base - now), 0}
    end
    tats[i] = newTat
    local rem = math.floor((tol - (newTat - now)) / t)
    if worstRemaining < 0 or rem < worstRemaining then
      worstRemaining = rem
      worstReset = math.ceil(newTat - now)
    end
  end
end
for i = 1, n do
  local ttl = math.ceil(tats[i] - now) + 1000
  redis.call("SET", KEYS[i], string.format("%.17g", tats[i]), "PX", ttl)
end
return {1, 0, worstReset, math.max(worstRemaining, 0)}
`;

export class RedisLimiter implements Limiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = "signet:proxy:rl:",
  ) {
    redis.defineCommand("signetGcra", { lua: SCRIPT });
  }

  async #run(keys: string[], rates: Rate[], cost: number, mode: 0 | 1): Promise<number[]> {
    const args: (string | number)[] = [Date.now(), cost, mode];
    // ARGV[2 + 2i] / ARGV[3 + 2i] with i from 1: interval and tolerance of key i.
    for (const r of rates) args.push(interval(r), interval(r) * r.burst);
    const cmd = (this.redis as unknown as { signetGcra(n: number, ...a: (string | number)[]): Promise<number[]> }).signetGcra;
    return cmd.call(this.redis, keys.length, ...keys.map((k) => this.prefix + k), ...args);
  }

  async take(keys: string[], rates: Rate[], cost: number): Promise<LimitResult> {
    if (keys.length === 0) return { allowed: true, retryAfterMs: 0, remaining: Number.MAX_SAFE_INTEGER, resetMs: 0 };
    const [ok, retry, reset, remaining] = await this.#run(keys, rates, cost, 1);
    return { allowed: ok === 1, retryAfterMs: retry ?? 0, resetMs: reset ?? 0, remaining: remaining ?? 0 };
  }

  async adjust(keys: string[], rates: Rate[], delta: number): Promise<void> {
    if (keys.length === 0 || delta === 0) return;
    await this.#run(keys, rates, delta, 0);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
