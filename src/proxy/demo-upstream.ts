// A small OpenAI-compatible model server (the wire format of vLLM's and OpenAI's API): GET
// /v1/models, POST /v1/chat/completions (JSON, or Server-Sent Events with `usage` in the last chunk
// when stream_options.include_usage is set), /v1/completions and /v1/embeddings, and GET /health.
// The "model" echoes the last user message. `npm start` serves the proxy's demo route with it, and
// the tests use it as the upstream fixture, with switches for failure modes.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface DemoUpstream {
  url: string;
  port: number;
  /** Health check answers (GET /health). */
  healthy: boolean;
  /** Requests served, by path. */
  requests: Map<string, number>;
  /** Streams whose client went away before the end. */
  aborted: number;
  /** Headers of the last inference request. */
  lastHeaders: IncomingMessage["headers"] | null;
  lastBody: Record<string, unknown> | null;
  /** An id in every answer, to tell instances apart. */
  name: string;
  close(): Promise<void>;
}

const words = (s: string) => Math.max(1, Math.ceil(s.length / 4));

/** Model names that misbehave on purpose: "broken-shape" answers JSON of the wrong shape,
 * "broken-stream" streams garbage, "slow-stream" streams one chunk every 50 ms for 10 s. */
export async function startDemoUpstream(opts: { port?: number; host?: string; name?: string } = {}): Promise<DemoUpstream> {
  const state: Omit<DemoUpstream, "url" | "port" | "close"> = { healthy: true, requests: new Map(), aborted: 0, lastHeaders: null, lastBody: null, name: opts.name ?? "demo" };
  const server: Server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0]!;
    state.requests.set(path, (state.requests.get(path) ?? 0) + 1);
    const json = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
    };
    if (path === "/health") return void res.writeHead(state.healthy ? 200 : 503).end(state.healthy ? "ok" : "down");
    if (req.method === "GET" && path === "/v1/models") return json(200, { object: "list", data: [{ id: "echo-1", object: "model", owned_by: state.name }] });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {
      return json(400, { error: { message: "not JSON", type: "invalid_request_error" } });
    }
    state.lastHeaders = req.headers;
    state.lastBody = body;
    const model = String(body.model ?? "echo-1");
    if (model === "broken-shape") return json(200, { hello: "world" });
    if (path === "/v1/embeddings") {
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return json(200, { object: "list", model, data: inputs.map((_, i) => ({ object: "embedding", index: i, embedding: [0.1, 0.2, 0.3] })), usage: { prompt_tokens: inputs.length * 3, total_tokens: inputs.length * 3 } });
    }
    const chat = path === "/v1/chat/completions";
    if (!chat && path !== "/v1/completions") return json(404, { error: { message: `no ${path}`, type: "not_found" } });
    const messages = Array.isArray(body.messages) ? (body.messages as Array<{ role?: string; content?: unknown }>) : [];
    const prompt = chat ? messages.map((m) => (typeof m.content === "string" ? m.content : "")).join(" ") : String(body.prompt ?? "");
    const last = chat ? [...messages].reverse().find((m) => m.role === "user") : null;
    const answer = `echo from ${state.name}: ${chat ? (typeof last?.content === "string" ? last.content : "") : prompt}`.slice(0, Number(body.max_tokens ?? 1000) * 4);
    const usage = { prompt_tokens: words(prompt), completion_tokens: words(answer), total_tokens: words(prompt) + words(answer) };
    const id = `cmpl-${Date.now().toString(36)}`;
    if (body.stream === true) {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      let closed = false;
      res.on("close", () => {
        if (!res.writableFinished) {
          closed = true;
          state.aborted++;
        }
      });
      if (model === "broken-stream") {
        res.write("data: {not json\n\n");
        return void res.end();
      }
      const pieces = model === "slow-stream" ? Array.from({ length: 200 }, (_, i) => `t${i} `) : answer.match(/.{1,8}/gs) ?? [answer];
      for (const piece of pieces) {
        if (closed) return;
        const chunk = chat
          ? { id, object: "chat.completion.chunk", created: 0, model, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] }
          : { id, object: "text_completion", created: 0, model, choices: [{ index: 0, text: piece, finish_reason: null }] };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        if (model === "slow-stream") await new Promise((r) => setTimeout(r, 50));
      }
      const includeUsage = typeof body.stream_options === "object" && body.stream_options !== null && (body.stream_options as { include_usage?: boolean }).include_usage === true;
      if (includeUsage) res.write(`data: ${JSON.stringify({ id, object: chat ? "chat.completion.chunk" : "text_completion", created: 0, model, choices: [], usage })}\n\n`);
      res.write("data: [DONE]\n\n");
      return void res.end();
    }
    if (chat) return json(200, { id, object: "chat.completion", created: 0, model, choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }], usage });
    return json(200, { id, object: "text_completion", created: 0, model, choices: [{ index: 0, text: answer, finish_reason: "stop" }], usage });
  }
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
