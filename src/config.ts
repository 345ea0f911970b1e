// Signet's configuration: one table of defaults, read from the environment, validated at start-up.
// A bad value fails fast with a message that names the variable.
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { validate as validCron } from "node-cron";
import { SignetError } from "../ca/errors.js";

export interface Config {
  /** SIGNET_HOME: where the CA, the embedded database and the admin token live. */
  home: string;
  /** SIGNET_LISTEN_HOST: address both ports bind to. */
  listenHost: string;
  /** SIGNET_HTTPS_PORT: admin API, ACME and posture attestation, TLS with a certificate from Signet's own CA. */
  httpsPort: number;
  /** SIGNET_HTTP_PORT: CA certificates, CRL, OCSP, SCEP (plain HTTP: relying parties fetch these without trust). */
  httpPort: number;
  /** SIGNET_PROXY_PORT: the inference proxy. */
  proxyPort: number;
  /** SIGNET_PUBLIC_HOST: the host name clients use; goes into the HTTPS certificate and into every URL in certificates. */
  publicHost: string;
  /** SIGNET_HTTP_URL: base URL of the HTTP port as relying parties reach it (AIA, CRL distribution point). */
  httpUrl: string;
  /** DATABASE_URL: PostgreSQL; when unset, embedded PGlite in $SIGNET_HOME/db. */
  databaseUrl: string | undefined;
  /** SIGNET_LOG_LEVEL: pino level. */
  logLevel: string;
  /** SIGNET_MIN_LIFETIME: the floor of every certificate lifetime. Never below 5 minutes. */
  minLifetimeSeconds: number;
  /** SIGNET_MAX_LIFETIME: the authority-wide cap on leaf lifetimes. */
  maxLifetimeSeconds: number;
  /** SIGNET_DEFAULT_LIFETIME: the default lifetime of provisioners created at first start. */
  defaultLifetimeSeconds: number;
  /** SIGNET_BACKDATE: how far notBefore is set in the past, for clock skew. */
  backdateSeconds: number;
  /** SIGNET_ADMIN_TOKEN_TTL: lifetime of the admin token written at first start. */
  adminTokenTtlSeconds: number;
  /** SIGNET_TLS_LIFETIME: lifetime of the HTTPS port's own certificate (re-issued at 2/3 of it). */
  tlsLifetimeSeconds: number;
  /** SIGNET_PROXY_TOKEN_MAX_TTL: the longest an inference proxy access token may live. */
  proxyTokenMaxTtlSeconds: number;
  /** SIGNET_BODY_LIMIT: largest request body accepted, in bytes. */
  bodyLimit: number;
  /** SIGNET_VERIFY_WORKERS: worker threads verifying CSR signatures (0: in the main thread). Default: cores - 1, at most 4. */
  verifyWorkers: number;
  /** SIGNET_OCSP_VALIDITY: nextUpdate - thisUpdate of OCSP answers (re-signed at half of it, and at once on revocation). */
  ocspValiditySeconds: number;
  /** SIGNET_OCSP_RESPONDER_LIFETIME: lifetime of the delegated OCSP responder certificate (renewed at 2/3). */
  ocspResponderLifetimeSeconds: number;
  /** SIGNET_SCEP_RA_LIFETIME: lifetime of the SCEP RA certificate (a new one is issued at 2/3; older ones keep decrypting until they expire). */
  scepRaLifetimeSeconds: number;
  /** SIGNET_CRL_VALIDITY: nextUpdate - thisUpdate of full CRLs. */
  crlValiditySeconds: number;
  /** SIGNET_DELTA_CRL_VALIDITY: nextUpdate - thisUpdate of delta CRLs. */
  deltaCrlValiditySeconds: number;
  /** SIGNET_CRL_SCHEDULE: cron expression (node-cron, seconds field optional) for full CRLs, each the new base of the deltas. */
  crlSchedule: string;
  /** SIGNET_DELTA_CRL_SCHEDULE: cron expression for delta CRLs. Both are also regenerated within a second of any revocation. */
  deltaCrlSchedule: string;
  /** SIGNET_ACME_HTTP01_PORT: the port the ACME validator fetches http-01 challenges from (RFC 8555: 80). */
  acmeHttp01Port: number;
  /** SIGNET_ACME_TLSALPN01_PORT: the port the ACME validator connects to for tls-alpn-01 (RFC 8737: 443). */
  acmeTlsAlpn01Port: number;
  /** SIGNET_ACME_RESOLVER: comma-separated DNS servers (host or host:port) the validator asks for A/AAAA/TXT; empty: the system's resolver (and /etc/hosts). */
  acmeResolvers: string[] | null;
  /** SIGNET_ACME_VALIDATION_TIMEOUT: per validation attempt. */
  acmeValidationTimeoutMs: number;
  /** SIGNET_ACME_VALIDATION_ATTEMPTS: tries before a challenge is invalid (RFC 8555 §8.2); a client's repeated POST retries at once. */
  acmeValidationAttempts: number;
  /** SIGNET_ACME_VALIDATION_RETRY: delay before the second attempt (doubling after). */
  acmeValidationRetryMs: number;
  /** SIGNET_ACME_NONCE_LIFETIME: how long a Replay-Nonce stays usable. */
  acmeNonceLifetimeSeconds: number;
  /** SIGNET_REVOCATION_POLL: how often each replica reads the audit log for revocations and blocks made elsewhere, besides PostgreSQL NOTIFY. */
  revocationPollMs: number;
}

