// The OpenAI-compatible API as the proxy checks it: which operation a request is, the shape of its
// body (chat/completions, completions, embeddings), an estimate of its tokens before the upstream
// sees it, and the shape of the upstream's answer (JSON, or Server-Sent Events whose last chunk
// carries `usage`). Hand-written checks: a request is validated once, in a few microseconds.
import type { Operation } from "./config.js";

export class InvalidRequest extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface CheckedRequest {
  operation: Operation;
  model: string | null;
  stream: boolean;
  /** The completion's cap (max_tokens / max_completion_tokens), when the request sets one. */
  maxTokens: number | null;
  toolsRequested: boolean;
  /** Estimated prompt tokens (about 4 characters each). */
  promptTokens: number;
  /** The parsed body (null for GET /models). */
  body: Record<string, unknown> | null;
}

/** Which operation a path (after the route's prefix) and method name. */
export function operationOf(method: string, rest: string): Operation | null {
  const path = rest.replace(/\/+$/, "");
  if (method === "POST" && path === "chat/completions") return "chat.completions";
  if (method === "POST" && path === "completions") return "completions";
  if (method === "POST" && path === "embeddings") return "embeddings";
  if (method === "GET" && /^models(\/[A-Za-z0-9._:-]{1,256})?$/.test(path) && !path.includes("..")) return "models.list";
  return null;
}

const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const bad = (msg: string): never => {
  throw new InvalidRequest("invalid_request", msg);
};

function textLength(content: unknown, where: string): number {
  if (content === null || content === undefined) return 0;
  if (typeof content === "string") return content.length;
  if (!Array.isArray(content)) return bad(`${where} must be a string or a list of content parts`);
  let n = 0;
  for (const part of content) {
    if (!isObj(part) || typeof part.type !== "string") bad(`${where}: each content part needs a type`);
    const p = part as Record<string, unknown>;
    if (p.type === "text") {
      if (typeof p.text !== "string") bad(`${where}: a text part needs text`);
      n += (p.text as string).length;
    } else n += 1024; // images, audio: counted as a fixed cost
  }
  return n;
}

function positiveInt(v: unknown, field: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 10_000_000) bad(`${field} must be a positive integer`);
  return v as number;
}

