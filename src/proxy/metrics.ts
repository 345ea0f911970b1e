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

  caller(id: string | null): string {
    if (id === null) return "none";
    if (this.#callers.has(id)) return id;
    if (this.#callers.size >= MAX_CALLERS) return "other";
    this.#callers.add(id);
    return id;
  }
}
