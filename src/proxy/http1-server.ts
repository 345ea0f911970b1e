// The proxy's HTTP/1.1 server side, on a TLS socket: one request at a time per connection
// (pipelined requests wait their turn), keep-alive, Expect: 100-continue, request bodies with
// Content-Length or chunked, bounded; responses with a length or chunked (streams). Timeouts: a
// head must be complete within headersTimeoutMs, a connection idle between requests (or a body that
// stops arriving) closes after idleMs; one sweep a second checks every connection, instead of a
// timer re-armed twice per request.
import type { TLSSocket } from "node:tls";
import { ChunkedDecoder, headEnd, headerValue, HttpError, httpDate, parseHead, reason, type Head } from "./http1.js";

export interface Http1Limits {
  /** The largest request head, bytes. */
  maxHeadBytes: number;
  headersTimeoutMs: number;
  idleMs: number;
}

export type Http1Handler = (req: Http1Request, res: Http1Response) => void;

/** Bytes of a request's body the connection discards, to keep the connection, when the answer
 * came before the body was read; a longer body closes the connection instead. */
const DISCARD_MAX = 64 * 1024;
/** Bytes buffered ahead of the request being served before the socket is paused. */
const READ_AHEAD = 256 * 1024;
const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n";

export class BodyTooLarge extends Error {}
export class ClientGone extends Error {}

export class Http1Request {
  constructor(
    readonly conn: Connection,
    readonly head: Head,
  ) {}

  get method(): string {
    return this.head.method;
  }

  get url(): string {
    return this.head.target;
  }

  get headers(): Record<string, string> {
    return this.head.headers;
  }

  get socket(): TLSSocket {
    return this.conn.socket;
  }

  /** The whole body (empty when there is none); rejects with BodyTooLarge past `max` bytes, with
   * HttpError on malformed chunked framing, with ClientGone if the connection closes first. */
  body(max: number): Promise<Buffer> {
    return this.conn.readBody(max);
  }
}

export class Http1Response {
  headersSent = false;
  /** end() was called. */
  ended = false;
  /** The connection closed before the response ended. */
  closed = false;
  /** Called once if the connection closes before the response ended (the client went away). */
  onClose: (() => void) | null = null;
  #extra = "";
  #chunked = false;
  #drainWaiters: Array<() => void> | null = null;

  constructor(
    private readonly conn: Connection,
    /** A HEAD request: the answer has no body. */
    private readonly bodiless: boolean,
  ) {}

  setHeader(name: string, value: string): void {
    this.#extra += `${name}: ${headerValue(value)}\r\n`;
  }

  /** A whole response: status, headers and body in one write. */
  send(status: number, headers: Record<string, string>, body: Buffer | string): void {
    if (this.headersSent || this.closed) return;
    const len = typeof body === "string" ? Buffer.byteLength(body) : body.length;
    const head = this.#head(status, headers) + `content-length: ${len}\r\n\r\n`;
    this.headersSent = true;
    this.ended = true;
    // One buffer, one write: one TLS record and one system call for the whole answer.
    const out = Buffer.allocUnsafe(head.length + (this.bodiless ? 0 : len));
    out.write(head, 0, "latin1");
    if (!this.bodiless && len > 0) {
      if (typeof body === "string") out.write(body, head.length, "utf8");
      else body.copy(out, head.length);
    }
    this.conn.socket.write(out);
    this.conn.finished(this);
  }

  /** Starts a streamed response (chunked). */
  start(status: number, headers: Record<string, string>): void {
    if (this.headersSent || this.closed) return;
    this.headersSent = true;
    this.#chunked = true;
    this.conn.socket.write(this.#head(status, headers) + "transfer-encoding: chunked\r\n\r\n", "latin1");
  }

  /** One chunk of a streamed response; false: wait for drain(). */
  write(chunk: Buffer | string): boolean {
    if (!this.#chunked || this.ended || this.closed) return false;
    if (this.bodiless) return true;
    const len = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (len === 0) return true;
    const s = this.conn.socket;
    s.cork();
    s.write(`${len.toString(16)}\r\n`, "latin1");
    s.write(chunk);
    const ok = s.write("\r\n", "latin1");
    s.uncork();
    return ok;
  }

  /** Ends a streamed response. */
  end(): void {
    if (!this.#chunked || this.ended || this.closed) return;
    this.ended = true;
    if (!this.bodiless) this.conn.socket.write("0\r\n\r\n", "latin1");
    this.conn.finished(this);
  }

  /** Resolves when the client has read what was written, or has gone away. */
  drain(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      (this.#drainWaiters ??= []).push(resolve);
      this.conn.wantDrain();
    });
  }

  /** Ends the connection without finishing the response (a stream that cannot be completed). */
  destroy(): void {
    this.conn.socket.destroy();
  }

  drained(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = null;
    if (w) for (const f of w) f();
  }

  gone(): void {
    if (this.ended || this.closed) return;
    this.closed = true;
    this.drained();
    const f = this.onClose;
    this.onClose = null;
    if (f) f();
  }

  #head(status: number, headers: Record<string, string>): string {
    let h = `HTTP/1.1 ${status} ${reason(status)}\r\ndate: ${httpDate()}\r\n`;
    for (const k in headers) h += `${k}: ${headerValue(headers[k]!)}\r\n`;
    h += this.#extra;
    if (this.conn.willClose()) h += "connection: close\r\n";
    return h;
  }
}

/** 0 head, 1 body (being read or waiting to be), 2 answering (the body is read), 3 discarding the
 * rest of a body answered early, 4 closed. */
type State = 0 | 1 | 2 | 3 | 4;

export class Connection {
  #buf: Buffer | null = null;
  #state: State = 0;
  #headStarted = 0;
  /** When bytes last arrived, or the connection last became idle (ms since epoch). */
  lastActive = Date.now();
  #req: Http1Request | null = null;
  #res: Http1Response | null = null;
  /** Body framing of the request being served: bytes still to come (Content-Length), or a decoder. */
  #left = 0;
  #chunks: ChunkedDecoder | null = null;
  #reader: { max: number; parts: Buffer[]; size: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null = null;
  #continued = false;
  /** A chunked body went past its reader's limit: the rest is not read, the connection closes. */
  #overflow = false;
  #paused = false;
  #drainHooked = false;
  /** The connection ends once the current response is written. */
  closing = false;
  #parsing = false;

