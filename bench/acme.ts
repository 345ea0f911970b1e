// ACME load driver: complete RFC 8555 issuances per second with concurrent clients (new account →
// new order → http-01 validated for real → finalize → download), so Signet and Let's Encrypt's
// pebble can be measured side by side by the same driver. The client is deliberately small (no
// acme-client: its CPU would be charged to whichever server shares the machine with it).
// Run directly against pebble: `node --import tsx bench/acme.ts --pebble [--concurrency 8,16,32]
// [--seconds 15] [--overlap]`.
import { createHash, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from "node:crypto";
import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { pathToFileURL } from "node:url";
import { buildCsr } from "../ca/x509/index.js";

export interface AcmeLoadOptions {
  directoryUrl: string;
  /** Trust for an HTTPS directory (PEM). */
  caPem?: string;
  /** Independent client loops, each with its own nonce. */
  concurrency: number;
  /** Stop starting issuances after this long (in-flight ones finish and count). */
  durationMs?: number;
  /** Stop after this many issuances have been started. */
  issuances?: number;
  /** The driver answers http-01 on 127.0.0.1:challengePort; the server's validator must dial it. */
  challengePort: number;
  /** The single DNS name of issuance i; it must resolve to 127.0.0.1 for the server's validator. */
  names: (i: number) => string;
  /** First sleep before polling an authorization or order (default 5 ms), doubling after each poll.
   * Retry-After is honoured instead when present; every sleep is capped at 50 ms. */
  firstPollMs?: number;
  /** A request unanswered this long ends the run as stalled (default 15 s). */
  requestTimeoutMs?: number;
  /**
   * Never have a new-order and an authorization fetch in flight at the same time (default false).
   * Pebble 2.4 deadlocks when they overlap while a store write is queued (see bench/pebble.ts); with
   * this it survives the load. It can only lower the rate measured.
   */
  separateNewOrderFromAuthz?: boolean;
  onLog?: (s: string) => void;
}

export interface AcmeLoadResult {
  issued: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  firstError?: string;
  /** A request went unanswered for requestTimeoutMs and the run was ended early; `seconds` and
   * `perSecond` then cover the run up to the last completed issuance. */
  stalled: boolean;
  /** CPU the driver itself used (user + system), to judge how much it took from the server. */
  driverCpuSeconds: number;
  /** HTTP requests sent per completed issuance (polls included). */
  requestsPerIssuance: number;
  /** Key authorizations the server's validator fetched from the driver's http-01 responder. */
  challengeFetches: number;
}

interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
}

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Order {
  status: string;
  authorizations: string[];
  finalize: string;
  certificate?: string;
}

interface Authz {
  status: string;
  challenges: Array<{ type: string; url: string; token: string; status: string }>;
}

const MAX_POLL_SLEEP_MS = 50;
const POLL_LIMIT = 2000;

class AcmeError extends Error {}
/** A request the server did not answer in time: the server is wedged or drowning, so the run ends. */
class StallError extends Error {}