const FLOOR_SECONDS = 300;

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90", "90s", "15m", "24h", "30d" → seconds. */
export function parseDuration(v: string, key: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(v.trim());
  if (!m) throw new SignetError("config_invalid", `${key}=${JSON.stringify(v)} is not a duration (e.g. 300, 15m, 24h, 30d)`);
  return Number(m[1]) * UNITS[m[2] || "s"]!;
}

function port(v: string, key: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 0 || n > 65535) throw new SignetError("config_invalid", `${key}=${JSON.stringify(v)} is not a TCP port`);
  return n;
}

function nonNegativeInt(v: string, key: string): number {
  if (!/^\d+$/.test(v) || Number(v) > 64) throw new SignetError("config_invalid", `${key}=${JSON.stringify(v)} must be an integer from 0 to 64`);
  return Number(v);
}

function positiveInt(v: string, key: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n <= 0) throw new SignetError("config_invalid", `${key}=${JSON.stringify(v)} must be a positive integer`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const get = (key: string, def: string) => {
    const v = env[key];
    return v === undefined || v === "" ? def : v;
  };
  const duration = (key: string, def: string) => parseDuration(get(key, def), key);
  const home = resolve(get("SIGNET_HOME", "./data"));
  const httpPort = port(get("SIGNET_HTTP_PORT", "8080"), "SIGNET_HTTP_PORT");
  const publicHost = get("SIGNET_PUBLIC_HOST", "localhost");
  if (!/^[A-Za-z0-9.:-]+$/.test(publicHost)) throw new SignetError("config_invalid", `SIGNET_PUBLIC_HOST=${JSON.stringify(publicHost)} is not a host name or address`);
  const hostInUrl = publicHost.includes(":") ? `[${publicHost}]` : publicHost;
  const httpUrl = get("SIGNET_HTTP_URL", `http://${hostInUrl}:${httpPort}`).replace(/\/+$/, "");
  try {
    const u = new URL(httpUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("scheme");
  } catch {
    throw new SignetError("config_invalid", `SIGNET_HTTP_URL=${JSON.stringify(httpUrl)} is not an http(s) URL`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new SignetError("config_invalid", "DATABASE_URL must be a postgresql:// URL");
  }
  const cfg: Config = {
    home,
    listenHost: get("SIGNET_LISTEN_HOST", "0.0.0.0"),
    httpsPort: port(get("SIGNET_HTTPS_PORT", "8443"), "SIGNET_HTTPS_PORT"),
    httpPort,
    proxyPort: port(get("SIGNET_PROXY_PORT", "9443"), "SIGNET_PROXY_PORT"),
    publicHost,
    httpUrl,
    databaseUrl,
    logLevel: get("SIGNET_LOG_LEVEL", "info"),
    minLifetimeSeconds: duration("SIGNET_MIN_LIFETIME", "5m"),
    maxLifetimeSeconds: duration("SIGNET_MAX_LIFETIME", "30d"),
    defaultLifetimeSeconds: duration("SIGNET_DEFAULT_LIFETIME", "24h"),
    backdateSeconds: duration("SIGNET_BACKDATE", "60"),
    adminTokenTtlSeconds: duration("SIGNET_ADMIN_TOKEN_TTL", "365d"),
    tlsLifetimeSeconds: duration("SIGNET_TLS_LIFETIME", "7d"),
    proxyTokenMaxTtlSeconds: duration("SIGNET_PROXY_TOKEN_MAX_TTL", "90d"),
    bodyLimit: positiveInt(get("SIGNET_BODY_LIMIT", String(64 * 1024)), "SIGNET_BODY_LIMIT"),
    ocspValiditySeconds: duration("SIGNET_OCSP_VALIDITY", "1h"),
    ocspResponderLifetimeSeconds: duration("SIGNET_OCSP_RESPONDER_LIFETIME", "24h"),
    scepRaLifetimeSeconds: duration("SIGNET_SCEP_RA_LIFETIME", "30d"),
    crlValiditySeconds: duration("SIGNET_CRL_VALIDITY", "24h"),
    deltaCrlValiditySeconds: duration("SIGNET_DELTA_CRL_VALIDITY", "1h"),
    crlSchedule: cron(get("SIGNET_CRL_SCHEDULE", "0 * * * *"), "SIGNET_CRL_SCHEDULE"),
    deltaCrlSchedule: cron(get("SIGNET_DELTA_CRL_SCHEDULE", "*/5 * * * *"), "SIGNET_DELTA_CRL_SCHEDULE"),
    revocationPollMs: duration("SIGNET_REVOCATION_POLL", "2s") * 1000,
    acmeHttp01Port: port(get("SIGNET_ACME_HTTP01_PORT", "80"), "SIGNET_ACME_HTTP01_PORT"),
    acmeTlsAlpn01Port: port(get("SIGNET_ACME_TLSALPN01_PORT", "443"), "SIGNET_ACME_TLSALPN01_PORT"),
    acmeResolvers: resolvers(get("SIGNET_ACME_RESOLVER", "")),
    acmeValidationTimeoutMs: duration("SIGNET_ACME_VALIDATION_TIMEOUT", "10s") * 1000,
    acmeValidationAttempts: positiveInt(get("SIGNET_ACME_VALIDATION_ATTEMPTS", "3"), "SIGNET_ACME_VALIDATION_ATTEMPTS"),
    acmeValidationRetryMs: duration("SIGNET_ACME_VALIDATION_RETRY", "2s") * 1000,
    acmeNonceLifetimeSeconds: duration("SIGNET_ACME_NONCE_LIFETIME", "15m"),
    verifyWorkers: nonNegativeInt(get("SIGNET_VERIFY_WORKERS", String(Math.min(4, Math.max(0, availableParallelism() - 1)))), "SIGNET_VERIFY_WORKERS"),
  };
  if (cfg.minLifetimeSeconds < FLOOR_SECONDS) {
    throw new SignetError("config_invalid", `SIGNET_MIN_LIFETIME must be at least ${FLOOR_SECONDS}s (5 minutes)`);
  }
  if (cfg.maxLifetimeSeconds < cfg.minLifetimeSeconds) throw new SignetError("config_invalid", "SIGNET_MAX_LIFETIME must not be below SIGNET_MIN_LIFETIME");
  if (cfg.defaultLifetimeSeconds < cfg.minLifetimeSeconds || cfg.defaultLifetimeSeconds > cfg.maxLifetimeSeconds) {
    throw new SignetError("config_invalid", "SIGNET_DEFAULT_LIFETIME must lie between SIGNET_MIN_LIFETIME and SIGNET_MAX_LIFETIME");
  }
  if (cfg.backdateSeconds > 3600) throw new SignetError("config_invalid", "SIGNET_BACKDATE must be at most 1h");
  if (cfg.tlsLifetimeSeconds < cfg.minLifetimeSeconds || cfg.tlsLifetimeSeconds > cfg.maxLifetimeSeconds) {
    throw new SignetError("config_invalid", "SIGNET_TLS_LIFETIME must lie between SIGNET_MIN_LIFETIME and SIGNET_MAX_LIFETIME");
  }
  if (cfg.ocspValiditySeconds < 60 || cfg.ocspValiditySeconds > 7 * 86400) throw new SignetError("config_invalid", "SIGNET_OCSP_VALIDITY must lie between 1m and 7d");
  if (cfg.ocspResponderLifetimeSeconds < Math.max(cfg.minLifetimeSeconds, 2 * cfg.ocspValiditySeconds) || cfg.ocspResponderLifetimeSeconds > cfg.maxLifetimeSeconds) {
    throw new SignetError("config_invalid", "SIGNET_OCSP_RESPONDER_LIFETIME must be at least twice SIGNET_OCSP_VALIDITY, at least SIGNET_MIN_LIFETIME and at most SIGNET_MAX_LIFETIME");
  }
  if (cfg.crlValiditySeconds < 60 || cfg.deltaCrlValiditySeconds < 60) throw new SignetError("config_invalid", "SIGNET_CRL_VALIDITY and SIGNET_DELTA_CRL_VALIDITY must be at least 1m");
  if (cfg.acmeValidationTimeoutMs < 1000 || cfg.acmeValidationTimeoutMs > 120_000) throw new SignetError("config_invalid", "SIGNET_ACME_VALIDATION_TIMEOUT must lie between 1s and 2m");
  if (cfg.acmeValidationAttempts > 10) throw new SignetError("config_invalid", "SIGNET_ACME_VALIDATION_ATTEMPTS must be at most 10");
  if (cfg.scepRaLifetimeSeconds < Math.max(cfg.minLifetimeSeconds, 3600) || cfg.scepRaLifetimeSeconds > cfg.maxLifetimeSeconds) {
    throw new SignetError("config_invalid", "SIGNET_SCEP_RA_LIFETIME must lie between max(SIGNET_MIN_LIFETIME, 1h) and SIGNET_MAX_LIFETIME");
  }
  if (cfg.acmeNonceLifetimeSeconds < 60 || cfg.acmeNonceLifetimeSeconds > 86400) throw new SignetError("config_invalid", "SIGNET_ACME_NONCE_LIFETIME must lie between 1m and 24h");
  if (cfg.revocationPollMs < 1000) throw new SignetError("config_invalid", "SIGNET_REVOCATION_POLL must be at least 1s");
  return cfg;
}

function resolvers(v: string): string[] | null {
  const list = v.split(",").map((x) => x.trim()).filter(Boolean);
  for (const r of list) {
    if (!/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?|[0-9a-fA-F:]+)$/.test(r)) {
      throw new SignetError("config_invalid", `SIGNET_ACME_RESOLVER: ${JSON.stringify(r)} is not an IP address or [IPv6]:port / IPv4:port`);
    }
  }
  return list.length > 0 ? list : null;
}

function cron(v: string, key: string): string {
  if (!validCron(v)) throw new SignetError("config_invalid", `${key}=${JSON.stringify(v)} is not a cron expression (e.g. "0 * * * *")`);
  return v;
}

/** URLs the CA writes into certificates, all on the HTTP port. */
export function issuerUrls(cfg: Config, issuerId: string) {
  return {
    ocsp: `${cfg.httpUrl}/ocsp`,
    caIssuers: `${cfg.httpUrl}/certs/${issuerId}.crt`,
    crl: `${cfg.httpUrl}/crl/${issuerId}.crl`,
    deltaCrl: `${cfg.httpUrl}/crl/${issuerId}-delta.crl`,
  };
}
