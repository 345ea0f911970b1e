// The inference proxy's parts on their own: GCRA limits, the OpenAI request and response checks,
// the SSE follower, consistent hashing, configuration errors, the Cedar policy, the audit chain.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import pino from "pino";
import { InferenceAudit, verifyInferenceLog, type InferenceRecord } from "../src/proxy/audit.js";
import { DEFAULT_PROXY_POLICY, ProxyPolicy, type AuthzRequest } from "../src/proxy/authz.js";
import { parseProxyConfig, parseRoute } from "../src/proxy/config.js";
import { MemoryLimiter } from "../src/proxy/limits.js";
import { checkRequest, checkResponse, InvalidRequest, operationOf, SseFollower } from "../src/proxy/openai.js";
import { UpstreamPool } from "../src/proxy/upstreams.js";
import { isSignetError } from "../ca/errors.js";

const env = { home: "/tmp/signet-units", httpsPort: 8443, httpPort: 8080, proxyPort: 9443, env: {} };

describe("GCRA limits (in memory)", () => {
  it("allows a burst, then one per interval, and says when to retry", () => {
    let now = 1_000_000;
    const l = new MemoryLimiter(() => now);
    const rate = { perMinute: 60, burst: 3 };
    const take = () => l.takeSync(["k"], [rate], 1);
    expect([take(), take(), take()].map((r) => r.allowed)).toEqual([true, true, true]);
    const refused = take();
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(1000);
    now += 1000;
    expect(take().allowed).toBe(true);
    expect(take().allowed).toBe(false);
  });
  it("costs in tokens, all or nothing across keys, and reconciles with adjust", async () => {
    let now = 0;
    const l = new MemoryLimiter(() => now);
    const small = { perMinute: 600, burst: 100 };
    const big = { perMinute: 6000, burst: 1000 };
    expect(l.takeSync(["id", "route"], [small, big], 90).allowed).toBe(true);
    expect(l.takeSync(["id", "route"], [small, big], 20).allowed).toBe(false);
    // The refused take did not draw from "route" either.
    expect(l.takeSync(["route"], [big], 910).allowed).toBe(true);
    await l.adjust(["id"], [small], -80);
    expect(l.takeSync(["id"], [small], 85).allowed).toBe(true);
    now += 60_000;
    expect(l.takeSync(["id"], [small], 100).allowed).toBe(true);
  });
});

describe("OpenAI-compatible requests", () => {
  it("names operations by method and path", () => {
    expect(operationOf("POST", "chat/completions")).toBe("chat.completions");
    expect(operationOf("POST", "completions")).toBe("completions");
    expect(operationOf("POST", "embeddings")).toBe("embeddings");
    expect(operationOf("GET", "models")).toBe("models.list");
    expect(operationOf("GET", "chat/completions")).toBeNull();
    expect(operationOf("POST", "files")).toBeNull();
  });
  it("checks chat bodies and estimates tokens", () => {
    const c = checkRequest("chat.completions", { model: "m", messages: [{ role: "user", content: "a".repeat(400) }], max_tokens: 50, tools: [{ type: "function", function: { name: "f" } }] });
    expect(c).toMatchObject({ model: "m", maxTokens: 50, toolsRequested: true, stream: false });
    expect(c.promptTokens).toBeGreaterThanOrEqual(100);
    expect(checkRequest("chat.completions", { model: "m", messages: [{ role: "user", content: [{ type: "text", text: "abcd" }] }], max_completion_tokens: 7 }).maxTokens).toBe(7);
    expect(checkRequest("completions", { model: "m", prompt: ["ab", "cd"] }).promptTokens).toBe(1);
    expect(checkRequest("embeddings", { model: "m", input: "abcdefgh" }).promptTokens).toBe(2);
  });
  it("refuses what the endpoint's schema does not allow", () => {
    for (const [op, body] of [
      ["chat.completions", []],
      ["chat.completions", { model: "", messages: [{ role: "user", content: "x" }] }],
      ["chat.completions", { model: "m", messages: [] }],
      ["chat.completions", { model: "m", messages: [{ role: "user", content: 7 }] }],
      ["chat.completions", { model: "m", messages: [{ role: "user", content: [{ text: "no type" }] }] }],
      ["chat.completions", { model: "m", messages: [{ role: "user", content: "x" }], stream: "yes" }],
      ["chat.completions", { model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 1.5 }],
      ["chat.completions", { model: "m", messages: [{ role: "user", content: "x" }], tools: [{ type: "code" }] }],
      ["chat.completions", { model: "m", messages: [{ role: "user", content: "x" }], n: 100 }],
      ["completions", { model: "m", prompt: 5 }],
      ["embeddings", { model: "m", input: [] }],
    ] as const) {
      expect(() => checkRequest(op, body), JSON.stringify(body)).toThrow(InvalidRequest);
    }
  });
  it("checks answers' shape and reads usage", () => {
    expect(checkResponse("chat.completions", { object: "chat.completion", choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })).toEqual({ promptTokens: 3, completionTokens: 4, totalTokens: 7 });
    expect(checkResponse("embeddings", { object: "list", data: [] })).toBeNull();
    expect(() => checkResponse("chat.completions", { object: "list", data: [] })).toThrow(/malformed/);
    expect(() => checkResponse("completions", { object: "text_completion" })).toThrow(/choices/);
    expect(() => checkResponse("models.list", "x")).toThrow(/not a JSON object/);
  });
  it("follows an SSE stream across chunk boundaries, picks up usage, and spots garbage", () => {
    const f = new SseFollower("chat.completions");
    const text = `data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"hi"}}]}\r\n\r\ndata: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\ndata: [DONE]\n\n`;
    for (let i = 0; i < text.length; i += 7) f.push(Buffer.from(text.slice(i, i + 7)));
    expect(f.error).toBeNull();
    expect(f.done).toBe(true);
    expect(f.usage).toEqual({ promptTokens: 1, completionTokens: 2, totalTokens: 3 });
    const bad = new SseFollower("chat.completions");
    bad.push(Buffer.from("data: {oops\n\n"));
    expect(bad.error).toMatch(/not JSON/);
    const wrong = new SseFollower("completions");
    wrong.push(Buffer.from('data: {"object":"chat.completion.chunk","choices":[]}\n\n'));
    expect(wrong.error).toMatch(/not text_completion/);
  });
});

