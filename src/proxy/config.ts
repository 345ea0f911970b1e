// The inference proxy's configuration: a JSON file (signet proxy --config FILE, default
// $SIGNET_HOME/proxy.json if present) with environment overrides, validated at start-up; a bad value
// fails naming its path. Routes can also come from the admin API (static or ephemeral); they are
// validated by the same parseRoute().
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { SignetError } from "../../ca/errors.js";

export const OPERATIONS = ["chat.completions", "completions", "embeddings", "models.list"] as const;
export type Operation = (typeof OPERATIONS)[number];
export type AuthMethod = "mtls" | "token";

export interface LimitSpec {
  /** Requests per minute (GCRA: a steady rate with `burstRequests` at once). */
  requestsPerMinute: number | null;
  burstRequests: number | null;
  /** LLM tokens per minute (prompt + completion, estimated before and reconciled after). */
  tokensPerMinute: number | null;
  burstTokens: number | null;
}

export interface LimitScopes {
  identity: LimitSpec;
  tenant: LimitSpec;
  route: LimitSpec;
}

export interface RouteConfig {
  name: string;
  /** External path prefix ("/v1/"); the longest matching prefix wins. */
  pathPrefix: string;
  /** Host header to match (null: any). */
  host: string | null;
  upstream: string;
  /** What the upstream's paths start with, replacing pathPrefix (default: pathPrefix). */
  upstreamPrefix: string;
  auth: AuthMethod[];
  /** The tenant whose route this is (null: shared by all tenants). */
  tenant: string | null;
  /** Models callers may name (null: any the upstream serves). */
  models: string[] | null;
  /** The model's context window in tokens: prompt estimate + max_tokens must fit. */
  contextWindow: number;
  maxBodyBytes: number;
  /** Log prompts and answers in the audit record (otherwise only their SHA-256). */
  logContent: boolean;
  /** Route-specific limits (replace the defaults of each scope given). */
  limits: Partial<LimitScopes>;
  /** Ephemeral routes: when they stop working. */
  expiresAt: Date | null;
}

export interface HealthCheck {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  unhealthyAfter: number;
  healthyAfter: number;
}

export interface UpstreamConfig {
  name: string;
  /** http(s)://host:port of each model server. */
  targets: string[];
  balance: "round-robin" | "least-outstanding";
  /** Session affinity: one caller, or one value of a header, sticks to one target (consistent hashing). */
  affinity: { by: "caller" } | { by: "header"; header: string } | null;
  healthCheck: HealthCheck | null;
  connectTimeoutMs: number;
  /** Until the upstream's response headers arrive. */
  headersTimeoutMs: number;
  /** Connections kept per target. */
  connections: number;
}

export interface ProxyConfig {
  host: string;
  port: number;
  /** Processes on this machine (cluster workers); 1 runs in the calling process. */
  workers: number;
  /** The proxy's own certificate; null: issued by Signet at start-up (and renewed). */
  tls: { certFile: string; keyFile: string } | null;
  /** CA certificates client certificates must chain to; null: Signet's root and intermediate. */
  trustBundleFile: string | null;
  /** Signet's HTTPS API (revocation feed, tokens and routes, usage reports). */
  /** `clientCertFile`/`clientKeyFile`: a certificate with the signet:proxy role instead of the admin
   * token (least privilege: the feed and the proxy endpoints only); it is also the proxy's server
   * certificate unless `tls` names another. */
  signet: { url: string; httpUrl: string; caFile: string; adminTokenFile: string; clientCertFile: string | null; clientKeyFile: string | null };
  /** Shared limits across processes and replicas; null: in memory (one process). */
  redisUrl: string | null;
  policyFile: string;
  routes: RouteConfig[];
  upstreams: UpstreamConfig[];
  limits: LimitScopes;
  tokens: { maxTtlSeconds: number };
  /** Audit records (one JSON line per inference); null: standard output. */
  auditFile: string | null;
  /** Prometheus metrics on plain HTTP (loopback by default); port 0: none. */
  metrics: { host: string; port: number };
  /** How many authorization decisions are cached per process. */
  decisionCacheSize: number;
  /** Revoked certificates come from Signet's live feed; when it has been down this long, the CRLs are
   * fetched instead (and every this-many seconds after). */
  crlFallbackSeconds: number;
}

