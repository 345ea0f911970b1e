// The proxy's HTTP/1.1 client to one upstream target: a bounded set of keep-alive connections
// (requests queue when all are busy), one request per connection at a time, responses with a
// length, chunked or until close. A failure to connect is reported apart from every other failure:
// only then did nothing reach the upstream, so only then may the request go to another target.
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { ChunkedDecoder, headEnd, HttpError, parseHead, type Head } from "./http1.js";

export type UpstreamFailure = "connect" | "headers_timeout" | "reset" | "bad_response" | "cancelled";

export class UpstreamError extends Error {
  constructor(
    readonly failure: UpstreamFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Header lines ("name: value\r\n"…), without host and content-length. */
  headers: string;
  body: Buffer | null;
}

/** Lets the caller cancel an exchange: set by the client, called by the caller. */
export interface Cancellation {
  cancelled: boolean;
  hook: (() => void) | null;
}

export interface BodySink {
  data(chunk: Buffer): void;
  end(): void;
  error(err: Error): void;
}

const MAX_HEAD = 64 * 1024;
/** Where plain-TCP reads land; the callback copies out what it keeps before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
const DEFAULT_KEEP_ALIVE_MS = 4000;

/** A response whose head has arrived; its body follows, buffered until read or streamed. */
export class UpstreamReply {
  #parts: Buffer[] = [];
  #done = false;
  #error: Error | null = null;
  #sink: BodySink | null = null;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    private readonly conn: UpConn,
  ) {}