function b64u(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Keep-alive transport shared by every client loop of one run. */
class Transport {
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  requests = 0;

  constructor(
    maxSockets: number,
    private readonly timeoutMs: number,
    caPem?: string,
  ) {
    this.httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
    this.httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets, ...(caPem ? { ca: caPem } : {}) });
  }

  send(method: string, url: string, body?: string, accept?: string): Promise<Response> {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers["content-type"] = "application/jose+json";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    if (accept) headers.accept = accept;
    this.requests++;
    return new Promise((resolve, reject) => {
      const https = u.protocol === "https:";
      const req = (https ? httpsRequest : httpRequest)(u, { method, headers, agent: https ? this.httpsAgent : this.httpAgent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.setTimeout(this.timeoutMs, () => req.destroy(new StallError(`${method} ${url}: no answer in ${this.timeoutMs} ms`)));
      req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function header(r: Response, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function json<T>(r: Response): T {
  return JSON.parse(r.body.toString("utf8")) as T;
}

/** Retry-After (delta-seconds or an HTTP date) in ms, capped for the bench; the default otherwise. */
function pollDelay(r: Response, fallbackMs: number): number {
  const v = header(r, "retry-after");
  if (v === undefined) return fallbackMs;
  const seconds = Number(v);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(v) - Date.now();
  return Math.max(0, Math.min(Number.isFinite(ms) ? ms : fallbackMs, MAX_POLL_SLEEP_MS));
}

/** One ACME client loop: its own nonce, a fresh account per issuance. */
class Client {
  private nonce: string | undefined;
  private key!: KeyObject;
  private jwk!: JsonWebKey;
  private kid: string | undefined;

  constructor(
    private readonly t: Transport,
    private readonly dir: Directory,
  ) {}

  /** Fresh ES256 account key; returns the RFC 7638 thumbprint for key authorizations. */
  newAccountKey(): string {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    this.key = privateKey;
    this.jwk = { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
    this.kid = undefined;
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
    return b64u(createHash("sha256").update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest());
  }

  private async freshNonce(): Promise<string> {
    const r = await this.t.send("HEAD", this.dir.newNonce);
    const n = header(r, "replay-nonce");
    if (!n) throw new AcmeError(`newNonce: ${r.status} without Replay-Nonce`);
    return n;
  }

  /** A JWS POST; `payload` undefined means POST-as-GET. Retries once on badNonce. */
  async post(url: string, payload: unknown, accept?: string): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const nonce = this.nonce ?? (await this.freshNonce());
      this.nonce = undefined;
      const prot = b64u(JSON.stringify(this.kid ? { alg: "ES256", kid: this.kid, nonce, url } : { alg: "ES256", jwk: this.jwk, nonce, url }));
      const pay = payload === undefined ? "" : b64u(JSON.stringify(payload));
      const signature = sign("sha256", Buffer.from(`${prot}.${pay}`), { key: this.key, dsaEncoding: "ieee-p1363" });
      const r = await this.t.send("POST", url, JSON.stringify({ protected: prot, payload: pay, signature: b64u(signature) }), accept);
      this.nonce = header(r, "replay-nonce");
      if (r.status < 400) return r;
      let problem: { type?: string; detail?: string } = {};
      try {
        problem = json(r);
      } catch {
        // not a problem document; reported below with the status
      }
      if (problem.type === "urn:ietf:params:acme:error:badNonce" && attempt === 0) continue;
      throw new AcmeError(`POST ${url}: ${r.status} ${problem.type ?? ""} ${problem.detail ?? r.body.toString("utf8").slice(0, 200)}`.trim());
    }
  }

  async newAccount(): Promise<void> {
    const r = await this.post(this.dir.newAccount, { termsOfServiceAgreed: true });
    const kid = header(r, "location");
    if (!kid) throw new AcmeError(`newAccount: ${r.status} without Location`);
    this.kid = kid;
  }
}

/**
 * Polls a resource with POST-as-GET until it reaches `want`. Without Retry-After the sleeps start
 * at `firstPollMs` and double, so a fast server is not hidden behind a fixed sleep and a slow one
 * is not flooded with polls; every sleep is capped at 50 ms.
 */
async function pollUntil<T extends { status: string }>(fetch: () => Promise<Response>, url: string, first: T, firstResponse: Response, want: string, firstPollMs: number): Promise<T> {
  let obj = first;
  let backoff = firstPollMs;
  let delay = pollDelay(firstResponse, backoff);
  for (let i = 0; i < POLL_LIMIT; i++) {
    if (obj.status === want) return obj;
    if (obj.status !== "pending" && obj.status !== "processing" && obj.status !== "ready") {
      throw new AcmeError(`${url}: status ${obj.status}: ${JSON.stringify(obj).slice(0, 400)}`);
    }
    if (delay > 0) await sleep(delay);
    const r = await fetch();
    obj = json<T>(r);
    backoff = Math.min(backoff * 2, MAX_POLL_SLEEP_MS);
    delay = pollDelay(r, backoff);
  }
  throw new AcmeError(`${url}: still ${obj.status} after ${POLL_LIMIT} polls`);
}

/**
 * Lets any number of requests of one kind be in flight, but never two kinds at once. A request of
 * the other kind waits for the ones in flight, and requests arriving behind it wait their turn.
 */
class KindGate {
  private active = 0;
  private kind: string | undefined;
  private readonly queue: Array<{ kind: string; go: () => void }> = [];

  async run<T>(kind: string, f: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && (this.active === 0 || this.kind === kind)) {
      this.kind = kind;
      this.active++;
    } else {
      // release() counts us in before it lets us go.
      await new Promise<void>((go) => this.queue.push({ kind, go }));
    }
    try {
      return await f();
    } finally {
      this.release();
    }
  }

  private release(): void {
    if (--this.active > 0 || this.queue.length === 0) return;
    this.kind = this.queue[0]!.kind;
    for (let i = 0; i < this.queue.length; ) {
      if (this.queue[i]!.kind !== this.kind) {
        i++;
        continue;
      }
      this.active++;
      this.queue.splice(i, 1)[0]!.go();
    }
  }
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}

export async function runAcmeLoad(opts: AcmeLoadOptions): Promise<AcmeLoadResult> {
  const log = opts.onLog ?? (() => undefined);
  const pollMs = Math.min(opts.firstPollMs ?? 5, MAX_POLL_SLEEP_MS);
  if (opts.durationMs === undefined && opts.issuances === undefined) throw new Error("runAcmeLoad: give durationMs or issuances");

  // http-01 responder: token → key authorization.
  const keyAuthorizations = new Map<string, string>();
  let challengeFetches = 0;
  const challengeServer = createServer((req, res) => {
    const prefix = "/.well-known/acme-challenge/";
    const ka = req.url?.startsWith(prefix) ? keyAuthorizations.get(req.url.slice(prefix.length)) : undefined;
    if (ka === undefined) {
      res.writeHead(404).end();
      return;
    }
    challengeFetches++;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": Buffer.byteLength(ka) }).end(ka);
  });
  challengeServer.keepAliveTimeout = 30_000;
  await listen(challengeServer, opts.challengePort);

  const transport = new Transport(opts.concurrency, opts.requestTimeoutMs ?? 15_000, opts.caPem);
  try {
    const dr = await transport.send("GET", opts.directoryUrl);
    if (dr.status !== 200) throw new Error(`directory ${opts.directoryUrl}: ${dr.status}`);
    const dir = json<Directory>(dr);

    const latencies: number[] = [];
    let started = 0;
    let errors = 0;
    let firstError: string | undefined;
    let stalled = false;
    let lastDone = 0;
    const t0 = performance.now();
    let deadline = opts.durationMs === undefined ? Infinity : t0 + opts.durationMs;
    const cpu0 = process.cpuUsage();

    const gate = opts.separateNewOrderFromAuthz ? new KindGate() : undefined;
    const gated = <T>(kind: string, f: () => Promise<T>): Promise<T> => (gate ? gate.run(kind, f) : f());
    const issueOne = async (c: Client, name: string): Promise<void> => {
      const thumbprint = c.newAccountKey();
      await c.newAccount();
      const or = await gated("newOrder", () => c.post(dir.newOrder, { identifiers: [{ type: "dns", value: name }] }));
      const orderUrl = header(or, "location");
      if (!orderUrl) throw new AcmeError(`newOrder: ${or.status} without Location`);
      let order = json<Order>(or);
      const tokens: string[] = [];
      try {
        for (const authzUrl of order.authorizations) {
          const fetchAuthz = (): Promise<Response> => gated("authz", () => c.post(authzUrl, undefined));
          const authz = json<Authz>(await fetchAuthz());
          if (authz.status === "valid") continue;
          const ch = authz.challenges.find((x) => x.type === "http-01");
          if (!ch) throw new AcmeError(`${authzUrl}: no http-01 challenge`);
          keyAuthorizations.set(ch.token, `${ch.token}.${thumbprint}`);
          tokens.push(ch.token);
          const cr = await c.post(ch.url, {});
          const chNow = json<{ status: string }>(cr);
          // Skip the first authz poll when the challenge response already says it is done.
          const start: Authz = chNow.status === "valid" ? { ...authz, status: "valid" } : authz;
          await pollUntil(fetchAuthz, authzUrl, start, cr, "valid", pollMs);
        }
      } finally {
        for (const t of tokens) keyAuthorizations.delete(t);
      }
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
      const csr = buildCsr({ privateKey, publicKey, keyAlgorithm: "P-256", subject: [{ type: "CN", value: name }], sans: { dns: [name] } });
      const fr = await c.post(order.finalize, { csr: b64u(csr) });
      order = await pollUntil(() => c.post(orderUrl, undefined), orderUrl, json<Order>(fr), fr, "valid", pollMs);
      if (!order.certificate) throw new AcmeError(`${orderUrl}: valid without certificate`);
      const cert = await c.post(order.certificate, undefined, "application/pem-certificate-chain");
      if (!cert.body.includes("-----BEGIN CERTIFICATE-----")) throw new AcmeError(`${order.certificate}: no PEM certificate in the response`);
    };

    const loop = async (): Promise<void> => {
      const c = new Client(transport, dir);
      let consecutiveErrors = 0;
      while (performance.now() < deadline && (opts.issuances === undefined || started < opts.issuances)) {
        const i = started++;
        const s = performance.now();
        try {
          await issueOne(c, opts.names(i));
          lastDone = performance.now();
          latencies.push(lastDone - s);
          consecutiveErrors = 0;
        } catch (e) {
          errors++;
          const msg = e instanceof Error ? e.message : String(e);
          if (firstError === undefined) {
            firstError = msg;
            log(`first error: ${msg}`);
          }
          if (e instanceof StallError && !stalled) {
            stalled = true;
            deadline = 0;
            log(`server stalled, ending the run: ${msg}`);
          }
          // A server that fails everything should end the run, not spin.
          if (++consecutiveErrors >= 20) {
            log(`a client loop stops after ${consecutiveErrors} errors in a row`);
            return;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, loop));

    const end = stalled ? Math.max(lastDone, t0) : performance.now();
    const seconds = Math.max((end - t0) / 1000, 1e-3);
    const cpu = process.cpuUsage(cpu0);
    latencies.sort((a, b) => a - b);
    return {
      issued: latencies.length,
      seconds: Math.round(seconds * 100) / 100,
      perSecond: Math.round((latencies.length / seconds) * 10) / 10,
      p50Ms: Math.round(percentile(latencies, 0.5)),
      p99Ms: Math.round(percentile(latencies, 0.99)),
      errors,
      ...(firstError === undefined ? {} : { firstError }),
      stalled,
      driverCpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
      challengeFetches,
      requestsPerIssuance: latencies.length ? Math.round((transport.requests / latencies.length) * 10) / 10 : 0,
    };
  } finally {
    transport.close();
    challengeServer.closeAllConnections();
    await new Promise<void>((r) => challengeServer.close(() => r()));
  }
}

export function formatAcmeLoad(label: string, concurrency: number, r: AcmeLoadResult): string {
  return (
    `${label.padEnd(8)} c=${String(concurrency).padStart(3)}  ${String(r.issued).padStart(6)} issued in ${r.seconds.toFixed(1)} s  ` +
    `${r.perSecond.toFixed(1).padStart(7)} issuances/s   p50 ${r.p50Ms} ms   p99 ${r.p99Ms} ms   errors ${r.errors}   (${r.requestsPerIssuance} requests and ${r.challengeFetches ? (r.challengeFetches / Math.max(1, r.issued)).toFixed(1) : 0} http-01 fetches per issuance, driver CPU ${r.driverCpuSeconds} s)` +
    (r.stalled ? `   STALLED: the server stopped answering after ${r.seconds.toFixed(1)} s` : "") +
    (r.firstError ? `\n         first error: ${r.firstError}` : "")
  );
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (!argv.includes("--pebble")) {
    console.error("usage: node --import tsx bench/acme.ts --pebble [--concurrency 8,16,32] [--seconds 15] [--overlap]");
    process.exitCode = 2;
    return;
  }
  const levels = (arg("--concurrency") ?? "8,16,32").split(",").map(Number);
  const seconds = Number(arg("--seconds") ?? 15);
  // --overlap lets new-orders and authorization fetches overlap, which wedges pebble 2.4.
  const separate = !argv.includes("--overlap");
  const { startPebble, freePort } = await import("./pebble.js");
  const run = Date.now().toString(36);
  console.log(
    `ACME issuances against pebble (PEBBLE_VA_NOSLEEP=1), ${seconds} s per concurrency level, a fresh pebble for each` +
      (separate ? ", new-orders never overlapping authorization fetches" : ""),
  );
  let best: { c: number; r: AcmeLoadResult } | undefined;
  for (const c of levels) {
    const challengePort = await freePort();
    const pebble = await startPebble({ challengePort });
    try {
      const cpu0 = pebble.cpuSeconds();
      const r = await runAcmeLoad({
        directoryUrl: pebble.directoryUrl,
        caPem: pebble.caPem,
        concurrency: c,
        durationMs: seconds * 1000,
        challengePort,
        separateNewOrderFromAuthz: separate,
        names: (i) => `c${c}-${i}-${run}.bench.test`,
        onLog: (s) => console.log(`  ${s}`),
      });
      console.log(`${formatAcmeLoad("pebble", c, r)}\n         pebble CPU ${(pebble.cpuSeconds() - cpu0).toFixed(2)} s`);
      if (!best || r.perSecond > best.r.perSecond) best = { c, r };
    } finally {
      await pebble.close();
    }
  }
  if (best) console.log(`best: concurrency ${best.c}, ${best.r.perSecond} issuances/s, p99 ${best.r.p99Ms} ms${best.r.stalled ? " (until it stalled)" : ""}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