export const NO_LIMIT: LimitSpec = { requestsPerMinute: null, burstRequests: null, tokensPerMinute: null, burstTokens: null };

function bad(message: string, path: string): never {
  throw new SignetError("config_invalid", `${path}: ${message}`, { detail: { path } });
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function known(o: Record<string, unknown>, keys: string[], path: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) bad(`unknown option ${JSON.stringify(k)}`, `${path}.${k}`);
}

function int(v: unknown, def: number, min: number, max: number, path: string): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) bad(`must be an integer from ${min} to ${max}`, path);
  return v;
}

function optInt(v: unknown, min: number, max: number, path: string): number | null {
  if (v === undefined || v === null) return null;
  return int(v, 0, min, max, path);
}

function str(v: unknown, re: RegExp, what: string, path: string): string {
  if (typeof v !== "string" || !re.test(v)) bad(`must be ${what}`, path);
  return v;
}

export const ROUTE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MODEL = /^[\x21-\x7e]{1,256}$/;

export function parseLimitSpec(v: unknown, path: string): LimitSpec {
  if (v === undefined) return { ...NO_LIMIT };
  if (!isObj(v)) bad("must be an object", path);
  known(v, ["requestsPerMinute", "burstRequests", "tokensPerMinute", "burstTokens"], path);
  const rpm = optInt(v.requestsPerMinute, 1, 10_000_000, `${path}.requestsPerMinute`);
  const tpm = optInt(v.tokensPerMinute, 1, 1_000_000_000, `${path}.tokensPerMinute`);
  return {
    requestsPerMinute: rpm,
    burstRequests: optInt(v.burstRequests, 1, 10_000_000, `${path}.burstRequests`),
    tokensPerMinute: tpm,
    burstTokens: optInt(v.burstTokens, 1, 1_000_000_000, `${path}.burstTokens`),
  };
}

function parseScopes(v: unknown, path: string, partial: boolean): Partial<LimitScopes> {
  if (v === undefined) return partial ? {} : { identity: { ...NO_LIMIT }, tenant: { ...NO_LIMIT }, route: { ...NO_LIMIT } };
  if (!isObj(v)) bad("must be an object", path);
  known(v, ["identity", "tenant", "route"], path);
  const out: Partial<LimitScopes> = {};
  for (const k of ["identity", "tenant", "route"] as const) {
    if (v[k] !== undefined || !partial) out[k] = parseLimitSpec(v[k], `${path}.${k}`);
  }
  return out;
}

