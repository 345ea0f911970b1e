// The proxy's Prometheus metrics, per route, caller and status. Caller labels are capped (the first
// 1,000 distinct callers per process; later ones count as "other") so a churn of short-lived
// identities cannot grow the registry without bound.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const MAX_CALLERS = 1000;

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: "signet_proxy_requests_total", help: "Inference requests by route, caller and status", labelNames: ["route", "caller", "status"], registers: [this.registry] });
  readonly latency = new Histogram({
    name: "signet_proxy_request_duration_seconds",
    help: "Time from the request's arrival to the end of the answer, by route",
    labelNames: ["route"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly tokens = new Counter({ name: "signet_proxy_tokens_total", help: "LLM tokens by route, caller and kind (prompt, completion)", labelNames: ["route", "caller", "kind"], registers: [this.registry] });
  readonly rejections = new Counter({ name: "signet_proxy_rejections_total", help: "Requests refused, by route and cause", labelNames: ["route", "cause"], registers: [this.registry] });
  readonly upstreamHealthy = new Gauge({ name: "signet_proxy_upstream_healthy", help: "1 when the upstream target is in rotation", labelNames: ["upstream", "target"], registers: [this.registry] });
  readonly revocationsKnown = new Gauge({ name: "signet_proxy_revoked_certificates", help: "Revoked certificates the proxy knows of", registers: [this.registry] });
  readonly connectionsClosed = new Counter({ name: "signet_proxy_connections_closed_revoked_total", help: "Open connections closed because their certificate was revoked", registers: [this.registry] });
  readonly #started = Date.now();
  readonly #callers = new Set<string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "signet_proxy_process_" });
    new Gauge({
      name: "signet_proxy_uptime_seconds",
      help: "Seconds since this proxy process started",
      registers: [this.registry],
      collect: (() => {
        const started = this.#started;
        return function (this: Gauge) {
          this.set((Date.now() - started) / 1000);
        };
      })(),
    });
  }

  readonly #children = new Map<string, { inc(n?: number): void }>();
  readonly #latencyChildren = new Map<string, { observe(v: number): void }>();

  /** One request's counters, with the label children cached (prom-client hashes labels per call). */
  count(route: string, caller: string, status: number, seconds: number): void {
    const k = `${route}\0${caller}\0${status}`;
    let c = this.#children.get(k);
    if (!c) this.#children.set(k, (c = this.requests.labels(route, caller, String(status))));
    c.inc();
    let h = this.#latencyChildren.get(route);
    if (!h) this.#latencyChildren.set(route, (h = this.latency.labels(route)));
    h.observe(seconds);
  }

  readonly #tokenChildren = new Map<string, [{ inc(n?: number): void }, { inc(n?: number): void }]>();

  /** LLM tokens an answer used, by route and caller (children cached as in count). */
  tokensUsed(route: string, caller: string, prompt: number, completion: number): void {
    const k = `${route}\0${caller}`;
    let c = this.#tokenChildren.get(k);
    if (!c) this.#tokenChildren.set(k, (c = [this.tokens.labels(route, caller, "prompt"), this.tokens.labels(route, caller, "completion")]));
    c[0].inc(prompt);
    c[1].inc(completion);
  }

  caller(id: string | null): string {
    if (id === null) return "none";
    if (this.#callers.has(id)) return id;
    if (this.#callers.size >= MAX_CALLERS) return "other";
    this.#callers.add(id);
    return id;
  }
}
