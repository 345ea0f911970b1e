// The inference proxy end to end: a real Signet issues the client certificates and access tokens,
// the proxy follows it (revocations, tokens, API routes), and OpenAI-compatible stub upstreams answer
// (src/proxy/demo-upstream.ts). Every policy level, every limit and every kind of bad input.
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { parseCertificate } from "../ca/x509/index.js";
import { createLogger } from "../src/log.js";
import { verifyInferenceLog } from "../src/proxy/audit.js";
import { parseProxyConfig } from "../src/proxy/config.js";
import { startProxy } from "../src/proxy/main.js";
import { crlSerials } from "../src/proxy/signet-client.js";
import { DEFAULT_PROXY_POLICY } from "../src/proxy/authz.js";
import { admin } from "./support/acme.js";
import { makeCsr } from "./support/csr.js";
import { fetchRaw } from "./support/server.js";
import { chat, eventually, startProxyBed, type ClientCert, type ProxyBed } from "./support/proxy.js";

// The default policy and one action-level rule more.
const POLICY = `${DEFAULT_PROXY_POLICY}
@id("embeddings-need-role")
@reason("embeddings need the inference:embed role")
forbid (principal, action == Action::"embeddings", resource) when { context.auth == "mtls" && !context.roles.contains("inference:embed") };
`;

