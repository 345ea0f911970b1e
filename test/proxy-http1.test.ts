// The proxy's own HTTP/1.1: the strict head parser and the chunked decoder on their own, the server
// (Connection) and the upstream client (Http1Client) over real loopback sockets. The server runs on
// plain node:net sockets (Connection needs only a Duplex); the client talks to raw servers that
// write exactly the bytes a test wants.
import { once } from "node:events";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { ChunkedDecoder, HttpError, parseHead } from "../src/proxy/http1.js";
import { BodyTooLarge, ClientGone, Connection, type Http1Handler, type Http1Limits, type Http1Response } from "../src/proxy/http1-server.js";
import { Http1Client, UpstreamError, type Cancellation, type ClientOptions, type UpstreamRequest } from "../src/proxy/http1-client.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanups.splice(0).reverse()) f();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves once `pred()` holds, checked every 5 ms; rejects after `ms`. */
async function waitFor(pred: () => boolean, ms = 2000, what = "a condition"): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A promise that rejects after `ms`, so that nothing waits for ever. */
function within<T>(p: Promise<T>, ms = 2000, what = "a promise"): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]).finally(() => clearTimeout(timer));
}

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as AddressInfo).port;
}

/** A server whose sockets are closed after the test. */
function closing(server: Server): Server {
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.once("close", () => sockets.delete(s));
  });
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return server;
}

// -- the head parser ---------------------------------------------------------------------------

const head = (...lines: string[]) => lines.join("\r\n");

