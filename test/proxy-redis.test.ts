// Limits shared through a real Redis: two `signet proxy` processes (the CLI, as an operator runs it)
// in front of one upstream count one caller's requests and LLM tokens together, and the Redis GCRA
// script itself. Skipped with a message unless TEST_REDIS_URL is set (.ci/run sets it).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisLimiter } from "../src/proxy/limits.js";
import { chat, startProxyBed, type ClientCert, type ProxyBed } from "./support/proxy.js";
import { fetchRaw } from "./support/server.js";

const REDIS = process.env.TEST_REDIS_URL;
if (!REDIS) console.warn("[signet tests] Redis suites skipped: set TEST_REDIS_URL=redis://... to run them (CI always does)");

describe.skipIf(!REDIS)("limits shared through Redis", () => {
  let bed: ProxyBed;
  let alice: ClientCert;
  const procs: ChildProcess[] = [];
  const ports: number[] = [];
  const route = `shared-${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    // The bed's own proxy is not used here; it provides Signet and the upstream.
    bed = await startProxyBed({ config: (u) => ({ upstreams: { main: { targets: [u[0]!.url] } }, routes: [{ name: "unused", pathPrefix: "/unused/", upstream: "main" }] }) });
    alice = await bed.client({ cn: "alice", roles: ["inference:invoke"] });
    const file = join(bed.signet.home, "proxy-shared.json");
    writeFileSync(
      file,
      JSON.stringify({
        host: "127.0.0.1",
        redisUrl: REDIS,
        signet: { url: bed.signet.httpsUrl, httpUrl: bed.signet.httpUrl },
        upstreams: { main: { targets: [bed.upstreams[0]!.url] } },
        routes: [
          { name: route, pathPrefix: "/v1/", upstream: "main", limits: { identity: { requestsPerMinute: 6, burstRequests: 4 } } },
          { name: `${route}-t`, pathPrefix: "/t/v1/", upstreamPrefix: "/v1/", upstream: "main", limits: { identity: { tokensPerMinute: 60, burstTokens: 300 } } },
        ],
        auditFile: "logs/shared.log",
      }),
    );
    for (let i = 0; i < 2; i++) {
      const p = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "proxy", "--config", file, "--json"], {
        env: { ...process.env, ...bed.signet.env, SIGNET_PROXY_PORT: "0", SIGNET_PROXY_METRICS_PORT: "0", SIGNET_PROXY_WORKERS: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      procs.push(p);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          let out = "";
          const timer = setTimeout(() => reject(new Error(`proxy ${i} did not start: ${out}`)), 60_000);
          p.stdout!.on("data", (d: Buffer) => {
            out += d.toString();
            const m = /^\{"port":(\d+)/m.exec(out);
            if (m) {
              clearTimeout(timer);
              resolve(Number(m[1]));
            }
          });
          p.once("exit", (code) => reject(new Error(`proxy ${i} exited with ${code}: ${out}`)));
        }),
      );
    }
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) p.kill("SIGTERM");
    const r = new Redis(REDIS!);
    const keys = await r.keys(`signet:proxy:rl:*${route}*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
    await bed?.close();
  });

  const call = (port: number, path: string, body: unknown) =>
    fetchRaw(`https://127.0.0.1:${port}${path}`, { method: "POST", ca: bed.signet.rootPem, cert: alice.cert, key: alice.key, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  it("two proxy processes count one caller's requests together", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await call(ports[i % 2]!, "/v1/chat/completions", chat("x"))).status);
    // A burst of 4 in all, not 4 per process.
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.slice(4)).toEqual([429, 429, 429, 429]);
  });

  it("and its LLM tokens", async () => {
    // 120 + prompt per request estimated, reconciled to a few tokens of real usage after each.
    const a = await call(ports[0]!, "/t/v1/chat/completions", chat("x", { max_tokens: 120 }));
    expect(a.status, a.text).toBe(200);
    const b = await call(ports[1]!, "/t/v1/chat/completions", chat("x", { max_tokens: 120 }));
    expect(b.status, b.text).toBe(200);
    // 290 would fit an empty bucket of 300, but not one the other process already drew from.
    const c = await call(ports[0]!, "/t/v1/chat/completions", chat("x", { max_tokens: 290 }));
    expect(c.status).toBe(429);
  });
});

describe.skipIf(!REDIS)("the Redis GCRA script", () => {
  it("takes all or nothing across keys, refunds, and reports when to retry", async () => {
    const redis = new Redis(REDIS!);
    const limiter = new RedisLimiter(redis, `signet:test:${randomBytes(4).toString("hex")}:`);
    const rate = { perMinute: 60, burst: 3 };
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.take(["a", "b"], [rate, rate], 1));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results[3]!.retryAfterMs).toBeGreaterThan(0);
    expect(results[3]!.retryAfterMs).toBeLessThanOrEqual(1000);
    // "b" alone is as full as "a": the refused take wrote nothing.
    expect((await limiter.take(["b"], [rate], 1)).allowed).toBe(false);
    // A refund makes room.
    await limiter.adjust(["a", "b"], [rate, rate], -2);
    expect((await limiter.take(["a", "b"], [rate, rate], 2)).allowed).toBe(true);
    await limiter.close();
  });
});
