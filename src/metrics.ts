// Prometheus metrics. One registry per process, served at /metrics on both ports.
import { Counter, Histogram, Registry, collectDefaultMetrics, Gauge } from "prom-client";
import type { AuthorityObserver } from "../ca/authority.js";
import type { ProfileName } from "../ca/profiles.js";

export class Metrics implements AuthorityObserver {
  readonly registry = new Registry();
  readonly #issued = new Counter({ name: "signet_certificates_issued_total", help: "Certificates signed and stored", labelNames: ["profile", "provisioner"], registers: [this.registry] });
  readonly #refused = new Counter({ name: "signet_issuance_refused_total", help: "Issuance requests refused or failed, by error code", labelNames: ["code"], registers: [this.registry] });
  readonly #issueSeconds = new Histogram({
    name: "signet_issuance_duration_seconds",
    help: "Time through the whole issuance pipeline",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly http = new Histogram({
    name: "signet_http_request_duration_seconds",
    help: "HTTP requests by port, route and status",
    labelNames: ["port", "method", "route", "status"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly adminAuthFailures = new Counter({ name: "signet_admin_auth_failures_total", help: "Admin API authentication failures", labelNames: ["reason"], registers: [this.registry] });
  readonly revoked = new Counter({ name: "signet_certificates_revoked_total", help: "Certificates revoked", labelNames: ["reason"], registers: [this.registry] });
  readonly crlEntries = new Gauge({ name: "signet_crl_entries", help: "Entries in the latest CRL", labelNames: ["issuer", "kind"], registers: [this.registry] });
  readonly crlGenerated = new Gauge({ name: "signet_crl_this_update_seconds", help: "thisUpdate of the latest CRL (unix time)", labelNames: ["issuer", "kind"], registers: [this.registry] });
  readonly attestationDecisions = new Counter({ name: "signet_attestation_decisions_total", help: "Posture attestation decisions, by provisioner, evidence type and outcome", labelNames: ["provisioner", "evidence", "outcome"], registers: [this.registry] });
  readonly scepRequests = new Counter({ name: "signet_scep_requests_total", help: "SCEP PKIOperations answered, by message type and pkiStatus", labelNames: ["provisioner", "type", "status"], registers: [this.registry] });
  readonly ocspResponses = new Counter({ name: "signet_ocsp_responses_total", help: "OCSP answers by outcome", labelNames: ["outcome"], registers: [this.registry] });
  readonly feedClients = new Gauge({ name: "signet_revocation_feed_clients", help: "Open revocation feed streams", registers: [this.registry] });
  readonly caNotAfter = new Gauge({ name: "signet_ca_not_after_seconds", help: "Expiry of each CA certificate (unix time)", labelNames: ["kind", "id"], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "signet_process_" });
  }

  issued(profile: ProfileName, provisioner: string, seconds: number): void {
    this.#issued.inc({ profile, provisioner });
    this.#issueSeconds.observe(seconds);
  }

  refused(code: string): void {
    this.#refused.inc({ code });
  }
}