/** The status parseHead refuses the head with, or 0 when it accepts it. */
function refusal(text: string, kind: "request" | "response" = "request"): number {
  try {
    parseHead(text, kind);
    return 0;
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
}

describe("parseHead: what could be read two ways is refused", () => {
  it("refuses Content-Length together with Transfer-Encoding, in either order", () => {
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Transfer-Encoding: chunked"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"))).toBe(400);
  });
  it("refuses two Content-Length fields, even when they agree", () => {
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 6"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Content-Length: 5", "Content-Length: 5"))).toBe(400);
  });
  it("refuses a Content-Length that is not just digits", () => {
    for (const v of ["5a", "-1", "+5", "0x5", "1,1", "5 5", "", "1e3", "1234567890123456"]) {
      expect(refusal(head("POST / HTTP/1.1", "Host: a", `Content-Length: ${v}`)), v).toBe(400);
    }
    expect(parseHead(head("POST / HTTP/1.1", "Host: a", "Content-Length:  12 "), "request").contentLength).toBe(12);
  });
  it("answers 501 to a transfer coding other than chunked, 400 to Transfer-Encoding in HTTP/1.0", () => {
    for (const v of ["gzip", "identity", "gzip, chunked", "chunked, gzip", "chunked, chunked", "xchunked"]) {
      expect(refusal(head("POST / HTTP/1.1", "Host: a", `Transfer-Encoding: ${v}`)), v).toBe(501);
    }
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.0", "Transfer-Encoding: chunked"))).toBe(400);
    expect(parseHead(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: Chunked"), "request").chunked).toBe(true);
  });
  it("refuses obs-fold (a line starting with a space or a tab)", () => {
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "X-Long: one", " two"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "X-Long: one", "\ttwo"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", " Content-Length: 5"))).toBe(400);
  });
  it("refuses whitespace before the colon", () => {
    expect(refusal(head("GET / HTTP/1.1", "Host : a"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Content-Length\t: 5"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding : chunked"))).toBe(400);
  });
  it("refuses bare LF line ends and CR, LF or NUL inside a field", () => {
    expect(refusal("GET / HTTP/1.1\nHost: a")).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a\nContent-Length: 5"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "X: a\rb"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "X: a\0b"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "X\r: a"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "no colon here"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", ": empty name"))).toBe(400);
  });
  // Regression (found in review): the value was trimmed with String.prototype.trim(), which also strips
  // CR, VT, FF and NBSP, so "X: a\r" (a bare CR right before the line's CRLF) and "Transfer-Encoding:
  // chunked\v" were accepted (as "a" and "chunked"); only SP and HTAB are optional whitespace (RFC 9112
  // §5.1).
  it("refuses a bare CR, VT or FF at either end of a field value", () => {
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "X: a\r"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked\x0b"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Content-Length: \x0c5"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a\r"))).toBe(400);
  });
  it("requires Host in HTTP/1.1 (not in HTTP/1.0), and one only", () => {
    expect(refusal(head("GET / HTTP/1.1", "Accept: */*"))).toBe(400);
    expect(refusal("GET / HTTP/1.1")).toBe(400);
    expect(refusal("GET / HTTP/1.0")).toBe(0);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "Host: b"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "host: a"))).toBe(400);
  });
  it("refuses a second Authorization (or Content-Type)", () => {
    expect(refusal(head("GET / HTTP/1.1", "Host: a", "Authorization: Bearer x", "Authorization: Bearer y"))).toBe(400);
    expect(refusal(head("POST / HTTP/1.1", "Host: a", "Content-Type: application/json", "Content-Type: text/plain"))).toBe(400);
  });
  it("answers 505 to versions other than HTTP/1.0 and HTTP/1.1", () => {
    for (const v of ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1", "HTTP/1.10", "HTTP/1"]) {
      expect(refusal(head(`GET / ${v}`, "Host: a")), v).toBe(505);
    }
  });
  it("refuses every request target but origin-form, and malformed request lines", () => {
    expect(refusal(head("GET http://a/ HTTP/1.1", "Host: a"))).toBe(400);
    expect(refusal(head("CONNECT a:443 HTTP/1.1", "Host: a:443"))).toBe(400);
    expect(refusal(head("OPTIONS * HTTP/1.1", "Host: a"))).toBe(400);
    expect(refusal(head("GET /a b HTTP/1.1", "Host: a"))).toBe(400);
    expect(refusal(head("GET  / HTTP/1.1", "Host: a"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1 ", "Host: a"))).toBe(400);
    expect(refusal(head("G(T / HTTP/1.1", "Host: a"))).toBe(400);
    expect(refusal(head("GET /\x7f HTTP/1.1", "Host: a"))).toBe(400);
    expect(refusal(head("GET / HTTP/1.1", "Host: a", ...Array.from({ length: 100 }, (_, i) => `X-${i}: v`)))).toBe(431);
  });
});

describe("parseHead: what is accepted", () => {
  it("reads method, target, version, lower-case names and trimmed values", () => {
    const h = parseHead(head("POST /v1/chat?x=1 HTTP/1.1", "HOST: api", "Content-Length: 0", "X-Thing: \t spaced out \t"), "request");
    expect(h).toMatchObject({ method: "POST", target: "/v1/chat?x=1", minor: 1, status: 0, contentLength: 0, chunked: false, close: false });
    expect({ ...h.headers }).toEqual({ host: "api", "content-length": "0", "x-thing": "spaced out" });
  });
  it("closes after an HTTP/1.0 message unless it says keep-alive; HTTP/1.1 only on close", () => {
    expect(parseHead("GET / HTTP/1.0", "request")).toMatchObject({ minor: 0, close: true, contentLength: -1 });
    expect(parseHead(head("GET / HTTP/1.0", "Connection: keep-alive"), "request").close).toBe(false);
    expect(parseHead(head("GET / HTTP/1.0", "Connection: Upgrade, Keep-Alive"), "request").close).toBe(false);
    expect(parseHead(head("GET / HTTP/1.0", "Connection: keep-alives"), "request").close).toBe(true);
    expect(parseHead(head("GET / HTTP/1.1", "Host: a"), "request").close).toBe(false);
    expect(parseHead(head("GET / HTTP/1.1", "Host: a", "Connection: keep-alive, Close"), "request").close).toBe(true);
    expect(parseHead(head("GET / HTTP/1.1", "Host: a", "Connection: closed"), "request").close).toBe(false);
    expect(parseHead(head("HTTP/1.0 200 OK", "Content-Length: 1"), "response").close).toBe(true);
  });
  it("joins repeated list headers with a comma", () => {
    const h = parseHead(head("GET / HTTP/1.1", "Host: a", "Accept: a/b", "X-List: 1", "accept: c/d", "X-List: 2", "X-List: 3"), "request");
    expect(h.headers.accept).toBe("a/b, c/d");
    expect(h.headers["x-list"]).toBe("1, 2, 3");
  });
  it("reads status lines, with or without a reason, and refuses malformed ones with 502", () => {
    expect(parseHead(head("HTTP/1.1 204 No Content", "X: y"), "response")).toMatchObject({ status: 204, minor: 1, method: "", target: "" });
    expect(parseHead("HTTP/1.0 503", "response")).toMatchObject({ status: 503, minor: 0 });
    expect(parseHead("HTTP/1.1 200 ", "response").status).toBe(200);
    for (const line of ["HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/1.1 200OK", "HTTP/2 200 OK", "HTTP/1.1 099 X", "ICY 200 OK", "HTTP/1.1  200 OK"]) {
      expect(refusal(line, "response"), line).toBe(502);
    }
    expect(refusal(head("HTTP/1.1 200 OK", "Content-Length: 1", "Transfer-Encoding: chunked"), "response")).toBe(400);
    expect(refusal(head("HTTP/1.1 200 OK", "Transfer-Encoding: gzip"), "response")).toBe(502);
  });
});

// -- the chunked decoder -----------------------------------------------------------------------

/** Decodes `parts` in turn; what is left after the end is returned too. */
function decode(parts: Buffer[]): { body: string; done: boolean; rest: string } {
  const out: Buffer[] = [];
  const d = new ChunkedDecoder((c) => out.push(Buffer.from(c)));
  let rest = "";
  for (const p of parts) {
    const used = d.push(p);
    if (d.done) rest += p.toString("latin1", used);
    else expect(used).toBe(p.length);
  }
  return { body: Buffer.concat(out).toString("latin1"), done: d.done, rest };
}

const ENCODED = "4;ext=1\r\nWiki\r\n6 \r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n";
const DECODED = "Wikipedia in \r\n\r\nchunks.";

describe("ChunkedDecoder", () => {
  it("gives the same body wherever the input is split", () => {
    const all = Buffer.from(ENCODED + "NEXT", "latin1");
    expect(decode([all])).toEqual({ body: DECODED, done: true, rest: "NEXT" });
    for (let i = 0; i <= all.length; i++) {
      expect(decode([all.subarray(0, i), all.subarray(i)]), `split at ${i}`).toEqual({ body: DECODED, done: true, rest: "NEXT" });
    }
    const bytes = Array.from({ length: all.length }, (_, i) => all.subarray(i, i + 1));
    expect(decode(bytes)).toEqual({ body: DECODED, done: true, rest: "NEXT" });
  });
  it("accepts chunk extensions and ignores trailers", () => {
    expect(decode([Buffer.from('5;name=value;flag;q="a b"\r\nhello\r\n1 ;x\r\n!\r\n0;last\r\n\r\n')])).toEqual({ body: "hello!", done: true, rest: "" });
    expect(decode([Buffer.from("3\r\nabc\r\n0\r\nDigest: x\r\nX-Y: z\r\n\r\n")])).toEqual({ body: "abc", done: true, rest: "" });
    expect(decode([Buffer.from("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n")]).body).toBe("0123456789abcdefghij");
  });
  it("is not done before the blank line after the last chunk", () => {
    expect(decode([Buffer.from("3\r\nabc\r\n0\r\n")])).toEqual({ body: "abc", done: false, rest: "" });
    expect(decode([Buffer.from("3\r\nabc\r\n0\r\nX: y\r\n")]).done).toBe(false);
  });
  it("leaves the bytes after the last chunk (the next message) unconsumed", () => {
    const d = new ChunkedDecoder(() => undefined);
    const buf = Buffer.from("XX0\r\n\r\nGET / HTTP/1.1\r\n");
    expect(d.push(buf, 2)).toBe(7);
    expect(d.done).toBe(true);
    // Once done, nothing more is consumed.
    expect(d.push(Buffer.from("more"))).toBe(0);
  });
  it("refuses malformed sizes, bare LF and data longer than its size", () => {
    const bad = (s: string) => {
      try {
        decode([Buffer.from(s, "latin1")]);
        return 0;
      } catch (err) {
        return err instanceof HttpError ? err.status : -1;
      }
    };
    for (const s of ["x\r\n", "-1\r\n", "\r\n", "0x5\r\nhello\r\n", " 5\r\nhello\r\n", "5\nhello\r\n", "5\r\r\nhello\r\n", "+5\r\nhello\r\n", "1234567890abc\r\n"]) {
      expect(bad(s), JSON.stringify(s)).toBe(400);
    }
    expect(bad("5\r\nhelloX\r\n0\r\n\r\n")).toBe(400);
    expect(bad("5\r\nhello\n0\r\n\r\n")).toBe(400);
    expect(bad("5\r\nhello0\r\n\r\n")).toBe(400);
    expect(bad("0\r\nno colon\r\n\r\n")).toBe(400);
    expect(bad("0\r\nX: y\n\r\n")).toBe(400);
    expect(bad(`1;${"e".repeat(5000)}\r\nx\r\n0\r\n\r\n`)).toBe(400);
    expect(bad(`0\r\n${"X: yyyyyyyy\r\n".repeat(2000)}\r\n`)).toBe(431);
  });
  it("bounds chunk extensions over the whole body, not only per line (CVE-2024-22019)", () => {
    const line = `1;${"e".repeat(2000)}\r\nx\r\n`;
    // Eight lines of 2 KiB of extensions are within 16 KiB; nine are not.
    expect(decode([Buffer.from(line.repeat(8) + "0\r\n\r\n")]).body).toBe("x".repeat(8));
    expect(() => decode([Buffer.from(line.repeat(9) + "0\r\n\r\n")])).toThrow(HttpError);
  });
});

// -- the server ----------------------------------------------------------------------------------

const LIMITS: Http1Limits = { maxHeadBytes: 4096, headersTimeoutMs: 30_000, idleMs: 30_000 };

async function serve(handler: Http1Handler, limits: Http1Limits = LIMITS): Promise<number> {
  const server = closing(createServer((s) => new Connection(s as unknown as TLSSocket, handler, limits)));
  return listen(server);
}

interface Raw {
  socket: Socket;
  /** Everything received so far (latin1). */
  text(): string;
  /** Resolves with everything received once `pred` holds of it. */
  until(pred: (text: string) => boolean, ms?: number): Promise<string>;
  closed: Promise<void>;
  isClosed(): boolean;
}

/** A raw client connection to `port`. */
async function dial(port: number): Promise<Raw> {
  const socket = connect(port, "127.0.0.1");
  cleanups.push(() => socket.destroy());
  socket.on("error", () => undefined);
  let data = "";
  let ended = false;
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      ended = true;
      resolve();
    }),
  );
  socket.on("data", (c: Buffer) => (data += c.toString("latin1")));
  await once(socket, "connect");
  return {
    socket,
    text: () => data,
    async until(pred, ms = 2000) {
      const end = Date.now() + ms;
      while (!pred(data)) {
        if (ended) throw new Error(`the connection closed first; received ${JSON.stringify(data.slice(0, 400))}`);
        if (Date.now() > end) throw new Error(`timed out; received ${JSON.stringify(data.slice(0, 400))}`);
        await sleep(5);
      }
      return data;
    },
    closed,
    isClosed: () => ended,
  };
}

