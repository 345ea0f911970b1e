// Loads the key sets attestors verify with: a JWKS file, a JWKS URL, or an OIDC discovery document
// (a Kubernetes cluster's /.well-known/openid-configuration) that names one. The content is checked
// by ca/attestation's parseJwks (public RSA/EC/OKP keys only). A loaded set stays live: it reloads
// when it is older than maxAgeSeconds, and when a token names a kid it lacks (key rotation), but at
// most once per minRefreshIntervalSeconds, so tokens with made-up kids cannot turn Signet into a
// request amplifier. A failed refresh keeps the previous keys.
import { readFile, stat } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { AttestationError } from "../../ca/attestation/errors.js";
import { parseJwks, type JwkSet, type PublicJwk } from "../../ca/attestation/jws.js";

export interface JwksSource {
  /** A JWKS file on disk. */
  file?: string;
  /** A JWKS URL: https, or http to a loopback address. */
  url?: string;
  /** An OIDC discovery document whose jwks_uri names the JWKS: https, or http to loopback. */
  oidcDiscoveryUrl?: string;
}

export interface LoadJwksOptions {
  /** How long one HTTP request may take, in milliseconds. */
  fetchTimeoutMs: number;
  /** PEM CA certificates to trust for https, instead of Node's bundled roots. */
  ca?: string;
  /** Reload a set older than this, in seconds, even when no kid is unknown. Default 3600. */
  maxAgeSeconds?: number;
  /** An unknown kid reloads the set at most this often, in seconds. Default 60. */
  minRefreshIntervalSeconds?: number;
  /** The largest JWKS or discovery document read, in bytes. Default 1 MiB. */
  maxBytes?: number;
  /** Told when a background reload fails; the previous keys stay in use. */
  onRefreshError?: (err: AttestationError) => void;
  /** The clock in milliseconds, for tests. */
  now?: () => number;
}

/** A key set that reloads itself. Hand it to an attestor as its JwkSet. */
export interface LiveJwkSet extends JwkSet {
  /** Reloads now, unless a reload started less than minRefreshIntervalSeconds ago; joins a reload
   * already in flight. True when the keys were reloaded. */
  refresh(): Promise<boolean>;
  readonly loadedAt: Date;
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|\[::1\]|localhost)$/;
const DEFAULT_MAX_BYTES = 1024 * 1024;

interface FetchOptions {
  timeoutMs: number;
  ca: string | undefined;
  maxBytes: number;
}

const cache = new Map<string, Promise<LiveJwkSet>>();

/** Loads a key set, or returns the live set already loaded from the same source (and CA). */
export async function loadJwks(source: JwksSource, opts: LoadJwksOptions): Promise<LiveJwkSet> {
  // Runs synchronously up to the first await, so concurrent loads of one source share one entry.
  const load = loaderFor(source, opts);
  const key = JSON.stringify([source.file ?? null, source.url ?? null, source.oidcDiscoveryUrl ?? null, opts.ca ?? null]);
  let entry = cache.get(key);
  if (!entry) {
    const loading = load().then((set) => new CachedJwkSet(load, set, opts) as LiveJwkSet);
    cache.set(key, loading);
    // A failed first load is not cached: the next call tries again.
    loading.catch(() => cache.get(key) === loading && cache.delete(key));
    entry = loading;
  }
  return await entry;
}

class CachedJwkSet implements LiveJwkSet {
  readonly #load: () => Promise<JwkSet>;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  readonly #minIntervalMs: number;
  readonly #onError: ((err: AttestationError) => void) | undefined;
  #set: JwkSet;
  #loadedAt: number;
  #attemptedAt: number;
  #inflight: Promise<boolean> | null = null;

  constructor(load: () => Promise<JwkSet>, first: JwkSet, opts: LoadJwksOptions) {
    this.#load = load;
    this.#set = first;
    this.#now = opts.now ?? Date.now;
    this.#maxAgeMs = (opts.maxAgeSeconds ?? 3600) * 1000;
    this.#minIntervalMs = (opts.minRefreshIntervalSeconds ?? 60) * 1000;
    this.#onError = opts.onRefreshError;
    this.#loadedAt = this.#attemptedAt = this.#now();
  }