  /** The whole body; rejects with UpstreamError("bad_response") past `max` bytes. */
  readAll(max: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      this.stream({
        data: (c) => {
          size += c.length;
          if (size > max) {
            this.cancel();
            reject(new UpstreamError("bad_response", `the upstream's answer is larger than ${max} bytes`));
            return;
          }
          parts.push(c);
        },
        end: () => resolve(parts.length === 1 ? parts[0]! : Buffer.concat(parts, size)),
        error: reject,
      });
    });
  }

  /** Delivers the body to `sink` as it arrives (what came already first). */
  stream(sink: BodySink): void {
    this.#sink = sink;
    const parts = this.#parts;
    this.#parts = [];
    for (const p of parts) sink.data(p);
    if (this.#error) sink.error(this.#error);
    else if (this.#done) sink.end();
  }

  /** Stops reading from the upstream (backpressure) until resume(). */
  pause(): void {
    if (this.#done || this.#error) return;
    this.conn.socket.pause();
  }

  resume(): void {
    if (this.#done || this.#error) return;
    this.conn.socket.resume();
  }

  /** Abandons the body: the connection is closed (the upstream sees the request cancelled). */
  cancel(): void {
    if (this.#done || this.#error) return;
    this.conn.cancel();
  }

  /** Called by the connection. */
  push(c: Buffer): void {
    if (this.#sink) this.#sink.data(c);
    else this.#parts.push(c);
  }

  finish(err: Error | null): void {
    if (this.#done || this.#error) return;
    if (err) this.#error = err;
    else this.#done = true;
    if (this.#sink) {
      if (err) this.#sink.error(err);
      else this.#sink.end();
    }
  }
}

interface Exchange {
  req: UpstreamRequest;
  cancellation: Cancellation | null;
  resolve: (r: UpstreamReply) => void;
  reject: (e: Error) => void;
  /** When the head must have arrived (ms since epoch). */
  deadline: number;
  reply: UpstreamReply | null;
}

/** One connection to the target. */
class UpConn {
  readonly socket: Socket;
  connected = false;
  ex: Exchange | null = null;
  idleSince = 0;
  keepAliveMs = DEFAULT_KEEP_ALIVE_MS;
  #buf: Buffer | null = null;
  #head: Head | null = null;
  #left = 0;
  #chunks: ChunkedDecoder | null = null;
  #untilClose = false;
  #dead = false;

  constructor(
    private readonly client: Http1Client,
    secure: boolean,
    host: string,
    port: number,
    connectTimeoutMs: number,
  ) {
    // Plain TCP reads go straight to the parser (net's onread: no stream machinery, no buffer per
    // read); what the parser keeps is copied out of the shared buffer.
    const s = secure
      ? tlsConnect({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, ALPNProtocols: ["http/1.1"] })
      : netConnect({
          host,
          port,
          onread: {
            buffer: READ_BUFFER,
            callback: (n: number, buf: Uint8Array) => {
              this.#data(Buffer.from(buf.subarray(0, n)));
              return true;
            },
          },
        });
    this.socket = s;
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })), connectTimeoutMs);
    s.once(secure ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      this.connected = true;
      if (this.ex) this.#send(this.ex);
    });
    if (secure) s.on("data", (c: Buffer) => this.#data(c));
    s.on("error", () => undefined);
    s.once("close", () => {
      clearTimeout(timer);
      this.#closed();
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Starts an exchange on this (idle or connecting) connection. */
  start(ex: Exchange): void {
    this.ex = ex;
    if (ex.cancellation) ex.cancellation.hook = () => this.cancel();
    if (this.connected) this.#send(ex);
  }

  #send(ex: Exchange): void {
    const { req } = ex;
    const body = req.body;
    const head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.client.hostHeader}\r\n${req.headers}${body !== null ? `content-length: ${body.length}\r\n` : ""}\r\n`;
    ex.deadline = Date.now() + this.client.headersTimeoutMs;
    // One buffer, one write (one system call, one TCP segment for a small request).
    const bodyLen = body === null ? 0 : body.length;
    const headLen = Buffer.byteLength(head, "latin1");
    const out = Buffer.allocUnsafe(headLen + bodyLen);
    out.write(head, 0, "latin1");
    if (bodyLen > 0) body!.copy(out, headLen);
    this.socket.write(out);
  }

  cancel(): void {
    this.#dead = true;
    this.socket.destroy();
  }

  #data(c: Buffer): void {
    const ex = this.ex;
    if (ex === null) {
      // Bytes nobody asked for: the connection cannot be trusted.
      this.cancel();
      return;
    }
    if (this.#head === null) {
      this.#buf = this.#buf === null ? c : Buffer.concat([this.#buf, c]);
      for (;;) {
        const buf: Buffer = this.#buf!;
        const end = headEnd(buf);
        if (end < 0) {
          if (buf.length > MAX_HEAD) this.#fail(new UpstreamError("bad_response", "the upstream's response head is too large"));
          return;
        }
        let head: Head;
        try {
          head = parseHead(buf.toString("latin1", 0, end), "response");
        } catch (err) {
          this.#fail(new UpstreamError("bad_response", `the upstream's response is malformed: ${(err as HttpError).message}`));
          return;
        }
        const rest: Buffer | null = end + 4 === buf.length ? null : buf.subarray(end + 4);
        this.#buf = rest;
        if (head.status < 200) {
          // Interim responses (100, 103) are skipped.
          if (rest === null) return;
          continue;
        }
        this.#head = head;
        this.#left = 0;
        this.#chunks = null;
        this.#untilClose = false;
        const bodiless = head.status === 204 || head.status === 304 || ex.req.method === "HEAD";
        if (!bodiless) {
          if (head.chunked) this.#chunks = new ChunkedDecoder((d) => ex.reply!.push(d));
          else if (head.contentLength >= 0) this.#left = head.contentLength;
          else this.#untilClose = true;
        }
        const ka = head.headers["keep-alive"];
        if (ka !== undefined) {
          const m = /timeout=(\d+)/.exec(ka);
          if (m) this.keepAliveMs = Math.max(0, Math.min(30_000, Number(m[1]) * 1000 - 1000));
        }
        ex.reply = new UpstreamReply(head.status, head.headers, this);
        ex.resolve(ex.reply);
        this.#buf = null;
        if (rest !== null) this.#body(rest);
        else if (this.#chunks === null && this.#left === 0 && !this.#untilClose) this.#complete();
        return;
      }
    }
    this.#body(c);
  }

  #body(c: Buffer): void {
    const ex = this.ex!;
    const reply = ex.reply!;
    if (this.#untilClose) {
      reply.push(c);
      return;
    }
    let used: number;
    if (this.#chunks !== null) {
      try {
        used = this.#chunks.push(c);
      } catch (err) {
        this.#fail(new UpstreamError("bad_response", `the upstream's chunked framing is malformed: ${(err as Error).message}`));
        return;
      }
      if (!this.#chunks.done) return;
    } else {
      const n = Math.min(this.#left, c.length);
      if (n > 0) reply.push(n === c.length ? c : c.subarray(0, n));
      this.#left -= n;
      used = n;
      if (this.#left > 0) return;
    }
    if (used < c.length) {
      // More than the message: the connection is out of step.
      this.#dead = true;
    }
    this.#complete();
  }

  #complete(): void {
    const ex = this.ex!;
    const head = this.#head!;
    this.ex = null;
    this.#head = null;
    this.#chunks = null;
    if (ex.cancellation) ex.cancellation.hook = null;
    const reusable = !this.#dead && !head.close && !this.#untilClose;
    if (reusable) {
      // A pause asked for while this reply's last bytes were delivered must not hold the next exchange.
      this.socket.resume();
      this.client.release(this);
    } else this.cancel();
    ex.reply!.finish(null);
  }

  #fail(err: UpstreamError): void {
    const ex = this.ex;
    this.ex = null;
    this.cancel();
    if (ex) {
      if (ex.reply) ex.reply.finish(err);
      else ex.reject(err);
    }
  }

  /** Called by the client's sweep. */
  expired(now: number): boolean {
    if (this.ex !== null && this.ex.reply === null && this.connected && now > this.ex.deadline) {
      this.#fail(new UpstreamError("headers_timeout", "the upstream did not answer in time"));
      return true;
    }
    return false;
  }

  #closed(): void {
    this.#dead = true;
    this.client.forget(this);
    const ex = this.ex;
    this.ex = null;
    if (!ex) return;
    if (ex.reply) {
      if (this.#untilClose) ex.reply.finish(null);
      else ex.reply.finish(new UpstreamError("reset", "the upstream closed the connection mid-answer"));
    } else if (ex.cancellation?.cancelled) ex.reject(new UpstreamError("cancelled", "cancelled"));
    else if (!this.connected) ex.reject(new UpstreamError("connect", "could not connect to the upstream"));
    else ex.reject(new UpstreamError("reset", "the upstream closed the connection before answering"));
  }
}

export interface ClientOptions {
  connections: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
}

export class Http1Client {
  readonly hostHeader: string;
  readonly headersTimeoutMs: number;
  readonly #secure: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #opts: ClientOptions;
  readonly #all = new Set<UpConn>();
  #idle: UpConn[] = [];
  #queue: Exchange[] = [];
  #sweep: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(url: string, opts: ClientOptions) {
    const u = new URL(url);
    this.#secure = u.protocol === "https:";
    this.#host = u.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(u.port || (this.#secure ? 443 : 80));
    this.hostHeader = u.host;
    this.#opts = opts;
    this.headersTimeoutMs = opts.headersTimeoutMs;
  }

  /** Resolves when the response head arrives. */
  request(req: UpstreamRequest, cancellation: Cancellation | null = null): Promise<UpstreamReply> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new UpstreamError("connect", "the client is closed"));
      const ex: Exchange = { req, cancellation, resolve, reject, deadline: 0, reply: null };
      if (cancellation) {
        // Cancelled while queued: leave the queue.
        cancellation.hook = () => {
          const i = this.#queue.indexOf(ex);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(new UpstreamError("cancelled", "cancelled"));
        };
      }
      this.#dispatch(ex);
    });
  }

  #dispatch(ex: Exchange): void {
    const now = Date.now();
    let conn: UpConn | undefined;
    while ((conn = this.#idle.pop()) !== undefined) {
      if (!conn.dead && now - conn.idleSince < conn.keepAliveMs) break;
      conn.cancel();
    }
    if (conn === undefined) {
      if (this.#all.size >= this.#opts.connections) {
        this.#queue.push(ex);
        return;
      }
      conn = new UpConn(this, this.#secure, this.#host, this.#port, this.#opts.connectTimeoutMs);
      this.#all.add(conn);
      this.#ensureSweep();
    }
    conn.start(ex);
  }

  release(conn: UpConn): void {
    const next = this.#queue.shift();
    if (next) {
      conn.start(next);
      return;
    }
    conn.idleSince = Date.now();
    this.#idle.push(conn);
  }

  forget(conn: UpConn): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    const next = this.#queue.shift();
    if (next && !this.#closed) this.#dispatch(next);
  }

  #ensureSweep(): void {
    if (this.#sweep) return;
    const every = Math.max(25, Math.min(1000, this.headersTimeoutMs / 4));
    this.#sweep = setInterval(() => {
      const now = Date.now();
      for (const c of this.#all) c.expired(now);
      this.#idle = this.#idle.filter((c) => {
        if (c.dead || now - c.idleSince < c.keepAliveMs) return !c.dead;
        c.cancel();
        return false;
      });
    }, every);
    this.#sweep.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    for (const ex of this.#queue.splice(0)) ex.reject(new UpstreamError("connect", "the client is closed"));
    for (const c of this.#all) c.cancel();
  }
}
