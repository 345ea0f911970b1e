// HTTP/1.1 message framing (RFC 9112), shared by the proxy's own server and its upstream client.
// The proxy speaks HTTP/1.1 itself instead of through node:https and undici: a bare forwarder built
// on them cost 65-75 µs of CPU per request here, one built on this 44-52 µs (README, "Inference
// proxy figures").
// The parser is strict where leniency lets two parties read one message differently (request
// smuggling, RFC 9112 §11.2): CRLF line ends only, no whitespace before a colon, no obs-fold, no
// control characters, one Content-Length (digits only), Transfer-Encoding only "chunked" and never
// with Content-Length, one Host. Anything else is an error with the status to answer.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Head {
  /** Requests: the method and the request target; responses: "". */
  method: string;
  target: string;
  /** Responses: the status code; requests: 0. */
  status: number;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Lower-case names; repeated list headers joined with ", ". */
  headers: Record<string, string>;
  /** -1: none given. */
  contentLength: number;
  chunked: boolean;
  /** The connection ends after this message (Connection: close, or HTTP/1.0 without keep-alive). */
  close: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, space, tab and obs-text; no CR, LF or NUL.
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^\/[\x21-\x7e]*$/;
const DIGITS = /^[0-9]{1,15}$/;
/** Headers of which a second copy makes a message ambiguous. */
const SINGLE = new Set(["host", "content-length", "content-type", "authorization", "transfer-encoding"]);
const MAX_HEADERS = 100;

/** Parses a message head (without the blank line ending it), latin1-decoded. */
export function parseHead(text: string, kind: "request" | "response"): Head {
  const lines = text.split("\r\n");
  const first = lines[0]!;
  if (lines.length - 1 > MAX_HEADERS) throw new HttpError(431, "too many header fields");
  let method = "";
  let target = "";
  let status = 0;
  let minor: number;
  if (kind === "request") {
    const a = first.indexOf(" ");
    const b = first.indexOf(" ", a + 1);
    if (a <= 0 || b < 0 || first.indexOf(" ", b + 1) >= 0) throw new HttpError(400, "malformed request line");
    method = first.slice(0, a);
    target = first.slice(a + 1, b);
    const version = first.slice(b + 1);
    if (!TOKEN.test(method)) throw new HttpError(400, "malformed method");
    if (version === "HTTP/1.1") minor = 1;
    else if (version === "HTTP/1.0") minor = 0;
    else throw new HttpError(505, "only HTTP/1.0 and HTTP/1.1 are served");
    if (!TARGET.test(target)) throw new HttpError(400, "the request target must be a path");
  } else {
    if (!/^HTTP\/1\.[01] [1-9][0-9]{2}(?: [\t\x20-\x7e\x80-\xff]*)?$/.test(first)) throw new HttpError(502, "malformed status line");
    minor = first.charCodeAt(7) - 48;
    status = Number(first.slice(9, 12));
  }
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  let contentLength = -1;
  let chunked = false;
  let connection = "";
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError(400, "malformed header field");
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) throw new HttpError(400, "malformed header field name");
    // Optional whitespace is SP and HTAB only (trim() would also drop CR, VT, FF and NBSP).
    let from = colon + 1;
    let to = line.length;
    while (from < to && (line.charCodeAt(from) === 32 || line.charCodeAt(from) === 9)) from++;
    while (to > from && (line.charCodeAt(to - 1) === 32 || line.charCodeAt(to - 1) === 9)) to--;
    const value = line.slice(from, to);
    if (!VALUE.test(value)) throw new HttpError(400, `malformed value of ${name}`);
    const had = headers[name];
    if (had !== undefined) {
      if (SINGLE.has(name)) throw new HttpError(400, `more than one ${name}`);
      headers[name] = `${had}, ${value}`;
    } else headers[name] = value;
  }
  const cl = headers["content-length"];
  if (cl !== undefined) {
    if (!DIGITS.test(cl)) throw new HttpError(400, "malformed content-length");
    contentLength = Number(cl);
  }
  const te = headers["transfer-encoding"];
  if (te !== undefined) {
    if (te.toLowerCase() !== "chunked") throw new HttpError(kind === "request" ? 501 : 502, "only the chunked transfer coding is understood");
    if (cl !== undefined) throw new HttpError(400, "both content-length and transfer-encoding");
    if (minor === 0) throw new HttpError(400, "transfer-encoding in an HTTP/1.0 message");
    chunked = true;
  }
  if (kind === "request" && minor === 1 && headers.host === undefined) throw new HttpError(400, "no host header");
  connection = (headers.connection ?? "").toLowerCase();
  const close = minor === 0 ? !/(?:^|,)\s*keep-alive\s*(?:,|$)/.test(connection) : /(?:^|,)\s*close\s*(?:,|$)/.test(connection);
  return { method, target, status, minor, headers, contentLength, chunked, close };
}