describe("inference proxy", () => {
  let bed: ProxyBed;
  let alice: ClientCert;
  let noRole: ClientCert;
  let acme: ClientCert;
  let globex: ClientCert;

  beforeAll(async () => {
    bed = await startProxyBed({
      upstreams: 3,
      policy: POLICY,
      config: (u) => ({
        upstreams: {
          main: { targets: [u[0]!.url], healthCheck: { path: "/health", intervalMs: 100, unhealthyAfter: 1, healthyAfter: 1 } },
          pair: { targets: [u[1]!.url, u[2]!.url], balance: "round-robin", healthCheck: { path: "/health", intervalMs: 100, unhealthyAfter: 1, healthyAfter: 1 } },
          sticky: { targets: [u[0]!.url, u[1]!.url, u[2]!.url], affinity: "header:x-session-id" },
          flaky: { targets: ["http://127.0.0.1:1", u[0]!.url], balance: "round-robin" },
        },
        routes: [
          { name: "chat", pathPrefix: "/v1/", upstream: "main", auth: ["mtls", "token"], contextWindow: 4096, maxBodyBytes: 4096 },
          { name: "limited", pathPrefix: "/limited/v1/", upstreamPrefix: "/v1/", upstream: "main", limits: { identity: { requestsPerMinute: 60, burstRequests: 3 } } },
          { name: "tokens", pathPrefix: "/tokens/v1/", upstreamPrefix: "/v1/", upstream: "main", limits: { identity: { tokensPerMinute: 600, burstTokens: 150 } } },
          { name: "acme-only", pathPrefix: "/acme/v1/", upstreamPrefix: "/v1/", upstream: "main", tenant: "acme" },
          { name: "pair", pathPrefix: "/pair/v1/", upstreamPrefix: "/v1/", upstream: "pair" },
          { name: "sticky", pathPrefix: "/sticky/v1/", upstreamPrefix: "/v1/", upstream: "sticky" },
          { name: "flaky", pathPrefix: "/flaky/v1/", upstreamPrefix: "/v1/", upstream: "flaky" },
          { name: "open", pathPrefix: "/open/v1/", upstreamPrefix: "/v1/", upstream: "main", auth: ["token"], logContent: true },
        ],
      }),
    });
    alice = await bed.client({ cn: "alice", roles: ["inference:invoke"], spiffeId: "spiffe://signet.internal/agent/alice" });
    noRole = await bed.client({ cn: "mallory", roles: [] });
    acme = await bed.client({ cn: "acme-bot", roles: ["inference:invoke", "tenant:acme"] });
    globex = await bed.client({ cn: "globex-bot", roles: ["inference:invoke", "tenant:globex"] });
  }, 60_000);
  afterAll(async () => bed?.close());

  const token = async (routes: string[], ttlSeconds = 3600, extra: Record<string, unknown> = {}) => {
    const r = await admin<{ id: string; token: string }>(bed.signet, "POST", "/admin/v1/proxy/tokens", { routes, ttlSeconds, ...extra });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body;
  };
  /** A certificate and key from this Signet for a second proxy, written into its home as NAME.crt/.key. */
  const proxyCert = async (name: string, body: Record<string, unknown>) => {
    const csr = makeCsr({ cn: "localhost", sans: { dns: ["localhost"], ip: ["127.0.0.1"] } });
    const issued = await admin<{ chainPem: string }>(bed.signet, "POST", "/admin/v1/certificates", { csr: csr.pem, provisioner: "signet-system", ...body });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const key = csr.keyPem;
    writeFileSync(join(bed.signet.home, `${name}.crt`), issued.body.chainPem);
    writeFileSync(join(bed.signet.home, `${name}.key`), key);
    return { cert: issued.body.chainPem, key };
  };
  /** Another proxy in front of the first upstream, one route "/v1/" ("open"), configured by `extra`. */
  const secondProxy = (name: string, extra: Record<string, unknown>) =>
    startProxy(
      parseProxyConfig(
        { host: "127.0.0.1", port: 0, metrics: { port: 0 }, auditFile: join(bed.signet.home, "logs", `${name}.log`), upstreams: { main: { targets: [bed.upstreams[0]!.url] } }, routes: [{ name: "open", pathPrefix: "/v1/", upstream: "main", auth: ["mtls", "token"] }], ...extra },
        { home: bed.signet.home, httpsPort: 9, httpPort: 0, proxyPort: 0, env: {} },
      ),
      createLogger("info", new Writable({ write: (_c, _e, cb) => cb() })),
    );

  /** The audit records written so far (they are written in batches, every 200 ms at most). */
  const auditLines = (): Array<Record<string, any>> => {
    if (!existsSync(bed.auditFile)) return [];
    return readFileSync(bed.auditFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  };
  const code = (r: { json(): unknown }) => (r.json() as { error: { code: string } }).error.code;
  /** A token the proxy knows of (it follows Signet's state; a new token reaches it in milliseconds). */
  const liveToken = async (routes: string[], extra: Record<string, unknown> = {}) => {
    const t = await token(routes, 3600, extra);
    await eventually(async () => (await bed.call("/open/v1/models", { token: t.token })).status !== 401 || null);
    return t;
  };

  it("serves a caller with a Signet certificate and the role, and records the inference", async () => {
    const r = await bed.call("/v1/chat/completions", { cert: alice, body: chat("hello"), headers: { authorization: "Bearer not-for-upstream" } });
    expect(r.status, r.text).toBe(200);
    expect((r.json() as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe("echo from up0: hello");
    // The upstream learns who called, and never sees the caller's credentials.
    expect(bed.upstreams[0]!.lastHeaders!["x-signet-caller"]).toBe("spiffe://signet.internal/agent/alice");
    expect(bed.upstreams[0]!.lastHeaders!.authorization).toBeUndefined();
    const rec = await eventually(async () => {
      const lines = auditLines();
      return lines.find((l) => l.caller?.serial === alice.serial && l.status === 200) ?? null;
    });
    expect(rec).toMatchObject({ route: "chat", model: "echo-1", operation: "chat.completions", decision: { allow: true }, rateLimit: { outcome: "allowed" }, upstream: bed.upstreams[0]!.url });
    expect(rec.caller).toMatchObject({ kind: "mtls", spiffeId: "spiffe://signet.internal/agent/alice" });
    expect(rec.inputSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.outputSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.input).toBeUndefined();
    // The usage recorded is the upstream's, not the estimate.
    expect(rec.usage).toMatchObject({ totalTokens: (r.json() as { usage: { total_tokens: number } }).usage.total_tokens, estimated: false });
  });

  it("refuses at the endpoint level (no role), the tenant level and the action level, with the policy's reason code", async () => {
    const denied = await bed.call("/v1/chat/completions", { cert: noRole, body: chat("hi") });
    expect(denied.status).toBe(403);
    expect(code(denied)).toBe("no_permit");
    const wrongTenant = await bed.call("/acme/v1/chat/completions", { cert: globex, body: chat("hi") });
    expect(wrongTenant.status).toBe(403);
    expect(code(wrongTenant)).toBe("tenant-mismatch");
    expect((await bed.call("/acme/v1/chat/completions", { cert: acme, body: chat("hi") })).status).toBe(200);
    expect((await bed.call("/acme/v1/chat/completions", { cert: alice, body: chat("hi") })).status).toBe(403);
    const cap = await bed.call("/v1/chat/completions", { cert: alice, body: chat("hi", { max_tokens: 2000 }) });
    expect(cap.status).toBe(200);
    const over = await bed.call("/v1/chat/completions", { cert: alice, body: { ...chat("hi", { max_tokens: 5000 }) } });
    // The route's context window (4096) refuses before the policy does.
    expect(code(over)).toBe("context_length_exceeded");
    const embed = await bed.call("/v1/embeddings", { cert: alice, body: { model: "echo-1", input: "x" } });
    expect(embed.status).toBe(403);
    expect(code(embed)).toBe("embeddings-need-role");
  });

  it("access tokens: scoped to routes, no tool calls, revoked at once, last use recorded; expiry mandatory and capped", async () => {
    const t = await liveToken(["open", "chat"]);
    const ok = await bed.call("/open/v1/chat/completions", { token: t.token, body: chat("partner") });
    expect(ok.status, ok.text).toBe(200);
    const tools = await bed.call("/open/v1/chat/completions", { token: t.token, body: chat("x", { tools: [{ type: "function", function: { name: "f" } }] }) });
    expect(code(tools)).toBe("tools-for-partners");
    const other = await liveToken(["chat"]);
    const wrongRoute = await bed.call("/open/v1/chat/completions", { token: other.token, body: chat("x") });
    expect(wrongRoute.status).toBe(403);
    expect(code(wrongRoute)).toBe("token_not_for_route");
    // A token cannot open an mTLS-only route.
    expect((await bed.call("/limited/v1/models", { token: t.token })).status).toBe(401);
    // Content logging is the route's choice ("open" opts in).
    const rec = await eventually(async () => {
      const lines = auditLines();
      return lines.find((l) => l.caller?.tokenId === t.id && l.status === 200 && l.operation === "chat.completions") ?? null;
    });
    expect(rec.input).toContain("partner");
    expect(rec.output).toContain("echo from up0: partner");
    // Last use reaches Signet with the proxy's usage report.
    const used = await eventually(async () => {
      const list = await admin<{ items: Array<{ id: string; lastUsedAt: string | null }> }>(bed.signet, "GET", "/admin/v1/proxy/tokens");
      return list.body.items.find((x) => x.id === t.id && x.lastUsedAt !== null) ?? null;
    });
    expect(Date.parse(used.lastUsedAt!)).toBeGreaterThan(Date.now() - 60_000);
    // Revoked: refused as soon as the proxy's state follows (a long poll answered at once).
    expect((await admin(bed.signet, "POST", `/admin/v1/proxy/tokens/${t.id}/revoke`)).status).toBe(200);
    await eventually(async () => (await bed.call("/open/v1/models", { token: t.token })).status === 401 || null, 3000);
    expect(code(await bed.call("/open/v1/models", { token: t.token }))).toBe("invalid_token");
    // No token lives forever, and none longer than the configured maximum.
    expect((await admin(bed.signet, "POST", "/admin/v1/proxy/tokens", { routes: ["open"] })).status).toBe(400);
    const tooLong = await admin(bed.signet, "POST", "/admin/v1/proxy/tokens", { routes: ["open"], ttlSeconds: 400 * 86400 });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body)).toMatch(/at most/);
    expect(code(await bed.call("/open/v1/models", { token: "spt_" + "x".repeat(43) }))).toBe("invalid_token");
    expect(code(await bed.call("/open/v1/models", { token: "garbage" }))).toBe("invalid_token");
  });

  it("an expired token is refused (the proxy checks expiry itself, not only Signet's list)", async () => {
    const t = await liveToken(["open"]);
    // What the proxy knows of the token, as the state endpoint shows it, with its expiry passed.
    const state = await admin<{ version: string; routes: Record<string, unknown>[]; tokens: Array<{ id: string; hash: string; routes: string[]; tenant: string | null; expiresAt: string }> }>(bed.signet, "GET", "/admin/v1/proxy/state");
    bed.proxy.proxy.applyState({ ...state.body, tokens: state.body.tokens.map((x) => (x.id === t.id ? { ...x, expiresAt: new Date(Date.now() - 1000).toISOString() } : x)) });
    const r = await bed.call("/open/v1/models", { token: t.token });
    expect(r.status).toBe(401);
    expect(code(r)).toBe("token_expired");
  });

  it("a revoked certificate is refused, and its open connection is closed", async () => {
    const bob = await bed.client({ cn: "bob", roles: ["inference:invoke"] });
    const agent = bed.agent(bob);
    const first = await bed.call("/v1/models", { cert: bob, agent });
    expect(first.status).toBe(200);
    const sockets = Object.values(agent.freeSockets).flat();
    expect(sockets).toHaveLength(1);
    const closed = new Promise<void>((resolve) => sockets[0]!.once("close", () => resolve()));
    const rv = await admin(bed.signet, "POST", `/admin/v1/certificates/${bob.serial}/revoke`, { reason: "keyCompromise" });
    expect(rv.status).toBe(200);
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("the connection stayed open")), 5000))]);
    // A new connection with the certificate is cut off at once.
    await expect(bed.call("/v1/models", { cert: bob })).rejects.toThrow(/socket|ECONNRESET|EPIPE|hang up/);
    agent.destroy();
  });

  it("rate-limits by requests, with Retry-After and RateLimit headers", async () => {
    const carol = await bed.client({ cn: "carol", roles: ["inference:invoke"] });
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await bed.call("/limited/v1/chat/completions", { cert: carol, body: chat("x") });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.at(-1)).toBe(429);
    expect(code(last!)).toBe("rate_limited_requests");
    expect(Number(last!.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(last!.headers["ratelimit-remaining"]).toBe("0");
    // Limits are per identity: another caller is not affected.
    expect((await bed.call("/limited/v1/chat/completions", { cert: alice, body: chat("x") })).status).toBe(200);
  });

  it("rate-limits by LLM tokens: estimated before, reconciled with the upstream's usage after", async () => {
    const dave = await bed.client({ cn: "dave", roles: ["inference:invoke"] });
    // 100 (max_tokens) + a few prompt tokens fit the 150 burst; the usage (a few tokens) gives most back.
    const a = await bed.call("/tokens/v1/chat/completions", { cert: dave, body: chat("x", { max_tokens: 100 }) });
    expect(a.status, a.text).toBe(200);
    const b = await bed.call("/tokens/v1/chat/completions", { cert: dave, body: chat("x", { max_tokens: 100 }) });
    expect(b.status, "the first request's estimate was reconciled down to its real usage").toBe(200);
    // A stream in progress holds its estimate (about 120) until it ends; another request does not fit.
    const held = httpsRequest(`${bed.url}/tokens/v1/chat/completions`, { method: "POST", ca: bed.signet.rootPem, cert: dave.cert, key: dave.key, headers: { "content-type": "application/json" }, agent: false });
    held.on("error", () => undefined);
    await new Promise<void>((resolve) => {
      held.once("response", (res) => {
        expect(res.statusCode).toBe(200);
        res.once("data", () => resolve());
      });
      held.end(JSON.stringify({ ...chat("x", { max_tokens: 120 }), model: "slow-stream", stream: true }));
    });
    const big = await bed.call("/tokens/v1/chat/completions", { cert: dave, body: chat("x", { max_tokens: 100 }) });
    held.destroy();
    expect(big.status).toBe(429);
    expect(code(big)).toBe("rate_limited_tokens");
    expect(big.headers["ratelimit-limit"]).toBe("150");
  });

  it("refuses bad input before the upstream sees it", async () => {
    const before = bed.upstreams[0]!.requests.get("/v1/chat/completions") ?? 0;
    const cases: Array<[string, Parameters<ProxyBed["call"]>[1], number, string]> = [
      ["oversized", { raw: JSON.stringify(chat("x".repeat(5000))) }, 413, "body_too_large"],
      ["not JSON", { raw: "{nope" }, 400, "invalid_json"],
      ["no messages", { body: { model: "echo-1" } }, 400, "invalid_request"],
      ["bad role", { body: { model: "echo-1", messages: [{ role: "root", content: "x" }] } }, 400, "invalid_request"],
      ["bad max_tokens", { body: chat("x", { max_tokens: -1 }) }, 400, "invalid_request"],
      ["no model", { body: { messages: [{ role: "user", content: "x" }] } }, 400, "invalid_request"],
      ["wrong content type", { raw: "x", headers: { "content-type": "text/plain" } }, 415, "unsupported_media_type"],
      ["context window", { body: chat("y".repeat(3000), { max_tokens: 3500 }) }, 400, "context_length_exceeded"],
    ];
    for (const [what, o, status, c] of cases) {
      const r = await bed.call("/v1/chat/completions", { cert: alice, ...o });
      expect(r.status, `${what}: ${r.text}`).toBe(status);
      expect(code(r), what).toBe(c);
    }
    expect(code(await bed.call("/v1/files", { cert: alice, body: {} }))).toBe("unknown_endpoint");
    expect(code(await bed.call("/nowhere", { cert: alice }))).toBe("no_route");
    expect(code(await bed.call("/v1/models"))).toBe("authentication_required");
    expect(bed.upstreams[0]!.requests.get("/v1/chat/completions") ?? 0).toBe(before);
  });

  it("refuses paths that could mean something else upstream, and a CN that poses as another identity", async () => {
    // Sent as written (a URL object would resolve the dot segments before sending).
    const raw = (path: string) =>
      new Promise<{ status: number; json(): unknown }>((resolve, reject) => {
        const req = httpsRequest({ host: "127.0.0.1", port: Number(new URL(bed.url).port), path, method: "GET", ca: bed.signet.rootPem, cert: alice.cert, key: alice.key, servername: "localhost", agent: false }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, json: () => JSON.parse(text) }));
        });
        req.on("error", reject);
        req.end();
      });
    for (const path of ["/v1/models/../../admin", "/v1/models/%2e%2e/%2e%2e/metrics", "/v1/models%2fx", "/v1//models", "/v1/models/..\\x"]) {
      const r = await raw(path);
      expect(r.status, path).toBe(400);
      expect(code(r), path).toBe("bad_path");
    }
    expect(code(await bed.call("/v1x/models", { cert: alice }))).toBe("no_route");
    const poser = await bed.client({ cn: "spiffe://signet.internal/agent/alice", roles: ["inference:invoke"] });
    expect((await bed.call("/v1/chat/completions", { cert: poser, body: chat("who am i") })).status).toBe(200);
    expect(bed.upstreams[0]!.lastHeaders!["x-signet-caller"]).toBe("cn:spiffe://signet.internal/agent/alice");
  });

  it("forwards no client headers but a short allowlist: no Expect, no spoofed forwarding headers, no compression", async () => {
    const r = await bed.call("/v1/chat/completions", {
      cert: alice,
      body: chat("headers"),
      headers: { expect: "100-continue", "accept-encoding": "gzip, br", "x-forwarded-for": "6.6.6.6", "x-signet-caller": "spiffe://evil", forwarded: "for=6.6.6.6", "x-request-id": "req-1", cookie: "a=b" },
    });
    expect(r.status, r.text).toBe(200);
    const h = bed.upstreams[0]!.lastHeaders!;
    expect(h["accept-encoding"]).toBe("identity");
    expect(h["x-signet-caller"]).toBe("spiffe://signet.internal/agent/alice");
    expect(h["x-forwarded-for"]).not.toContain("6.6.6.6");
    expect(h.forwarded).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(h.expect).toBeUndefined();
    expect(h["x-request-id"]).toBe("req-1");
  });

  it("gives the token estimate back when the upstream fails, and refuses a request that can never fit", async () => {
    const erin = await bed.client({ cn: "erin", roles: ["inference:invoke"] });
    // Five failures of 120 estimated tokens each would overrun the 150 burst if they were kept.
    for (let i = 0; i < 5; i++) {
      const r = await bed.call("/tokens/v1/chat/completions", { cert: erin, body: { ...chat("x", { max_tokens: 120 }), model: "broken-shape" } });
      expect(r.status, r.text).toBe(502);
    }
    expect((await bed.call("/tokens/v1/chat/completions", { cert: erin, body: chat("x", { max_tokens: 120 }) })).status).toBe(200);
    const never = await bed.call("/tokens/v1/chat/completions", { cert: erin, body: chat("x", { max_tokens: 1000 }) });
    expect(never.status).toBe(400);
    expect(code(never)).toBe("exceeds_token_limit");
  });

  it("a malformed upstream answer is a 502, not a pass-through; a broken stream ends with an error event", async () => {
    const r = await bed.call("/v1/chat/completions", { cert: alice, body: { ...chat("x"), model: "broken-shape" } });
    expect(r.status).toBe(502);
    expect(code(r)).toBe("bad_upstream_response");
    // On a keep-alive connection: the stream ends whole, and the connection serves the next request.
    const agent = bed.agent(alice);
    let connections = 0;
    const connect = agent.createConnection.bind(agent);
    agent.createConnection = (...args: Parameters<typeof connect>) => {
      connections++;
      return connect(...args);
    };
    const s = await bed.call("/v1/chat/completions", { cert: alice, agent, body: { ...chat("x"), model: "broken-stream", stream: true } });
    expect(s.text).toMatch(/event: error[\s\S]*bad_upstream_response/);
    await new Promise((r) => setTimeout(r, 50));
    const next = await bed.call("/v1/chat/completions", { cert: alice, agent, body: chat("after") });
    expect(next.status).toBe(200);
    expect(connections).toBe(1);
    agent.destroy();
  });

  it("streams Server-Sent Events through unbuffered with usage; a client that goes away cancels the upstream", async () => {
    const s = await bed.call("/v1/chat/completions", { cert: alice, body: chat("stream this", { stream: true }) });
    expect(s.status).toBe(200);
    expect(s.headers["content-type"]).toMatch(/text\/event-stream/);
    expect(s.text).toContain("data: [DONE]");
    // The proxy asked the upstream for usage in the last chunk, for the token limits.
    expect(bed.upstreams[0]!.lastBody!.stream_options).toEqual({ include_usage: true });
    const aborted = bed.upstreams[0]!.aborted;
    await new Promise<void>((resolve, reject) => {
      const req = httpsRequest(`${bed.url}/v1/chat/completions`, { method: "POST", ca: bed.signet.rootPem, cert: alice.cert, key: alice.key, headers: { "content-type": "application/json" }, agent: false }, (res) => {
        res.once("data", () => {
          // The first chunk arrived before the upstream finished (it takes 10 s): unbuffered.
          req.destroy();
          resolve();
        });
      });
      req.on("error", () => undefined);
      req.setTimeout(5000, () => reject(new Error("no first chunk")));
      req.end(JSON.stringify({ ...chat("x"), model: "slow-stream", stream: true }));
    });
    await eventually(async () => bed.upstreams[0]!.aborted > aborted || null, 5000);
  });

  it("takes an unhealthy upstream out of rotation and brings it back", async () => {
    const served = async (n: number) => {
      const names: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await bed.call("/pair/v1/chat/completions", { cert: alice, body: chat("who") });
        expect(r.status).toBe(200);
        names.push((r.json() as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content.split(":")[0]!);
      }
      return new Set(names);
    };
    expect(await served(4)).toEqual(new Set(["echo from up1", "echo from up2"]));
    bed.upstreams[2]!.healthy = false;
    await eventually(async () => ((await served(4)).size === 1 ? true : null), 5000);
    expect(await served(6)).toEqual(new Set(["echo from up1"]));
    bed.upstreams[2]!.healthy = true;
    await eventually(async () => ((await served(4)).size === 2 ? true : null), 5000);
  });

  it("sticks a session to one upstream (consistent hashing on the session header)", async () => {
    const where = async (session: string) => {
      const r = await bed.call("/sticky/v1/chat/completions", { cert: alice, body: chat("s"), headers: { "x-session-id": session } });
      return (r.json() as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content.split(":")[0]!;
    };
    const seen = new Set<string>();
    for (let s = 0; s < 12; s++) {
      const first = await where(`session-${s}`);
      seen.add(first);
      for (let i = 0; i < 3; i++) expect(await where(`session-${s}`)).toBe(first);
    }
    // Sessions spread over the upstreams.
    expect(seen.size).toBeGreaterThan(1);
  });

  it("retries only where nothing was sent: a refused connection goes to the next target", async () => {
    for (let i = 0; i < 4; i++) {
      const r = await bed.call("/flaky/v1/chat/completions", { cert: alice, body: chat("retry") });
      expect(r.status, r.text).toBe(200);
    }
  });

  it("routes from the admin API: static and ephemeral; they reach the proxy without a restart", async () => {
    const put = await admin(bed.signet, "PUT", "/admin/v1/proxy/routes/dev-tmp", { pathPrefix: "/dev/v1/", upstreamPrefix: "/v1/", upstream: "main", ttlSeconds: 600 });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect((put.body as { expiresAt: string }).expiresAt).toBeTruthy();
    await eventually(async () => (await bed.call("/dev/v1/models", { cert: alice })).status === 200 || null);
    expect((await admin(bed.signet, "PUT", "/admin/v1/proxy/routes/Bad_Name", { upstream: "main" })).status).toBe(400);
    expect((await admin(bed.signet, "PUT", "/admin/v1/proxy/routes/x", { upstream: "main", contextWindow: -1 })).status).toBe(400);
    const del = await admin(bed.signet, "DELETE", "/admin/v1/proxy/routes/dev-tmp");
    expect(del.status).toBe(204);
    await eventually(async () => (await bed.call("/dev/v1/models", { cert: alice })).status === 404 || null);
  });

  it("hot-reloads the policy; a broken edit is refused and the version in force stays", async () => {
    const file = bed.config.policyFile;
    const original = readFileSync(file, "utf8");
    try {
      writeFileSync(file, `${original}\n@id("maintenance")\n@reason("the chat route is in maintenance")\nforbid (principal, action, resource == Route::"chat");\n`);
      await eventually(async () => {
        const r = await bed.call("/v1/models", { cert: alice });
        return r.status === 403 && code(r) === "maintenance" ? true : null;
      }, 8000);
      writeFileSync(file, "permit (principal, action, resource) when { ");
      await new Promise((r) => setTimeout(r, 2500));
      // Still the last good version.
      expect(code(await bed.call("/v1/models", { cert: alice }))).toBe("maintenance");
    } finally {
      writeFileSync(file, original);
    }
    await eventually(async () => (await bed.call("/v1/models", { cert: alice })).status === 200 || null, 8000);
  });

  it("falls back to the CRLs when the revocation feed is unreachable", async () => {
    // A second proxy whose Signet API address is dead; only the HTTP port (CRLs) answers.
    await proxyCert("fallback", { profile: "server" });
    const bundle = (await fetchRaw(`${bed.signet.httpUrl}/roots.pem`)).text + (await fetchRaw(`${bed.signet.httpUrl}/intermediates.pem`)).text;
    writeFileSync(join(bed.signet.home, "fallback-trust.pem"), bundle);
    // Revoked before the proxy starts: it reads the CRLs before it serves anything.
    const frank = await bed.client({ cn: "frank", roles: ["inference:invoke"] });
    expect((await admin(bed.signet, "POST", `/admin/v1/certificates/${frank.serial}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
    // Signet publishes it in its delta CRL moments later.
    const issuing = new X509Certificate((await fetchRaw(`${bed.signet.httpUrl}/intermediates.pem`)).text);
    const ski = parseCertificate(issuing.raw).subjectKeyId!.toString("hex");
    await eventually(async () => {
      const all = [...(await crlSerials(bed.signet.httpUrl, ski, issuing, "full")), ...(await crlSerials(bed.signet.httpUrl, ski, issuing, "delta").catch(() => []))];
      return all.includes(frank.serial) || null;
    }, 15_000);
    const fallback = await secondProxy("fallback", {
      tls: { certFile: "fallback.crt", keyFile: "fallback.key" },
      trustBundleFile: "fallback-trust.pem",
      signet: { url: "https://127.0.0.1:9", httpUrl: bed.signet.httpUrl },
      crlFallbackSeconds: 1,
    });
    try {
      const as = (c: ClientCert) => fetchRaw(`https://127.0.0.1:${fallback.port}/v1/models`, { ca: bed.signet.rootPem, cert: c.cert, key: c.key }).then((r) => r.status, () => 0);
      expect(await as(frank)).toBe(0);
      const eve = await bed.client({ cn: "eve", roles: ["inference:invoke"] });
      const ask = () => as(eve);
      expect(await ask()).toBe(200);
      expect((await admin(bed.signet, "POST", `/admin/v1/certificates/${eve.serial}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
      // Refused (the connection cut) once the CRL has been read.
      await eventually(async () => ((await ask()) === 0 ? true : null), 15_000);
      expect(fallback.proxy.revokedCount).toBeGreaterThan(0);
    } finally {
      await fallback.close();
    }
  });

  it("follows Signet with a signet:proxy certificate instead of the admin token (and that certificate opens nothing else)", async () => {
    const creds = await proxyCert("proxy-role", { profile: "client-server", roles: ["signet:proxy"] });
    // The role reaches the proxy endpoints and the feed, and no other admin route.
    expect((await fetchRaw(`${bed.signet.httpsUrl}/admin/v1/proxy/state`, { ca: bed.signet.rootPem, ...creds })).status).toBe(200);
    expect((await fetchRaw(`${bed.signet.httpsUrl}/revocations?since=latest`, { ca: bed.signet.rootPem, ...creds })).status).toBe(200);
    expect((await fetchRaw(`${bed.signet.httpsUrl}/admin/v1/certificates`, { ca: bed.signet.rootPem, ...creds })).status).toBe(401);
    expect((await fetchRaw(`${bed.signet.httpsUrl}/admin/v1/proxy/tokens`, { ca: bed.signet.rootPem, ...creds })).status).toBe(401);
    const p = await secondProxy("role", { signet: { url: bed.signet.httpsUrl, httpUrl: bed.signet.httpUrl, adminTokenFile: "no-such-token", clientCertFile: "proxy-role.crt", clientKeyFile: "proxy-role.key" } });
    try {
      const t = await token(["open"]);
      const at = (o: { token?: string; cert?: ClientCert }) =>
        fetchRaw(`https://127.0.0.1:${p.port}/v1/models`, { ca: bed.signet.rootPem, ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}), headers: o.token ? { authorization: `Bearer ${o.token}` } : {} }).then((r) => r.status, () => 0);
      await eventually(async () => (await at({ token: t.token })) === 200 || null);
      const gina = await bed.client({ cn: "gina", roles: ["inference:invoke"] });
      expect(await at({ cert: gina })).toBe(200);
      expect((await admin(bed.signet, "POST", `/admin/v1/certificates/${gina.serial}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
      await eventually(async () => ((await at({ cert: gina })) === 0 ? true : null));
    } finally {
      await p.close();
    }
  });

  it("reports usage to the admin API's summary, exposes metrics, and writes an intact hash chain", async () => {
    const summary = await eventually(async () => {
      const r = await admin<{ routes: Record<string, { requests: number }>; callers: Record<string, { requests: number }> }>(bed.signet, "GET", "/admin/v1/proxy/summary");
      return (r.body.routes.chat?.requests ?? 0) > 3 && r.body.callers["spiffe://signet.internal/agent/alice"] ? r.body : null;
    });
    expect(summary.routes.limited!.requests).toBeGreaterThanOrEqual(4);
    const metrics = await fetchRaw(`http://127.0.0.1:${bed.proxy.metricsPort}/metrics`);
    expect(metrics.text).toMatch(/signet_proxy_requests_total\{route="chat",caller="spiffe:\/\/signet.internal\/agent\/alice",status="200"\} \d+/);
    expect(metrics.text).toMatch(/signet_proxy_rejections_total\{route="limited",cause="rate_limited_requests"\} \d+/);
    expect(metrics.text).toMatch(/signet_proxy_upstream_healthy\{upstream="pair",target="[^"]+"\} 1/);
    expect(metrics.text).toMatch(/signet_proxy_tokens_total\{route="chat",caller="[^"]+",kind="completion"\} \d+/);
    expect(metrics.text).toMatch(/signet_proxy_request_duration_seconds_bucket/);
    await new Promise((r) => setTimeout(r, 300));
    const log = readFileSync(bed.auditFile, "utf8");
    const v = verifyInferenceLog(log);
    expect(v.ok, v.problem ?? "").toBe(true);
    expect(v.records).toBeGreaterThan(20);
    // One edited record breaks the chain.
    const lines = log.trim().split("\n");
    lines[3] = lines[3]!.replace('"status":200', '"status":201');
    const tampered = join(bed.signet.home, "tampered.log");
    writeFileSync(tampered, lines.join("\n"));
    expect(verifyInferenceLog(readFileSync(tampered, "utf8")).ok).toBe(false);
  });
});