describe("consistent hashing", () => {
  it("keeps a key on one target, and adding a target moves few keys", async () => {
    const log = pino({ level: "silent" });
    const make = (n: number) => new UpstreamPool({ name: "p", targets: Array.from({ length: n }, (_, i) => `http://127.0.0.1:${30000 + i}`), balance: "round-robin", affinity: { by: "caller" }, healthCheck: null, connectTimeoutMs: 100, headersTimeoutMs: 100, connections: 1 }, log);
    const three = make(3);
    const four = make(4);
    let moved = 0;
    const counts = new Map<string, number>();
    for (let k = 0; k < 2000; k++) {
      const a = three.pick(`caller-${k}`)!.url;
      expect(three.pick(`caller-${k}`)!.url).toBe(a);
      counts.set(a, (counts.get(a) ?? 0) + 1);
      if (four.pick(`caller-${k}`)!.url !== a) moved++;
    }
    // About a quarter move to the new target; a modulo hash would move about three quarters.
    expect(moved / 2000).toBeGreaterThan(0.1);
    expect(moved / 2000).toBeLessThan(0.4);
    for (const n of counts.values()) expect(n).toBeGreaterThan(400);
    // A target out of rotation passes its keys to the next one on the ring.
    three.targets[0]!.healthy = false;
    for (let k = 0; k < 50; k++) expect(three.pick(`caller-${k}`)!.url).not.toBe(three.targets[0]!.url);
    await three.close();
    await four.close();
  });
});

describe("configuration", () => {
  it("names the path of what is wrong", () => {
    const err = (raw: unknown) => {
      try {
        parseProxyConfig(raw, env);
      } catch (e) {
        if (isSignetError(e, "config_invalid")) return e.message;
        throw e;
      }
      return "accepted";
    };
    expect(err({ routes: [{ name: "a", upstream: "nope" }] })).toMatch(/config.routes\[0\].upstream: names no configured upstream pool/);
    expect(err({ upstreams: { u: { targets: ["ftp://x"] } } })).toMatch(/config.upstreams.u.targets/);
    expect(err({ upstreams: { u: { targets: ["http://a:1"], affinity: "cookie" } } })).toMatch(/affinity/);
    expect(err({ bogus: 1 })).toMatch(/config.bogus: unknown option/);
    expect(err({ upstreams: { u: { targets: ["http://a:1"] } }, routes: [{ name: "a", upstream: "u" }, { name: "a", upstream: "u" }] })).toMatch(/used twice/);
    expect(err({ limits: { identity: { requestsPerMinute: 0 } } })).toMatch(/requestsPerMinute/);
    expect(err({ upstreams: { u: { targets: ["http://a:1"] } }, routes: [{ name: "a", upstream: "u", auth: ["basic"] }] })).toMatch(/auth/);
  });
  it("takes environment overrides", () => {
    const c = parseProxyConfig({ port: 1234 }, { ...env, env: { SIGNET_PROXY_PORT: "9555", SIGNET_PROXY_REDIS_URL: "redis://r:6379", SIGNET_PROXY_WORKERS: "2" } });
    expect(c).toMatchObject({ port: 9555, redisUrl: "redis://r:6379", workers: 2 });
    expect(() => parseProxyConfig({}, { ...env, env: { SIGNET_PROXY_WORKERS: "zero" } })).toThrow(/SIGNET_PROXY_WORKERS/);
  });
  it("gives ephemeral routes an expiry", () => {
    const now = new Date("2026-12-04T00:00:00Z");
    expect(parseRoute({ name: "tmp", upstream: "u", ttlSeconds: 600 }, "r", null, now).expiresAt?.toISOString()).toBe("2026-12-04T00:10:00.000Z");
    expect(parseRoute({ name: "static", upstream: "u" }, "r", null, now).expiresAt).toBeNull();
  });
});