/** Finds the end of a head: the index of the blank line's CRLF CRLF, or -1. */
export function headEnd(buf: Buffer, from = 0): number {
  return buf.indexOf("\r\n\r\n", from, "latin1");
}

/** Decodes a chunked body (RFC 9112 §7.1) as it arrives; trailers are read and dropped. */
export class ChunkedDecoder {
  /** 0 size line, 1 data, 2 CRLF after data, 3 trailer section, 4 done. */
  #state = 0;
  #remaining = 0;
  #line = "";
  #trailerBytes = 0;
  #extensionBytes = 0;

  constructor(private readonly onData: (chunk: Buffer) => void) {}

  get done(): boolean {
    return this.#state === 4;
  }

  /** Consumes bytes from `buf` starting at `at`; returns the index after the last byte consumed
   * (the rest belongs to the next message once done). Throws HttpError on malformed framing. */
  push(buf: Buffer, at = 0): number {
    let i = at;
    while (i < buf.length && this.#state !== 4) {
      if (this.#state === 1) {
        const n = Math.min(this.#remaining, buf.length - i);
        this.onData(buf.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = 2;
        continue;
      }
      const lf = buf.indexOf(10, i);
      const end = lf < 0 ? buf.length : lf + 1;
      this.#line += buf.toString("latin1", i, end);
      i = end;
      if (this.#line.length > 4096) throw new HttpError(400, "chunk framing line too long");
      if (lf < 0) break;
      const line = this.#line;
      this.#line = "";
      if (line.length < 2 || line.charCodeAt(line.length - 2) !== 13) throw new HttpError(400, "bare LF in chunk framing");
      const content = line.slice(0, -2);
      if (this.#state === 2) {
        if (content !== "") throw new HttpError(400, "chunk data longer than its size");
        this.#state = 0;
      } else if (this.#state === 0) {
        const m = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/.exec(content);
        if (!m) throw new HttpError(400, "malformed chunk size");
        // Extensions are ignored, and bounded over the whole body: otherwise a body limit of 1 MiB
        // could take gigabytes of framing (as in Node's CVE-2024-22019).
        this.#extensionBytes += content.length - m[1]!.length;
        if (this.#extensionBytes > 16 * 1024) throw new HttpError(413, "chunk extensions too large");
        const size = parseInt(m[1]!, 16);
        if (size === 0) this.#state = 3;
        else {
          this.#remaining = size;
          this.#state = 1;
        }
      } else {
        // Trailer fields: ignored, bounded; the empty line ends the body.
        this.#trailerBytes += line.length;
        if (this.#trailerBytes > 16 * 1024) throw new HttpError(431, "trailer section too large");
        if (content === "") this.#state = 4;
        else if (content.indexOf(":") <= 0 || /[\r\n\0]/.test(content)) throw new HttpError(400, "malformed trailer field");
      }
    }
    return i;
  }
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

export function reason(status: number): string {
  return REASONS[status] ?? "Status";
}

let dateSecond = 0;
let dateValue = "";
/** The Date header's value, formatted once a second. */
export function httpDate(): string {
  const now = Date.now();
  const s = now - (now % 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(s).toUTCString();
  }
  return dateValue;
}

function percentEncode(c: string): string {
  try {
    return encodeURIComponent(c);
  } catch {
    return "%EF%BF%BD"; // a lone surrogate
  }
}

/** A value safe to write in a head: space, tab and visible ASCII kept, anything else (CR, LF, NUL,
 * and what latin1 would mangle: U+010A would become a line feed) percent-encoded, so a value from
 * elsewhere (a certificate's name, say) cannot add fields. */
export function headerValue(v: string): string {
  return /^[\t\x20-\x7e]*$/.test(v) ? v : v.replace(/[^\t\x20-\x7e]/gu, percentEncode);
}