/** A route, from the config file or the admin API. `upstreams`: the names routes may point at. */
export function parseRoute(v: unknown, path: string, upstreams: ReadonlySet<string> | null, now = new Date()): RouteConfig {
  if (!isObj(v)) bad("must be an object", path);
  known(v, ["name", "pathPrefix", "host", "upstream", "upstreamPrefix", "auth", "tenant", "models", "contextWindow", "maxBodyBytes", "logContent", "limits", "ttlSeconds", "expiresAt"], path);
  const name = str(v.name, ROUTE_NAME, "a lower-case name of letters, digits and -", `${path}.name`);
  // Ends with / so that a prefix matches whole segments ("/v1/" not "/v1x").
  const pathPrefix = str(v.pathPrefix ?? "/v1/", /^\/(?:[A-Za-z0-9._~-]+\/){0,16}$/, "a path of whole segments starting and ending with /", `${path}.pathPrefix`);
  if (/\/\.\.?\//.test(pathPrefix)) bad("must not have . or .. segments", `${path}.pathPrefix`);
  const upstream = str(v.upstream, /^[a-z0-9-]{1,63}$/, "the name of an upstream pool", `${path}.upstream`);
  if (upstreams && !upstreams.has(upstream)) bad(`names no configured upstream pool (${[...upstreams].join(", ") || "none"})`, `${path}.upstream`);
  const auth = (v.auth ?? ["mtls"]) as unknown;
  if (!Array.isArray(auth) || auth.length === 0 || !auth.every((a) => a === "mtls" || a === "token")) bad('must be a non-empty list of "mtls" and "token"', `${path}.auth`);
  let models: string[] | null = null;
  if (v.models !== undefined && v.models !== null) {
    if (!Array.isArray(v.models) || v.models.length > 256 || !v.models.every((m) => typeof m === "string" && MODEL.test(m))) bad("must be a list of model names", `${path}.models`);
    models = v.models as string[];
  }
  let expiresAt: Date | null = null;
  if (v.ttlSeconds !== undefined) expiresAt = new Date(now.getTime() + int(v.ttlSeconds, 0, 60, 30 * 86400, `${path}.ttlSeconds`) * 1000);
  else if (v.expiresAt !== undefined && v.expiresAt !== null) {
    const t = typeof v.expiresAt === "string" ? Date.parse(v.expiresAt) : NaN;
    if (Number.isNaN(t)) bad("must be an ISO date", `${path}.expiresAt`);
    expiresAt = new Date(t);
  }
  return {
    name,
    pathPrefix,
    host: v.host === undefined || v.host === null ? null : str(v.host, /^[a-z0-9.-]{1,253}(:\d{1,5})?$/, "a lower-case host name", `${path}.host`),
    upstream,
    upstreamPrefix: v.upstreamPrefix === undefined ? pathPrefix : str(v.upstreamPrefix, /^\/(?:[A-Za-z0-9._~-]+\/){0,16}$/, "a path of whole segments starting and ending with /", `${path}.upstreamPrefix`),
    auth: [...new Set(auth as AuthMethod[])],
    tenant: v.tenant === undefined || v.tenant === null ? null : str(v.tenant, TENANT, "a tenant name", `${path}.tenant`),
    models,
    contextWindow: int(v.contextWindow, 8192, 16, 10_000_000, `${path}.contextWindow`),
    maxBodyBytes: int(v.maxBodyBytes, 1024 * 1024, 256, 64 * 1024 * 1024, `${path}.maxBodyBytes`),
    logContent: v.logContent === undefined ? false : typeof v.logContent === "boolean" ? v.logContent : bad("must be true or false", `${path}.logContent`),
    limits: parseScopes(v.limits, `${path}.limits`, true),
    expiresAt,
  };
}

export function parseUpstream(name: string, v: unknown, path: string): UpstreamConfig {
  if (!isObj(v)) bad("must be an object", path);
  known(v, ["targets", "balance", "affinity", "healthCheck", "connectTimeoutMs", "headersTimeoutMs", "connections"], path);
  if (!ROUTE_NAME.test(name)) bad("an upstream pool's name must be lower-case letters, digits and -", path);
  const targets = v.targets;
  if (!Array.isArray(targets) || targets.length === 0 || targets.length > 256 || !targets.every((t) => typeof t === "string" && /^https?:\/\/[^/\s]+$/.test(t))) {
    bad("must be a non-empty list of http(s)://host:port", `${path}.targets`);
  }
  const balance = v.balance ?? "least-outstanding";
  if (balance !== "round-robin" && balance !== "least-outstanding") bad('must be "round-robin" or "least-outstanding"', `${path}.balance`);
  let affinity: UpstreamConfig["affinity"] = null;
  if (v.affinity !== undefined && v.affinity !== null) {
    if (v.affinity === "caller") affinity = { by: "caller" };
    else if (typeof v.affinity === "string" && /^header:[A-Za-z0-9-]{1,64}$/.test(v.affinity)) affinity = { by: "header", header: v.affinity.slice(7).toLowerCase() };
    else bad('must be "caller" or "header:NAME"', `${path}.affinity`);
  }
  let healthCheck: HealthCheck | null = null;
  if (v.healthCheck !== undefined && v.healthCheck !== null && v.healthCheck !== false) {
    const h = v.healthCheck === true ? {} : v.healthCheck;
    if (!isObj(h)) bad("must be an object", `${path}.healthCheck`);
    known(h, ["path", "intervalMs", "timeoutMs", "unhealthyAfter", "healthyAfter"], `${path}.healthCheck`);
    healthCheck = {
      path: str(h.path ?? "/health", /^\/\S{0,255}$/, "a path", `${path}.healthCheck.path`),
      intervalMs: int(h.intervalMs, 2000, 50, 600_000, `${path}.healthCheck.intervalMs`),
      timeoutMs: int(h.timeoutMs, 1000, 10, 60_000, `${path}.healthCheck.timeoutMs`),
      unhealthyAfter: int(h.unhealthyAfter, 2, 1, 100, `${path}.healthCheck.unhealthyAfter`),
      healthyAfter: int(h.healthyAfter, 1, 1, 100, `${path}.healthCheck.healthyAfter`),
    };
  }
  return {
    name,
    targets: targets as string[],
    balance,
    affinity,
    healthCheck,
    connectTimeoutMs: int(v.connectTimeoutMs, 2000, 10, 60_000, `${path}.connectTimeoutMs`),
    headersTimeoutMs: int(v.headersTimeoutMs, 300_000, 100, 3_600_000, `${path}.headersTimeoutMs`),
    connections: int(v.connections, 64, 1, 4096, `${path}.connections`),
  };
}

export interface ProxyEnvironment {
  home: string;
  httpsPort: number;
  httpPort: number;
  proxyPort: number;
  env: NodeJS.ProcessEnv;
}

/** The whole configuration: the file's, then the environment's overrides. */
export function parseProxyConfig(raw: unknown, e: ProxyEnvironment): ProxyConfig {
  const v = raw === undefined ? {} : raw;
  if (!isObj(v)) bad("the proxy configuration must be a JSON object", "config");
  known(v, ["host", "port", "workers", "tls", "trustBundleFile", "signet", "redisUrl", "policyFile", "routes", "upstreams", "limits", "tokens", "auditFile", "metrics", "decisionCacheSize", "crlFallbackSeconds"], "config");
  const home = (p: string) => (isAbsolute(p) ? p : join(e.home, p));
  const upstreamsRaw = v.upstreams ?? {};
  if (!isObj(upstreamsRaw)) bad("must be an object of pools by name", "config.upstreams");
  const upstreams = Object.entries(upstreamsRaw).map(([name, u]) => parseUpstream(name, u, `config.upstreams.${name}`));
  const names = new Set(upstreams.map((u) => u.name));
  const routesRaw = v.routes ?? [];
  if (!Array.isArray(routesRaw)) bad("must be a list", "config.routes");
  const routes = routesRaw.map((r, i) => parseRoute(r, `config.routes[${i}]`, names));
  const seen = new Set<string>();
  for (const r of routes) {
    if (seen.has(r.name)) bad(`the route name ${r.name} is used twice`, "config.routes");
    seen.add(r.name);
  }
  let tls: ProxyConfig["tls"] = null;
  if (v.tls !== undefined && v.tls !== null) {
    if (!isObj(v.tls)) bad("must be { certFile, keyFile }", "config.tls");
    known(v.tls, ["certFile", "keyFile"], "config.tls");
    tls = { certFile: home(str(v.tls.certFile, /\S/, "a file", "config.tls.certFile")), keyFile: home(str(v.tls.keyFile, /\S/, "a file", "config.tls.keyFile")) };
  }
  const signet = isObj(v.signet) ? v.signet : {};
  if (v.signet !== undefined) known(signet, ["url", "httpUrl", "caFile", "adminTokenFile", "clientCertFile", "clientKeyFile"], "config.signet");
  if ((typeof signet.clientCertFile === "string") !== (typeof signet.clientKeyFile === "string")) bad("clientCertFile and clientKeyFile go together", "config.signet");
  const metrics = isObj(v.metrics) ? v.metrics : {};
  const tokens = isObj(v.tokens) ? v.tokens : {};
  const env = e.env;
  const envInt = (name: string, min: number, max: number): number | undefined => {
    const s = env[name];
    if (s === undefined || s === "") return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) bad(`must be an integer from ${min} to ${max}`, name);
    return n;
  };
  return {
    host: typeof v.host === "string" ? v.host : (env.SIGNET_PROXY_HOST ?? "0.0.0.0"),
    port: envInt("SIGNET_PROXY_PORT", 0, 65535) ?? int(v.port, e.proxyPort, 0, 65535, "config.port"),
    workers: envInt("SIGNET_PROXY_WORKERS", 1, 256) ?? int(v.workers, 1, 1, 256, "config.workers"),
    tls,
    trustBundleFile: typeof v.trustBundleFile === "string" ? home(v.trustBundleFile) : null,
    signet: {
      url: env.SIGNET_PROXY_SIGNET_URL ?? (typeof signet.url === "string" ? signet.url : `https://127.0.0.1:${e.httpsPort}`),
      httpUrl: env.SIGNET_PROXY_SIGNET_HTTP_URL ?? (typeof signet.httpUrl === "string" ? signet.httpUrl : `http://127.0.0.1:${e.httpPort}`),
      caFile: home(typeof signet.caFile === "string" ? signet.caFile : "ca/root.pem"),
      adminTokenFile: home(env.SIGNET_PROXY_ADMIN_TOKEN_FILE ?? (typeof signet.adminTokenFile === "string" ? signet.adminTokenFile : "admin.token")),
      clientCertFile: typeof signet.clientCertFile === "string" ? home(signet.clientCertFile) : null,
      clientKeyFile: typeof signet.clientKeyFile === "string" ? home(signet.clientKeyFile) : null,
    },
    redisUrl: env.SIGNET_PROXY_REDIS_URL ?? (typeof v.redisUrl === "string" ? str(v.redisUrl, /^rediss?:\/\/\S+$/, "a redis:// URL", "config.redisUrl") : null),
    policyFile: home(typeof v.policyFile === "string" ? v.policyFile : "policies/proxy.cedar"),
    routes,
    upstreams,
    limits: parseScopes(v.limits, "config.limits", false) as LimitScopes,
    tokens: { maxTtlSeconds: int(tokens.maxTtlSeconds, 90 * 86400, 60, 366 * 86400, "config.tokens.maxTtlSeconds") },
    auditFile: env.SIGNET_PROXY_AUDIT_FILE ?? (typeof v.auditFile === "string" ? home(v.auditFile) : null),
    metrics: { host: typeof metrics.host === "string" ? metrics.host : "127.0.0.1", port: envInt("SIGNET_PROXY_METRICS_PORT", 0, 65535) ?? int(metrics.port, 9464, 0, 65535, "config.metrics.port") },
    decisionCacheSize: int(v.decisionCacheSize, 10_000, 0, 1_000_000, "config.decisionCacheSize"),
    crlFallbackSeconds: int(v.crlFallbackSeconds, 10, 1, 3600, "config.crlFallbackSeconds"),
  };
}

export function loadProxyConfig(file: string | null, e: ProxyEnvironment): ProxyConfig {
  if (file === null) return parseProxyConfig(undefined, e);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SignetError("config_invalid", `cannot read the proxy configuration ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SignetError("config_invalid", `the proxy configuration ${file} is not JSON: ${(err as Error).message}`);
  }
  return parseProxyConfig(json, e);
}