  constructor(
    readonly socket: TLSSocket,
    private readonly handler: Http1Handler,
    private readonly limits: Http1Limits,
  ) {
    socket.setNoDelay(true);
    watch(this);
    socket.on("data", (c: Buffer) => this.#data(c));
    socket.on("error", () => undefined);
    socket.once("close", () => this.#closed());
  }

  #data(c: Buffer): void {
    if (this.#state === 4) return;
    this.lastActive = Date.now();
    if ((this.#state === 1 && this.#reader !== null) || this.#state === 3) {
      let b = c;
      if (this.#buf !== null) {
        b = Buffer.concat([this.#buf, c]);
        this.#buf = null;
      }
      this.#feed(b, 0);
      return;
    }
    this.#buf = this.#buf === null ? c : Buffer.concat([this.#buf, c]);
    if (this.#state === 0) this.#next();
    else if (this.#buf.length > READ_AHEAD && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
  }

  /** Parses the next request from the buffer, if it is all there. */
  #next(): void {
    // Called again from inside the handler (an answer written synchronously): the loop below reads
    // the next request, instead of a recursion as deep as the requests pipelined.
    if (this.#parsing) return;
    this.#parsing = true;
    try {
      this.#parse();
    } finally {
      this.#parsing = false;
    }
  }

  #parse(): void {
    while (this.#state === 0 && this.#buf !== null) {
      let buf = this.#buf;
      // Blank lines before a request line are ignored (RFC 9112 §2.2).
      let start = 0;
      while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
      const end = headEnd(buf, start);
      if (end < 0) {
        if (buf.length > this.limits.maxHeadBytes) return this.#fail(new HttpError(431, "the request head is too large"));
        if (this.#headStarted === 0) this.#headStarted = this.lastActive;
        return;
      }
      if (end > this.limits.maxHeadBytes) return this.#fail(new HttpError(431, "the request head is too large"));
      this.#headStarted = 0;
      let head: Head;
      try {
        head = parseHead(buf.toString("latin1", start, end), "request");
      } catch (err) {
        return this.#fail(err instanceof HttpError ? err : new HttpError(400, "malformed request"));
      }
      const expect = head.headers.expect;
      if (expect !== undefined && head.minor === 1 && expect.toLowerCase() !== "100-continue") return this.#fail(new HttpError(417, "only Expect: 100-continue is understood"));
      buf = end + 4 === buf.length ? (null as unknown as Buffer) : buf.subarray(end + 4);
      this.#buf = buf;
      this.closing = head.close;
      this.#continued = expect === undefined || head.minor === 0;
      this.#chunks = null;
      this.#left = 0;
      this.#overflow = false;
      if (head.chunked) {
        this.#state = 1;
        this.#chunks = new ChunkedDecoder((d) => this.#bodyPart(d));
      } else if (head.contentLength > 0) {
        this.#state = 1;
        this.#left = head.contentLength;
      } else this.#state = 2;
      const req = new Http1Request(this, head);
      const res = new Http1Response(this, head.method === "HEAD");
      this.#req = req;
      this.#res = res;
      this.handler(req, res);
    }
  }

  readBody(max: number): Promise<Buffer> {
    if (this.#state === 4) return Promise.reject(new ClientGone("the client went away"));
    if (this.#state !== 1) return Promise.resolve(EMPTY);
    if (this.#reader !== null) return Promise.reject(new Error("the body is being read already"));
    if (this.#chunks === null && this.#left > max) {
      this.closing = true;
      return Promise.reject(new BodyTooLarge());
    }
    if (!this.#continued) {
      this.#continued = true;
      this.socket.write(CONTINUE, "latin1");
    }
    return new Promise((resolve, reject) => {
      this.#reader = { max, parts: [], size: 0, resolve, reject };
      if (this.#paused) {
        this.#paused = false;
        this.socket.resume();
      }
      const buf = this.#buf;
      if (buf !== null) {
        this.#buf = null;
        this.#feed(buf, 0);
      }
    });
  }

  /** Body bytes (state 1 with a reader, or state 3): what is left over is the next request's. */
  #feed(buf: Buffer, at: number): void {
    let i = at;
    try {
      if (this.#chunks !== null) i = this.#chunks.push(buf, i);
      else {
        const n = Math.min(this.#left, buf.length - i);
        if (n > 0) this.#bodyPart(buf.subarray(i, i + n));
        this.#left -= n;
        i += n;
      }
    } catch (err) {
      this.closing = true;
      const r = this.#reader;
      this.#reader = null;
      if (r) r.reject(err as Error);
      else this.socket.destroy();
      return;
    }
    if (this.#state === 4) return;
    if (this.#overflow) return;
    if (i < buf.length) this.#buf = this.#buf === null ? buf.subarray(i) : Buffer.concat([this.#buf, buf.subarray(i)]);
    const complete = this.#chunks !== null ? this.#chunks.done : this.#left === 0;
    if (!complete) return;
    if (this.#state === 3) {
      this.#idle();
      return;
    }
    this.#state = 2;
    const r = this.#reader;
    this.#reader = null;
    if (r) r.resolve(r.parts.length === 1 ? r.parts[0]! : Buffer.concat(r.parts, r.size));
  }

  #bodyPart(d: Buffer): void {
    const r = this.#reader;
    if (r === null) return; // discarding
    r.size += d.length;
    if (r.size > r.max) {
      // Too large after all (chunked): the rest is not read.
      this.#reader = null;
      this.#overflow = true;
      this.closing = true;
      r.reject(new BodyTooLarge());
      return;
    }
    r.parts.push(d);
  }

  /** Whether the connection ends after the answer being written: asked for, or the answer comes
   * before a body that will not be discarded (too long, chunked, being read, or never asked for
   * with 100-continue). Decided when the head is written, so that the head can say so. */
  willClose(): boolean {
    if (!this.closing && this.#state === 1 && !(this.#reader === null && this.#chunks === null && this.#left <= DISCARD_MAX && this.#continued)) this.closing = true;
    return this.closing;
  }

  /** The response to the current request is written. */
  finished(res: Http1Response): void {
    if (res !== this.#res) return;
    this.#req = null;
    this.#res = null;
    if (this.#state === 4) return;
    if (!this.closing && this.#state === 1 && this.#reader === null && this.#chunks === null && this.#left <= DISCARD_MAX && this.#continued) {
      // Answered before the body was read: discard the (short) rest, then the next request.
      this.#state = 3;
      const buf = this.#buf;
      this.#buf = null;
      if (buf !== null) this.#feed(buf, 0);
      return;
    }
    if (this.closing || this.#state === 1) {
      this.#state = 4;
      this.socket.end();
      return;
    }
    this.#idle();
  }

  /** Between requests: the idle timeout runs, and the next request (already here, pipelined) is read. */
  #idle(): void {
    this.#state = 0;
    this.lastActive = Date.now();
    if (this.#paused) {
      this.#paused = false;
      this.socket.resume();
    }
    if (this.#buf !== null) this.#next();
  }

  wantDrain(): void {
    if (this.#drainHooked) return;
    this.#drainHooked = true;
    this.socket.once("drain", () => {
      this.#drainHooked = false;
      this.#res?.drained();
    });
  }

  /** Called once a second: closes a connection idle too long, or whose head or body stalled. An
   * answer being generated (state 2) may take as long as the upstream takes. */
  sweep(now: number): void {
    if (this.#state === 4) return;
    if (this.#headStarted !== 0 && now - this.#headStarted > this.limits.headersTimeoutMs) return this.#fail(new HttpError(408, "the request head took too long"));
    if ((this.#state === 0 || this.#state === 1 || this.#state === 3) && now - this.lastActive > this.limits.idleMs) this.socket.destroy();
  }

  #fail(err: HttpError): void {
    this.#state = 4;
    const body = JSON.stringify({ error: { message: err.message, type: "invalid_request_error", code: "bad_http" } });
    this.socket.end(`HTTP/1.1 ${err.status} ${reason(err.status)}\r\ndate: ${httpDate()}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`, "latin1");
  }

  #closed(): void {
    this.#state = 4;
    live.delete(this);
    this.#buf = null;
    const r = this.#reader;
    this.#reader = null;
    if (r) r.reject(new ClientGone("the client went away"));
    const res = this.#res;
    this.#res = null;
    this.#req = null;
    if (res) res.gone();
  }
}

const EMPTY = Buffer.alloc(0);

const live = new Set<Connection>();
let sweeper: NodeJS.Timeout | null = null;

function watch(c: Connection): void {
  live.add(c);
  if (sweeper !== null) return;
  sweeper = setInterval(() => {
    if (live.size === 0) {
      clearInterval(sweeper!);
      sweeper = null;
      return;
    }
    const now = Date.now();
    for (const conn of live) conn.sweep(now);
  }, 1000);
  sweeper.unref();
}