interface Parsed {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body bytes as sent (chunked framing included). */
  raw: string;
}

/** The complete responses at the start of `text` (1xx included); `bodiless` lists the indexes of
 * answers to HEAD. A chunked body is decoded here independently of ChunkedDecoder. */
function responses(text: string, bodiless: number[] = []): { list: Parsed[]; rest: string } {
  const list: Parsed[] = [];
  let at = 0;
  for (;;) {
    const end = text.indexOf("\r\n\r\n", at);
    if (end < 0) break;
    const lines = text.slice(at, end).split("\r\n");
    const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(lines[0]!);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const c = l.indexOf(":");
      const name = l.slice(0, c).toLowerCase();
      if (name in headers) throw new Error(`${name} twice`);
      headers[name] = l.slice(c + 1).trim();
    }
    const status = Number(m[1]);
    let p = end + 4;
    let body = "";
    if (status >= 200 && !bodiless.includes(list.filter((r) => r.status >= 200).length)) {
      if (headers["transfer-encoding"] === "chunked") {
        let complete = false;
        for (;;) {
          const lf = text.indexOf("\r\n", p);
          if (lf < 0) break;
          const size = /^[0-9a-f]+$/.test(text.slice(p, lf)) ? parseInt(text.slice(p, lf), 16) : NaN;
          if (Number.isNaN(size)) throw new Error(`bad chunk size ${JSON.stringify(text.slice(p, lf))}`);
          if (size === 0) {
            if (text.length < lf + 4) break;
            if (text.slice(lf + 2, lf + 4) !== "\r\n") throw new Error("trailers or garbage after the last chunk");
            p = lf + 4;
            complete = true;
            break;
          }
          if (text.length < lf + 2 + size + 2) break;
          if (text.slice(lf + 2 + size, lf + 4 + size) !== "\r\n") throw new Error("no CRLF after chunk data");
          body += text.slice(lf + 2, lf + 2 + size);
          p = lf + 4 + size;
        }
        if (!complete) break;
      } else {
        const len = Number(headers["content-length"] ?? "0");
        if (text.length < p + len) break;
        body = text.slice(p, p + len);
        p += len;
      }
    }
    list.push({ status, headers, body, raw: text.slice(end + 4, p) });
    at = p;
  }
  return { list, rest: text.slice(at) };
}

/** Waits for `n` complete responses (1xx included) on `c`, and returns them. */
async function answers(c: Raw, n: number, bodiless: number[] = []): Promise<Parsed[]> {
  await c.until((t) => responses(t, bodiless).list.length >= n);
  return responses(c.text(), bodiless).list;
}

/** Echoes the request: method, target and body. */
const echo: Http1Handler = (req, res) => {
  req.body(1 << 20).then(
    (b) => res.send(200, { "x-method": req.method, "x-url": req.url }, b),
    () => res.send(400, {}, "bad body"),
  );
};

/** A server whose handler reads the body (at most `max` bytes) and answers "read"; a refusal is
 * kept in `errors` and answered as `refuse` says (null: not at all). */
async function bodyServer(max: number, refuse: (err: unknown) => [number, string] | null): Promise<{ port: number; errors: unknown[] }> {
  const errors: unknown[] = [];
  const port = await serve((req, res) => {
    req.body(max).then(
      () => res.send(200, {}, "read"),
      (err: unknown) => {
        errors.push(err);
        const answer = refuse(err);
        if (answer) res.send(answer[0], {}, answer[1]);
      },
    );
  });
  return { port, errors };
}