  get keys(): readonly PublicJwk[] {
    if (this.#now() - this.#loadedAt > this.#maxAgeMs) this.#background();
    return this.#set.keys;
  }

  get loadedAt(): Date {
    return new Date(this.#loadedAt);
  }

  onUnknownKey(): void {
    this.#background();
  }

  refresh(): Promise<boolean> {
    if (this.#inflight) return this.#inflight;
    if (this.#now() - this.#attemptedAt < this.#minIntervalMs) return Promise.resolve(false);
    this.#attemptedAt = this.#now();
    const p = (async () => {
      try {
        this.#set = await this.#load();
        this.#loadedAt = this.#now();
        return true;
      } finally {
        this.#inflight = null;
      }
    })();
    this.#inflight = p;
    return p;
  }

  #background(): void {
    this.refresh().catch((err: unknown) => {
      this.#onError?.(err instanceof AttestationError ? err : new AttestationError("jwks_unavailable", "reloading the key set failed", { cause: err }));
    });
  }
}

function loaderFor(source: JwksSource, opts: LoadJwksOptions): () => Promise<JwkSet> {
  const given = (["file", "url", "oidcDiscoveryUrl"] as const).filter((k) => source[k] !== undefined);
  if (given.length !== 1) throw new AttestationError("bad_jwks", `a key set source names exactly one of file, url and oidcDiscoveryUrl; this one names ${given.length === 0 ? "none" : given.join(" and ")}`);
  if (!(Number.isFinite(opts.fetchTimeoutMs) && opts.fetchTimeoutMs > 0)) throw new AttestationError("bad_jwks", "fetchTimeoutMs must be a positive number");
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const fetchOpts: FetchOptions = { timeoutMs: opts.fetchTimeoutMs, ca: opts.ca, maxBytes };
  if (source.file !== undefined) {
    const file = source.file;
    return async () => keySet(await readJsonFile(file, maxBytes), `the key set file ${file}`);
  }
  if (source.url !== undefined) {
    const url = checkUrl(source.url, "the key set URL");
    return async () => keySet(await fetchJson(url, "the key set URL", fetchOpts), `the key set at ${url}`);
  }
  const discovery = checkUrl(source.oidcDiscoveryUrl!, "the OIDC discovery URL");
  return async () => {
    const doc = await fetchJson(discovery, "the OIDC discovery URL", fetchOpts);
    const jwksUri = typeof doc === "object" && doc !== null ? (doc as Record<string, unknown>).jwks_uri : undefined;
    if (typeof jwksUri !== "string") throw new AttestationError("bad_jwks", `the OIDC discovery document at ${discovery} has no jwks_uri`);
    const url = checkUrl(jwksUri, `the jwks_uri of ${discovery}`);
    return keySet(await fetchJson(url, `the jwks_uri of ${discovery}`, fetchOpts), `the key set at ${url}`);
  };
}

function keySet(value: unknown, where: string): JwkSet {
  try {
    return parseJwks(value);
  } catch (err) {
    if (err instanceof AttestationError) throw new AttestationError(err.code, `${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

function checkUrl(text: string, what: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AttestationError("bad_jwks", `${what} is not a URL`);
  }
  if (url.username !== "" || url.password !== "") throw new AttestationError("bad_jwks", `${what} must not carry credentials`);
  if (url.protocol === "https:") return url.href;
  if (url.protocol === "http:" && LOOPBACK.test(url.hostname)) return url.href;
  throw new AttestationError("bad_jwks", `${what} (${url.href}) must be https; http is accepted for loopback addresses only`);
}

async function readJsonFile(file: string, maxBytes: number): Promise<unknown> {
  let text: string;
  try {
    const info = await stat(file);
    if (info.size > maxBytes) throw new AttestationError("bad_jwks", `the key set file ${file} is ${info.size} bytes; at most ${maxBytes} are read`);
    text = await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof AttestationError) throw err;
    throw new AttestationError("jwks_unavailable", `the key set file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new AttestationError("bad_jwks", `the key set file ${file} is not JSON`);
  }
}

function fetchJson(url: string, what: string, opts: FetchOptions): Promise<unknown> {
  const unavailable = (message: string, cause?: unknown) => new AttestationError("jwks_unavailable", `${what} (${url}) ${message}`, { cause });
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method: "GET", headers: { accept: "application/json" }, agent: false };
    if (url.startsWith("https:") && opts.ca !== undefined) options.ca = opts.ca;
    let settled = false;
    const settle = (err: AttestationError | null, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value);
    };
    const req = (url.startsWith("https:") ? https : http).request(url, options, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        return settle(unavailable(status >= 300 && status < 400 ? `answered HTTP ${status}; redirects are not followed` : `answered HTTP ${status}`));
      }
      const declared = Number(res.headers["content-length"] ?? 0);
      if (declared > opts.maxBytes) return settle(unavailable(`sent ${declared} bytes; at most ${opts.maxBytes} are read`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) settle(unavailable(`sent more than ${opts.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on("end", () => {
        let value: unknown;
        try {
          value = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          return settle(new AttestationError("bad_jwks", `${what} (${url}) did not answer with JSON`));
        }
        settle(null, value);
      });
      res.on("error", (err) => settle(unavailable(`broke off the answer (${err.message})`, err)));
    });
    const timer = setTimeout(() => settle(unavailable(`did not answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    req.on("error", (err) => settle(unavailable(`cannot be fetched (${(err as NodeJS.ErrnoException).code ?? err.message})`, err)));
    req.end();
  });
}