describe("the proxy policy", () => {
  const base: AuthzRequest = { callerId: "spiffe://t/a", auth: "mtls", roles: ["inference:invoke"], tenant: null, spiffeId: "spiffe://t/a", route: "chat", routeTenant: null, operation: "chat.completions", model: "m", maxTokens: null, tools: false };
  it("decides at the three levels with the default policy", () => {
    const p = ProxyPolicy.compile(DEFAULT_PROXY_POLICY);
    expect(p.decide(base)).toEqual({ allow: true });
    expect(p.decide({ ...base, roles: [] })).toMatchObject({ allow: false, code: "no_permit" });
    expect(p.decide({ ...base, routeTenant: "acme", tenant: "globex" })).toMatchObject({ allow: false, code: "tenant-mismatch", reason: "the route belongs to another tenant" });
    expect(p.decide({ ...base, routeTenant: "acme", tenant: "acme" })).toEqual({ allow: true });
    expect(p.decide({ ...base, maxTokens: 5000 })).toMatchObject({ allow: false, code: "max-tokens-cap" });
    expect(p.decide({ ...base, auth: "token", roles: [], tools: true })).toMatchObject({ allow: false, code: "tools-for-partners" });
    // The cache keys on every field: the same caller with another field gets its own decision.
    expect(p.decide({ ...base, maxTokens: 5000 })).toMatchObject({ allow: false, code: "max-tokens-cap" });
    expect(p.decide({ ...base, maxTokens: 100 })).toEqual({ allow: true });
    expect(p.decide({ ...base, roles: ["inference:invoke,x"] })).toMatchObject({ allow: false, code: "no_permit" });
  });
  it("refuses a broken policy with the reason", () => {
    expect(() => ProxyPolicy.compile("permit (principal, action, resource) when { ")).toThrow(/does not parse/);
    expect(() => ProxyPolicy.compile("")).toThrow(/no policies/);
    expect(() => ProxyPolicy.compile('@id("a")\npermit (principal, action, resource);\n@id("a")\npermit (principal, action, resource);')).toThrow(/twice/);
  });
});

describe("the inference audit chain", () => {
  it("detects a removed, reordered or edited record", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "signet-audit-")), "inference.log");
    const audit = new InferenceAudit(file);
    const rec = (status: number): InferenceRecord => ({
      caller: { kind: "mtls", id: "a", serial: "01", spiffeId: null, tokenId: null, tenant: null },
      route: "r",
      model: "m",
      operation: "chat.completions",
      inputSha256: null,
      outputSha256: null,
      decision: { allow: true, code: null },
      rateLimit: { outcome: "allowed", scope: null },
      upstream: null,
      status,
      latencyMs: 1,
      usage: null,
      stream: false,
      error: null,
    });
    for (const status of [200, 200, 429]) audit.write(rec(status));
    await audit.flush();
    const lines = readFileSync(file, "utf8").trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(verifyInferenceLog(lines.join("\n"))).toMatchObject({ ok: true, records: 3, chains: 1 });
    expect(verifyInferenceLog([lines[0], lines[2]].join("\n")).problem).toMatch(/jumps/);
    expect(verifyInferenceLog([lines[1], lines[0]].join("\n")).ok).toBe(false);
    expect(verifyInferenceLog(lines.map((l, i) => (i === 1 ? l.replace('"status":200', '"status":500') : l)).join("\n")).problem).toMatch(/altered/);
    expect(verifyInferenceLog(lines.map((l, i) => (i === 2 ? l.replace(/,"hash":"[0-9a-f]+"/, "") : l)).join("\n")).problem).toMatch(/no hash/);
  });
});