describe("Connection (the server)", () => {
  it("answers pipelined requests in order, one at a time", async () => {
    const seen: string[] = [];
    let busy = false;
    let overlapped = false;
    const port = await serve((req, res) => {
      seen.push(req.url);
      if (busy) overlapped = true;
      busy = true;
      // The first answer comes last in time; it must still come first on the wire.
      setTimeout(() => {
        busy = false;
        res.send(200, {}, `answer ${req.url}`);
      }, req.url === "/1" ? 60 : 1);
    });
    const c = await dial(port);
    c.socket.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    const list = await answers(c, 3);
    expect(list.map((r) => [r.status, r.body])).toEqual([
      [200, "answer /1"],
      [200, "answer /2"],
      [200, "answer /3"],
    ]);
    expect(seen).toEqual(["/1", "/2", "/3"]);
    expect(overlapped).toBe(false);
    expect(responses(c.text()).rest).toBe("");
    expect(c.isClosed()).toBe(false);
  });

  // Regression (found in review): each pipelined request answered synchronously by the handler recursed
  // (#next → handler → send → finished → #idle → #next); about 2000 of them (50 KB, well under
  // READ_AHEAD) queued behind a slow answer overflowed the stack, and the RangeError was uncaught.
  it("answers thousands of pipelined requests answered synchronously", async () => {
    let n = 0;
    const port = await serve((_req, res) => {
      if (n++ === 0) setTimeout(() => res.send(200, {}, "slow"), 100);
      else res.send(200, {}, "x");
    });
    const c = await dial(port);
    c.socket.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n".repeat(3001));
    const list = await within(answers(c, 3001), 5000, "3001 answers");
    expect(list.length).toBe(3001);
    expect(list[0]!.body).toBe("slow");
    expect(list.every((r) => r.status === 200)).toBe(true);
  });

  it("reads a Content-Length body that arrives in many writes", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    const body = "0123456789abcdefghijklmnopqrstuvwxyz";
    c.socket.write(`POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (let i = 0; i < body.length; i += 3) {
      await sleep(2);
      c.socket.write(body.slice(i, i + 3));
    }
    const [r] = await answers(c, 1);
    expect(r).toMatchObject({ status: 200, body });
    expect(r!.headers["x-url"]).toBe("/echo");
    expect(r!.headers["content-length"]).toBe(String(body.length));
  });

  it("reads a chunked body (extensions, trailers, split writes) and the request after it", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    const wire = `POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${ENCODED}GET /after HTTP/1.1\r\nHost: a\r\n\r\n`;
    for (let i = 0; i < wire.length; i += 11) {
      c.socket.write(wire.slice(i, i + 11));
      await sleep(1);
    }
    const list = await answers(c, 2);
    expect(list.map((r) => [r.status, r.headers["x-url"], r.body])).toEqual([
      [200, "/c", DECODED],
      [200, "/after", ""],
    ]);
  });

  it("sends 100 Continue only when the body is asked for, then reads it", async () => {
    let asked: () => void = () => undefined;
    const port = await serve((req, res) => {
      asked = () => echo(req, res);
    });
    const c = await dial(port);
    c.socket.write("POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    await sleep(50);
    expect(c.text()).toBe("");
    asked();
    await c.until((t) => t.length >= 25);
    expect(c.text()).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    c.socket.write("hello");
    const list = await answers(c, 2);
    expect(list.map((r) => [r.status, r.body])).toEqual([
      [100, ""],
      [200, "hello"],
    ]);
  });

  it("answers 417 to an expectation other than 100-continue", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx");
    const [r] = await answers(c, 1);
    expect(r!.status).toBe(417);
    await within(c.closed, 2000, "the close");
  });

  // Regression (found in review): an HTTP/1.0 client does not know 100 Continue, and the server must
  // ignore Expect in an HTTP/1.0 request (RFC 9110 §10.1.1); the server answered "HTTP/1.1 100 Continue"
  // to it.
  it("ignores Expect: 100-continue in an HTTP/1.0 request", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    c.socket.write("POST /old HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    await within(c.closed, 2000, "the close");
    const list = responses(c.text()).list;
    expect(list.map((r) => [r.status, r.body])).toEqual([[200, "hi"]]);
  });

  it("answers a malformed request with 400 and connection: close, then closes", async () => {
    let called = 0;
    const port = await serve((req, res) => {
      called++;
      echo(req, res);
    });
    const c = await dial(port);
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
    await within(c.closed, 2000, "the close");
    const { list, rest } = responses(c.text());
    expect(list.length).toBe(1);
    expect(list[0]!.status).toBe(400);
    expect(list[0]!.headers.connection).toBe("close");
    expect(JSON.parse(list[0]!.body)).toMatchObject({ error: { code: "bad_http" } });
    expect(rest).toBe("");
    expect(called).toBe(0);
  });

  it("answers a version it does not serve with 505", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    c.socket.write("GET / HTTP/2.0\r\nHost: a\r\n\r\n");
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => r.status)).toEqual([505]);
  });

  it("answers 431 to a head larger than maxHeadBytes, complete or not", async () => {
    const port = await serve(echo, { ...LIMITS, maxHeadBytes: 1024 });
    const big = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(1100)}\r\n`;
    const c = await dial(port);
    c.socket.write(`${big}\r\n`);
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => [r.status, r.headers.connection])).toEqual([[431, "close"]]);
    // Never finished: refused as soon as it is too large.
    const d = await dial(port);
    d.socket.write(big);
    await within(d.closed, 2000, "the close");
    expect(responses(d.text()).list.map((r) => r.status)).toEqual([431]);
    // Just under the limit is served.
    const e = await dial(port);
    e.socket.write(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"b".repeat(900)}\r\n\r\n`);
    expect((await answers(e, 1))[0]!.status).toBe(200);
  });

  it("ignores blank lines before a request line", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    c.socket.write("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    const [r] = await answers(c, 1);
    expect([r!.status, r!.headers["x-url"]]).toEqual([200, "/x"]);
  });

  // Regression (found in review): the blank lines skipped before a request line were not counted against
  // maxHeadBytes (the check was on buf.length - start) and stayed in the buffer, so a client sending CRLF
  // forever grew the connection's buffer (Buffer.concat on every read, quadratic) until the headers
  // timeout; nothing was answered.
  it("bounds the blank lines before a request line", async () => {
    const port = await serve(echo, { ...LIMITS, maxHeadBytes: 1024 });
    const c = await dial(port);
    for (let i = 0; i < 8; i++) c.socket.write("\r\n".repeat(512));
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => r.status)).toEqual([431]);
  });

  it("answers 408 when a head does not arrive within headersTimeoutMs", async () => {
    const port = await serve(echo, { ...LIMITS, headersTimeoutMs: 100 });
    const c = await dial(port);
    c.socket.write("GET / HTTP/1.1\r\nHost: a\r\n");
    // The sweep runs once a second.
    await within(c.closed, 3000, "the close");
    expect(responses(c.text()).list.map((r) => [r.status, r.headers.connection])).toEqual([[408, "close"]]);
  });

  it("refuses a Content-Length body over the limit before reading it: 413, then close", async () => {
    const { port, errors } = await bodyServer(10, (err) => [err instanceof BodyTooLarge ? 413 : 400, "too large"]);
    const c = await dial(port);
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
    await within(c.closed, 2000, "the close");
    const { list, rest } = responses(c.text());
    // No 100 Continue: the client need not send what will not be read.
    expect(list.map((r) => [r.status, r.headers.connection, r.body])).toEqual([[413, "close", "too large"]]);
    expect(rest).toBe("");
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(BodyTooLarge);
  });

  it("refuses a chunked body once it passes the limit: 413, then close", async () => {
    const { port, errors } = await bodyServer(10, () => [413, "too large"]);
    const c = await dial(port);
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nghijkl\r\n");
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => [r.status, r.headers.connection])).toEqual([[413, "close"]]);
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(BodyTooLarge);
  });

  it("rejects body() with HttpError on bad chunked framing, and closes after the answer", async () => {
    const { port, errors } = await bodyServer(1000, (err) => [err instanceof HttpError ? err.status : 500, "bad framing"]);
    const c = await dial(port);
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => [r.status, r.headers.connection])).toEqual([[400, "close"]]);
    expect(errors[0]).toBeInstanceOf(HttpError);
  });

  it("rejects body() with ClientGone when the client leaves mid-body", async () => {
    const { port, errors } = await bodyServer(1000, () => null);
    const c = await dial(port);
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
    await sleep(20);
    c.socket.destroy();
    await waitFor(() => errors.length > 0, 2000, "the rejection");
    expect(errors[0]).toBeInstanceOf(ClientGone);
  });

  it("keeps the connection after an early answer to a small body, and serves the next request", async () => {
    const port = await serve((req, res) => {
      if (req.method === "POST") res.send(401, {}, "no"); // the body is never read
      else res.send(200, {}, `got ${req.url}`);
    });
    const c = await dial(port);
    // The body is all there with the head.
    c.socket.write("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nGET /evil");
    const [first] = await answers(c, 1);
    expect(first!.status).toBe(401);
    expect(first!.headers.connection).toBeUndefined();
    c.socket.write("GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    // The body comes after the answer.
    c.socket.write("POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n");
    await answers(c, 3);
    c.socket.write("12345GET /d HTTP/1.1\r\nHost: a\r\n\r\n");
    const list = await answers(c, 4);
    expect(list.map((r) => [r.status, r.body])).toEqual([
      [401, "no"],
      [200, "got /b"],
      [401, "no"],
      [200, "got /d"],
    ]);
    expect(responses(c.text()).rest).toBe("");
    expect(c.isClosed()).toBe(false);
  });

  it("closes after an early answer to a body larger than it discards (64 KiB)", async () => {
    const port = await serve((_req, res) => res.send(401, {}, "no"));
    const c = await dial(port);
    c.socket.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${64 * 1024 + 1}\r\n\r\n`);
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => r.status)).toEqual([401]);
  });

  // Regression (found in review): when the server answers before reading the body and then closes (a
  // body over 64 KiB, a chunked body, or Expect: 100-continue never acknowledged), the answer did not
  // say "connection: close": #head() looked at conn.closing, which finished() only decided afterwards. A
  // keep-alive client then put the connection back in its pool and could send the next request into a
  // connection being closed (RFC 9110 §10.1.1: SHOULD indicate that it closes).
  it("says connection: close in an early answer after which it closes", async () => {
    const port = await serve((_req, res) => res.send(401, {}, "no"));
    for (const wire of [
      `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${64 * 1024 + 1}\r\n\r\n`,
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    ]) {
      const c = await dial(port);
      c.socket.write(wire);
      await within(c.closed, 2000, "the close");
      expect(responses(c.text()).list.map((r) => [r.status, r.headers.connection]), wire).toEqual([[401, "close"]]);
    }
  });

  it("closes after answering an HTTP/1.0 request or Connection: close", async () => {
    const port = await serve(echo);
    const c = await dial(port);
    c.socket.write("GET /old HTTP/1.0\r\n\r\n");
    await within(c.closed, 2000, "the close");
    expect(responses(c.text()).list.map((r) => [r.status, r.headers.connection])).toEqual([[200, "close"]]);
    const d = await dial(port);
    d.socket.write("GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    await within(d.closed, 2000, "the close");
    expect(responses(d.text()).list.map((r) => [r.status, r.headers["x-url"]])).toEqual([[200, "/1"]]);
    // HTTP/1.0 with keep-alive stays open.
    const e = await dial(port);
    e.socket.write("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /k2 HTTP/1.0\r\n\r\n");
    await within(e.closed, 2000, "the close");
    expect(responses(e.text()).list.map((r) => r.headers["x-url"])).toEqual(["/k", "/k2"]);
  });

  it("answers HEAD with the content-length but no body", async () => {
    const port = await serve((req, res) => res.send(200, { "content-type": "text/plain" }, `hello ${req.method}`));
    const c = await dial(port);
    c.socket.write("HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n\r\n");
    const list = await answers(c, 2, [0]);
    expect(list.map((r) => [r.status, r.headers["content-length"], r.body])).toEqual([
      [200, "10", ""],
      [200, "9", "hello GET"],
    ]);
    expect(responses(c.text(), [0]).rest).toBe("");
  });

  // Regression (found in review): Http1Response.write() and end() ignored `bodiless`: a streamed answer
  // to HEAD sent its chunks, which the client read as the start of the next response (the proxy
  // itself streams only POST answers today).
  it("answers HEAD with a streamed answer's head only", async () => {
    const port = await serve((req, res) => {
      if (req.method === "HEAD") {
        res.start(200, { "content-type": "text/event-stream" });
        res.write("data: x\n\n");
        res.end();
      } else res.send(200, {}, "next");
    });
    const c = await dial(port);
    c.socket.write("HEAD /s HTTP/1.1\r\nHost: a\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\n\r\n");
    const list = await answers(c, 2, [0]);
    expect(list.map((r) => [r.status, r.body])).toEqual([
      [200, ""],
      [200, "next"],
    ]);
    expect(responses(c.text(), [0]).rest).toBe("");
  });

  it("streams a response as valid chunked encoding, and keeps the connection", async () => {
    const port = await serve((req, res) => {
      if (req.url !== "/stream") return res.send(200, {}, "after");
      res.setHeader("x-extra", "bad\r\nvalue");
      res.start(200, { "content-type": "text/event-stream" });
      expect(res.write("hello")).toBe(true);
      res.write("");
      res.write(Buffer.from(" wörld"));
      setTimeout(() => {
        res.write("x".repeat(300));
        res.end();
        res.end();
        expect(res.write("late")).toBe(false);
      }, 10);
    });
    const c = await dial(port);
    c.socket.write("GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    const [r] = await answers(c, 1);
    expect(r!.headers["transfer-encoding"]).toBe("chunked");
    expect(r!.headers["content-length"]).toBeUndefined();
    expect(r!.headers["x-extra"]).toBe("bad%0D%0Avalue");
    expect(r!.raw).toBe(`5\r\nhello\r\n7\r\n${Buffer.from(" wörld").toString("latin1")}\r\n12c\r\n${"x".repeat(300)}\r\n0\r\n\r\n`);
    c.socket.write("GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    const list = await answers(c, 2);
    expect(list[1]!.body).toBe("after");
    expect(responses(c.text()).rest).toBe("");
  });

  it("calls onClose when the client goes away mid-stream", async () => {
    let response: Http1Response | null = null;
    let closes = 0;
    const port = await serve((_req, res) => {
      response = res;
      res.onClose = () => closes++;
      res.start(200, {});
      res.write("first");
    });
    const c = await dial(port);
    c.socket.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.until((t) => t.includes("5\r\nfirst\r\n"));
    c.socket.destroy();
    await waitFor(() => closes > 0, 2000, "onClose");
    const res = response as unknown as Http1Response;
    expect(res.closed).toBe(true);
    expect(res.write("more")).toBe(false);
    await within(res.drain(), 100, "drain after close");
    await sleep(20);
    expect(closes).toBe(1);
  });

  it("does not call onClose after the response ended, and destroy() cuts a stream off", async () => {
    let closes = 0;
    const port = await serve((req, res) => {
      res.onClose = () => closes++;
      res.start(200, {});
      res.write("part");
      if (req.url === "/cut") res.destroy();
      else res.end();
    });
    const c = await dial(port);
    c.socket.write("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    await answers(c, 1);
    c.socket.destroy();
    const d = await dial(port);
    d.socket.write("GET /cut HTTP/1.1\r\nHost: a\r\n\r\n");
    await within(d.closed, 2000, "the close");
    expect(responses(d.text()).list.length).toBe(0);
    expect(d.text().endsWith("4\r\npart\r\n")).toBe(true);
    await waitFor(() => closes === 1, 2000, "onClose of the cut stream");
    await sleep(20);
    expect(closes).toBe(1);
  });
});

// -- the client ----------------------------------------------------------------------------------

interface Upstream {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Requests read so far (head and body, latin1). */
  requests: string[];
}

type Responder = (socket: Socket, request: string, index: number) => void;

/** A raw upstream that reads whole requests (Content-Length bodies) and lets `respond` answer. */
async function upstream(respond: Responder): Promise<Upstream> {
  const up: Upstream = { port: 0, accepted: 0, requests: [] };
  const server = closing(
    createServer((s) => {
      up.accepted++;
      let buf = "";
      s.on("data", (c: Buffer) => {
        buf += c.toString("latin1");
        for (;;) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          const m = /\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end));
          const total = end + 4 + (m ? Number(m[1]) : 0);
          if (buf.length < total) return;
          const req = buf.slice(0, total);
          buf = buf.slice(total);
          up.requests.push(req);
          respond(s, req, up.requests.length - 1);
        }
      });
    }),
  );
  up.port = await listen(server);
  return up;
}