/** Checks a request body for its operation. */
export function checkRequest(operation: Operation, body: unknown): CheckedRequest {
  if (operation === "models.list") return { operation, model: null, stream: false, maxTokens: null, toolsRequested: false, promptTokens: 0, body: null };
  if (!isObj(body)) bad("the body must be a JSON object");
  const b = body as Record<string, unknown>;
  if (typeof b.model !== "string" || b.model.length === 0 || b.model.length > 256) bad("model must be a non-empty string");
  if (b.stream !== undefined && typeof b.stream !== "boolean") bad("stream must be true or false");
  const stream = b.stream === true;
  let chars = 0;
  let toolsRequested = false;
  if (operation === "chat.completions") {
    if (!Array.isArray(b.messages) || b.messages.length === 0 || b.messages.length > 10_000) bad("messages must be a non-empty list");
    (b.messages as unknown[]).forEach((m, i) => {
      if (!isObj(m) || typeof m.role !== "string" || !ROLES.has(m.role)) bad(`messages[${i}].role must be one of ${[...ROLES].join(", ")}`);
      const msg = m as Record<string, unknown>;
      chars += textLength(msg.content, `messages[${i}].content`) + 4;
      if (msg.tool_calls !== undefined) {
        if (!Array.isArray(msg.tool_calls)) bad(`messages[${i}].tool_calls must be a list`);
        chars += JSON.stringify(msg.tool_calls).length;
      }
    });
    if (b.tools !== undefined) {
      if (!Array.isArray(b.tools) || !b.tools.every((t) => isObj(t) && t.type === "function" && isObj(t.function) && typeof t.function.name === "string")) bad("tools must be a list of {type: function, function: {name, ...}}");
      toolsRequested = (b.tools as unknown[]).length > 0;
      chars += JSON.stringify(b.tools).length;
    }
    if (b.functions !== undefined) toolsRequested = true;
    if (b.tool_choice !== undefined && b.tool_choice !== "none" && b.tools === undefined) bad("tool_choice needs tools");
  } else if (operation === "completions") {
    const p = b.prompt;
    if (typeof p === "string") chars = p.length;
    else if (Array.isArray(p) && p.length > 0 && p.length <= 10_000 && p.every((x) => typeof x === "string")) chars = (p as string[]).reduce((n, x) => n + x.length, 0);
    else if (Array.isArray(p) && p.length > 0 && p.every((x) => typeof x === "number" && Number.isInteger(x))) chars = p.length * 4;
    else bad("prompt must be a string, a list of strings or a list of token ids");
  } else {
    const input = b.input;
    if (typeof input === "string") chars = input.length;
    else if (Array.isArray(input) && input.length > 0 && input.length <= 10_000 && input.every((x) => typeof x === "string" || typeof x === "number")) {
      chars = input.reduce<number>((n, x) => n + (typeof x === "string" ? x.length : 4), 0);
    } else bad("input must be a string or a non-empty list");
  }
  const maxTokens = operation === "embeddings" ? null : (positiveInt(b.max_completion_tokens, "max_completion_tokens") ?? positiveInt(b.max_tokens, "max_tokens"));
  if (b.n !== undefined && (typeof b.n !== "number" || !Number.isInteger(b.n) || b.n < 1 || b.n > 16)) bad("n must be an integer from 1 to 16");
  return { operation, model: b.model as string, stream, maxTokens, toolsRequested, promptTokens: Math.ceil(chars / 4), body: b };
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

function usageOf(v: unknown): Usage | null {
  if (!isObj(v)) return null;
  const p = typeof v.prompt_tokens === "number" ? v.prompt_tokens : 0;
  const c = typeof v.completion_tokens === "number" ? v.completion_tokens : 0;
  const t = typeof v.total_tokens === "number" ? v.total_tokens : p + c;
  if (![p, c, t].every((x) => Number.isInteger(x) && x >= 0)) return null;
  return { promptTokens: p, completionTokens: c, totalTokens: t };
}

const OBJECTS: Record<Operation, string> = { "chat.completions": "chat.completion", completions: "text_completion", embeddings: "list", "models.list": "list" };

/** Checks a whole (non-streamed) JSON answer; returns its usage. Throws InvalidRequest (502). */
export function checkResponse(operation: Operation, body: unknown): Usage | null {
  const fail = (msg: string): never => {
    throw new InvalidRequest("bad_upstream_response", `the upstream's answer is malformed: ${msg}`, 502);
  };
  if (!isObj(body)) fail("not a JSON object");
  const b = body as Record<string, unknown>;
  if (b.object !== OBJECTS[operation]) fail(`object is ${JSON.stringify(b.object)}, not ${OBJECTS[operation]}`);
  if (operation === "models.list" || operation === "embeddings") {
    if (!Array.isArray(b.data)) fail("data is not a list");
  } else if (!Array.isArray(b.choices)) fail("choices is not a list");
  return usageOf(b.usage);
}

/**
 * Follows a Server-Sent Events stream as it passes: checks each event's data is JSON of the streamed
 * shape (or [DONE]) and picks up `usage` (sent in the last chunk with stream_options.include_usage).
 * Bytes are not held: the caller forwards each chunk as it arrives.
 */
export class SseFollower {
  #buffer = "";
  #decoder = new TextDecoder();
  usage: Usage | null = null;
  /** The first problem found (the stream is still passed on; the caller ends it). */
  error: string | null = null;
  done = false;
  events = 0;

  constructor(private readonly operation: Operation) {}

  push(chunk: Uint8Array): void {
    if (this.error) return;
    this.#buffer += this.#decoder.decode(chunk, { stream: true });
    if (this.#buffer.length > 1024 * 1024) {
      this.error = "an event larger than 1 MiB";
      return;
    }
    let at: number;
    while ((at = this.#buffer.search(/\r?\n\r?\n/)) >= 0) {
      const event = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(this.#buffer[at] === "\r" ? at + 4 : at + 2);
      this.#event(event);
      if (this.error) return;
    }
  }

  #event(text: string): void {
    const data = text
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (data === "") return;
    this.events++;
    if (data === "[DONE]") {
      this.done = true;
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      this.error = "an event's data is not JSON";
      return;
    }
    if (!isObj(json)) {
      this.error = "an event's data is not a JSON object";
      return;
    }
    const want = this.operation === "chat.completions" ? "chat.completion.chunk" : "text_completion";
    if (json.object !== undefined && json.object !== want) {
      this.error = `an event's object is ${JSON.stringify(json.object)}, not ${want}`;
      return;
    }
    if (json.error !== undefined) return;
    if (!Array.isArray(json.choices)) {
      this.error = "an event has no choices list";
      return;
    }
    const u = usageOf(json.usage);
    if (u) this.usage = u;
  }
}