function client(port: number, opts: Partial<ClientOptions> = {}): Http1Client {
  const c = new Http1Client(`http://127.0.0.1:${port}`, { connections: 4, connectTimeoutMs: 1000, headersTimeoutMs: 5000, ...opts });
  cleanups.push(() => c.close());
  return c;
}

const get = (path: string): UpstreamRequest => ({ method: "GET", path, headers: "accept: */*\r\n", body: null });

/** The failure an exchange rejects with. */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await within(p, 3000, "the failure");
  } catch (err) {
    if (err instanceof UpstreamError) return err.failure;
    throw err;
  }
  throw new Error("resolved instead of failing");
}

const ok = (body: string, extra = "") => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body, "latin1")}\r\n${extra}\r\n${body}`;

describe("Http1Client", () => {
  it("reuses one keep-alive connection for sequential requests", async () => {
    const up = await upstream((s, req, i) => s.write(ok(`answer ${i} ${req.split(" ")[1]}`)));
    const c = client(up.port);
    for (let i = 0; i < 3; i++) {
      const r = await within(c.request(get(`/r${i}`)));
      expect(r.status).toBe(200);
      expect((await within(r.readAll(1000))).toString()).toBe(`answer ${i} /r${i}`);
    }
    const post = await within(c.request({ method: "POST", path: "/p", headers: "content-type: application/json\r\n", body: Buffer.from("{}") }));
    expect((await within(post.readAll(1000))).toString()).toBe("answer 3 /p");
    expect(up.accepted).toBe(1);
    expect(up.requests[0]).toBe(`GET /r0 HTTP/1.1\r\nhost: 127.0.0.1:${up.port}\r\naccept: */*\r\n\r\n`);
    expect(up.requests[3]).toBe(`POST /p HTTP/1.1\r\nhost: 127.0.0.1:${up.port}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`);
  });

  it("queues requests past the connection cap and answers them all on one connection", async () => {
    let inFlight = 0;
    let most = 0;
    const up = await upstream((s, req) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        s.write(ok(`for ${req.split(" ")[1]}`));
      }, 40);
    });
    const c = client(up.port, { connections: 1 });
    const replies = await within(Promise.all(["/a", "/b", "/c"].map((p) => c.request(get(p)).then((r) => r.readAll(100)))));
    expect(replies.map((b) => b.toString())).toEqual(["for /a", "for /b", "for /c"]);
    expect(up.accepted).toBe(1);
    expect(most).toBe(1);
  });

  it("reads a chunked response and reuses the connection after it", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 1) return void s.write(ok("second"));
      s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: text/plain\r\n\r\n5\r\nhel");
      setTimeout(() => s.write("lo\r\n6;x=y\r\n world\r\n"), 10);
      setTimeout(() => s.write("0\r\ntrailer: z\r\n\r\n"), 20);
    });
    const c = client(up.port);
    const r = await within(c.request(get("/chunked")));
    expect(r.headers["content-type"]).toBe("text/plain");
    const seen: string[] = [];
    await within(
      new Promise<void>((resolve, reject) =>
        r.stream({
          data: (b) => seen.push(b.toString()),
          end: resolve,
          error: reject,
        }),
      ),
    );
    expect(seen.join("")).toBe("hello world");
    expect(seen.length).toBeGreaterThan(1);
    const again = await within(c.request(get("/again")));
    expect((await within(again.readAll(100))).toString()).toBe("second");
    expect(up.accepted).toBe(1);
  });

  it("reads a response delimited by the close, and does not reuse that connection", async () => {
    const up = await upstream((s, _req, i) => {
      s.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nfirst part, ");
      setTimeout(() => s.end(`last part ${i}`), 10);
    });
    const c = client(up.port);
    const r = await within(c.request(get("/close")));
    expect((await within(r.readAll(1000))).toString()).toBe("first part, last part 0");
    const r2 = await within(c.request(get("/close")));
    expect((await within(r2.readAll(1000))).toString()).toBe("first part, last part 1");
    expect(up.accepted).toBe(2);
  });

  it("does not reuse a connection whose answer said close, had bytes too many, or a short keep-alive", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 0) s.write(ok("closing", "connection: close\r\n"));
      else if (i === 1) s.write(ok("extra") + "HTTP/1.1 200 OK\r\n");
      else if (i === 2) s.write(ok("short", "keep-alive: timeout=1\r\n"));
      else s.write(ok("last"));
    });
    const c = client(up.port);
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await within((await within(c.request(get("/")))).readAll(100))).toString());
    expect(bodies).toEqual(["closing", "extra", "short", "last"]);
    expect(up.accepted).toBe(4);
  });

  it("opens a new connection when the upstream closed an idle one", async () => {
    let first: Socket | null = null;
    const up = await upstream((s, _req, i) => {
      first ??= s;
      s.write(ok(`answer ${i}`));
    });
    const c = client(up.port);
    expect((await within((await within(c.request(get("/")))).readAll(100))).toString()).toBe("answer 0");
    const s = first as unknown as Socket;
    s.end();
    await within(once(s, "close"), 2000, "the upstream's close");
    await sleep(30);
    expect((await within((await within(c.request(get("/")))).readAll(100))).toString()).toBe("answer 1");
    expect(up.accepted).toBe(2);
  });

  it("skips 1xx interim responses, in the same write or not", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 0) s.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + "HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx");
      else {
        s.write("HTTP/1.1 100 Continue\r\n\r\n");
        setTimeout(() => s.write("HTTP/1.1 202 Accepted\r\ncontent-length: 1\r\n\r\ny"), 20);
      }
    });
    const c = client(up.port);
    const a = await within(c.request(get("/")));
    expect([a.status, a.headers.link, (await within(a.readAll(10))).toString()]).toEqual([201, undefined, "x"]);
    const b = await within(c.request(get("/")));
    expect([b.status, (await within(b.readAll(10))).toString()]).toEqual([202, "y"]);
    expect(up.accepted).toBe(1);
  });

  it("knows HEAD, 204 and 304 answers have no body", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 0) s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
      else if (i === 1) s.write("HTTP/1.1 204 No Content\r\n\r\n");
      else if (i === 2) s.write("HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n");
      else s.write(ok("body"));
    });
    const c = client(up.port);
    const bodies: Array<[number, string]> = [];
    for (const method of ["HEAD", "GET", "GET", "GET"]) {
      const r = await within(c.request({ method, path: "/", headers: "", body: null }));
      bodies.push([r.status, (await within(r.readAll(100))).toString()]);
    }
    expect(bodies).toEqual([
      [200, ""],
      [204, ""],
      [304, ""],
      [200, "body"],
    ]);
    expect(up.accepted).toBe(1);
  });

  it("fails with connect when nothing listens", async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise<void>((r) => server.close(() => r()));
    const c = client(port);
    expect(await failure(c.request(get("/")))).toBe("connect");
  });

  it("fails with reset when the upstream closes before answering, or mid-body", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 0) s.destroy();
      else s.end("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
    });
    const c = client(up.port);
    expect(await failure(c.request(get("/")))).toBe("reset");
    const r = await within(c.request(get("/")));
    expect(r.status).toBe(200);
    expect(await failure(r.readAll(100))).toBe("reset");
  });

  it("fails with headers_timeout when the head does not come in time", async () => {
    const up = await upstream(() => undefined);
    const c = client(up.port, { headersTimeoutMs: 100 });
    const started = Date.now();
    expect(await failure(c.request(get("/slow")))).toBe("headers_timeout");
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(95);
    expect(took).toBeLessThan(1000);
    expect(up.requests.length).toBe(1);
  });

  it("fails readAll with bad_response past max, and drops that connection", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 0) s.write(ok("0123456789"));
      else if (i === 1) {
        s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nabcdef\r\n");
        setTimeout(() => s.write("6\r\nghijkl\r\n0\r\n\r\n"), 10);
      } else s.write(ok("fine"));
    });
    const c = client(up.port);
    expect(await failure((await within(c.request(get("/")))).readAll(9))).toBe("bad_response");
    expect(await failure((await within(c.request(get("/")))).readAll(10))).toBe("bad_response");
    expect((await within((await within(c.request(get("/")))).readAll(4))).toString()).toBe("fine");
    // The first answer had all arrived (its connection was in step and kept); the second was cut
    // off mid-body, so the third needed a new connection.
    expect(up.accepted).toBe(2);
  });

  it("fails with bad_response on a malformed answer", async () => {
    const bad = [
      "HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n",
      "HTTP/1.1 200OK\r\ncontent-length: 0\r\n\r\n",
      "HTTP/2 200 OK\r\ncontent-length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\ncontent-length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      `HTTP/1.1 200 OK\r\nx: ${"a".repeat(70 * 1024)}`,
    ];
    const up = await upstream((s, _req, i) => s.write(bad[i] ?? ok("good")));
    const c = client(up.port);
    for (let i = 0; i < bad.length; i++) expect(await failure(c.request(get("/"))), JSON.stringify(bad[i]!.slice(0, 40))).toBe("bad_response");
    // Bad chunked framing after the head: the reply fails.
    const up2 = await upstream((s) => s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"));
    const r = await within(client(up2.port).request(get("/")));
    expect(await failure(r.readAll(100))).toBe("bad_response");
    expect((await within((await within(c.request(get("/")))).readAll(100))).toString()).toBe("good");
  });

  it("cancels an exchange waiting for its head", async () => {
    const closed: Array<Promise<unknown>> = [];
    const up = await upstream((s) => closed.push(once(s, "close")));
    const c = client(up.port);
    const cancellation: Cancellation = { cancelled: false, hook: null };
    const p = c.request(get("/"), cancellation);
    await waitFor(() => up.requests.length === 1, 2000, "the request");
    cancellation.cancelled = true;
    cancellation.hook!();
    expect(await failure(p)).toBe("cancelled");
    // The upstream sees the connection go.
    await within(closed[0]!, 2000, "the upstream's close");
  });

  it("cancels an exchange still queued: it never reaches the upstream", async () => {
    let hold: Socket | null = null;
    const up = await upstream((s, _req, i) => {
      if (i === 0) hold = s;
      else s.write(ok(`answer ${i}`));
    });
    const c = client(up.port, { connections: 1 });
    const first = c.request(get("/first"));
    await waitFor(() => up.requests.length === 1, 2000, "the first request");
    const cancellation: Cancellation = { cancelled: false, hook: null };
    const queued = c.request(get("/queued"), cancellation);
    cancellation.cancelled = true;
    cancellation.hook!();
    expect(await failure(queued)).toBe("cancelled");
    const third = c.request(get("/third"));
    (hold as unknown as Socket).write(ok("answer 0"));
    expect((await within((await within(first)).readAll(100))).toString()).toBe("answer 0");
    expect((await within((await within(third)).readAll(100))).toString()).toBe("answer 1");
    expect(up.requests.map((r) => r.split(" ")[1])).toEqual(["/first", "/third"]);
    expect(up.accepted).toBe(1);
  });

  it("ends a body being streamed when the exchange is cancelled", async () => {
    const up = await upstream((s) => s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"));
    const c = client(up.port);
    const cancellation: Cancellation = { cancelled: false, hook: null };
    const r = await within(c.request(get("/"), cancellation));
    const seen: string[] = [];
    const ended = new Promise<Error>((resolve) => r.stream({ data: (b) => seen.push(b.toString()), end: () => resolve(new Error("ended as complete")), error: resolve }));
    await waitFor(() => seen.length > 0, 2000, "the first chunk");
    cancellation.cancelled = true;
    cancellation.hook!();
    const err = await within(ended, 2000, "the end of the stream");
    expect(err).toBeInstanceOf(UpstreamError);
    expect(seen).toEqual(["abc"]);
  });

  it("holds the body back while paused, and delivers it on resume", async () => {
    let sock: Socket | null = null;
    const up = await upstream((s) => {
      sock = s;
      s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n");
    });
    const c = client(up.port);
    const r = await within(c.request(get("/")));
    const seen: string[] = [];
    let ended = false;
    r.stream({
      data: (b) => {
        seen.push(b.toString());
        if (seen.length === 1) r.pause();
      },
      end: () => (ended = true),
      error: () => undefined,
    });
    await waitFor(() => seen.length === 1, 2000, "the first chunk");
    (sock as unknown as Socket).write("1\r\nb\r\n0\r\n\r\n");
    await sleep(60);
    expect(seen).toEqual(["a"]);
    expect(ended).toBe(false);
    r.resume();
    await waitFor(() => ended, 2000, "the end");
    expect(seen.join("")).toBe("ab");
  });

  // Regression (found in review): a reply paused from its sink while its last bytes were delivered
  // (res.write() returned false on the SSE chunk that arrived with the terminating 0-chunk) completed
  // anyway, and its connection went back to the pool paused; when the caller never resumes (server.ts
  // #stream does not resume once the client has gone), the next request on that connection was sent but
  // its answer was never read: it failed with headers_timeout (300 s by default).
  it("answers the next request on a connection whose last reply was left paused", async () => {
    const up = await upstream((s, _req, i) => {
      if (i === 0) s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nlast\r\n0\r\n\r\n");
      else s.write(ok("next"));
    });
    const c = client(up.port);
    const r = await within(c.request(get("/sse")));
    let ended = false;
    r.stream({
      data: () => r.pause(), // backpressure; the caller's client then goes away, no resume()
      end: () => (ended = true),
      error: () => undefined,
    });
    await waitFor(() => ended, 2000, "the end of the first reply");
    const next = await within(c.request(get("/next")), 2000, "the second answer's head");
    expect((await within(next.readAll(100))).toString()).toBe("next");
  });

  it("refuses requests once closed", async () => {
    const up = await upstream((s) => s.write(ok("x")));
    const c = client(up.port);
    c.close();
    expect(await failure(c.request(get("/")))).toBe("connect");
    expect(up.accepted).toBe(0);
  });
});
