// Admin authentication: a bearer admin token, or a client certificate (mTLS) issued by Signet that
// carries the `signet:admin` role and is still valid in the database. Nothing under /admin answers
// without one. Every failure is an audit event.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { TLSSocket } from "node:tls";
import { AUDIT_EVENTS } from "../../../ca/audit.js";
import { SignetError } from "../../../ca/errors.js";
import { parseCertificate } from "../../../ca/x509/index.js";
import type { Services } from "../../services.js";

/** The role an admin client certificate must carry (Signet roles extension, see README "Roles"). */
export const ADMIN_ROLE = "signet:admin";
/** A client certificate with this role may read the revocation feed (and nothing else). */
export const REVOCATION_READER_ROLE = "signet:revocation-reader";
/** An inference proxy's client certificate: the revocation feed, and the proxy state and usage
 * endpoints (GET /admin/v1/proxy/state, POST /admin/v1/proxy/usage), nothing else. */
export const PROXY_ROLE = "signet:proxy";

export interface AdminPrincipal {
  kind: "token" | "certificate";
  id: string;
  /** The audit trail's name for this caller. */
  actor: string;
}

declare module "fastify" {
  interface FastifyRequest {
    admin: AdminPrincipal | null;
  }
}

const CERT_STATUS_TTL_MS = 10_000;
/** Audited authentication failures per client address per minute; beyond it they are counted and the
 * count goes into the next audited failure, so an unauthenticated client cannot grow the audit chain
 * (or contend for its lock) without bound. Metrics count every failure. */
export const AUDITED_FAILURES_PER_MINUTE = 60;

/** The authentication hook; `roles` are the roles a client certificate may carry to pass (any one). */
export function makeAdminAuth(s: Services, roles: readonly string[] = [ADMIN_ROLE]) {
  // Parsing the peer certificate is per connection, not per request.
  const bySocket = new WeakMap<TLSSocket, { serial: string; issuer: string; roles: string[] } | null>();
  const certStatus = new Map<string, { at: number; valid: boolean }>();
  const issuers = new Set([s.authority.intermediate.id, s.authority.root.id]);

  function peer(socket: TLSSocket) {
    if (bySocket.has(socket)) return bySocket.get(socket)!;
    let info: { serial: string; issuer: string; roles: string[] } | null = null;
    if (typeof socket.getPeerX509Certificate === "function" && socket.authorized) {
      const x = socket.getPeerX509Certificate();
      if (x) {
        const c = parseCertificate(x.raw);
        info = { serial: c.serialHex, issuer: c.authorityKeyId?.toString("hex") ?? "", roles: c.roles };
      }
    }
    bySocket.set(socket, info);
    return info;
  }

  async function certificateValid(serial: string): Promise<boolean> {
    const hit = certStatus.get(serial);
    if (hit && Date.now() - hit.at < CERT_STATUS_TTL_MS) return hit.valid;
    const rec = await s.certificates.get(serial);
    const valid = rec !== null && rec.status === "valid" && rec.notAfter.getTime() > Date.now();
    if (certStatus.size > 10_000) certStatus.clear();
    certStatus.set(serial, { at: Date.now(), valid });
    return valid;
  }

  const failuresByIp = new Map<string, { windowStart: number; audited: number; suppressed: number }>();

  async function fail(req: FastifyRequest, reason: string, message: string): Promise<never> {
    s.metrics.adminAuthFailures.inc({ reason });
    const now = Date.now();
    let w = failuresByIp.get(req.ip);
    if (!w || now - w.windowStart >= 60_000) {
      if (failuresByIp.size >= 10_000) failuresByIp.clear();
      w = { windowStart: now, audited: 0, suppressed: w?.suppressed ?? 0 };
      failuresByIp.set(req.ip, w);
    }
    if (w.audited < AUDITED_FAILURES_PER_MINUTE) {
      w.audited++;
      const suppressed = w.suppressed;
      w.suppressed = 0;
      await s.journal
        .append({
          event: AUDIT_EVENTS.adminAuthFailed,
          actor: "anonymous",
          target: null,
          data: { reason, ip: req.ip, method: req.method, route: req.routeOptions.url ?? req.url.split("?")[0], ...(suppressed > 0 ? { suppressedBefore: suppressed } : {}) },
        })
        .catch((err: unknown) => req.log.error({ err }, "could not record an admin authentication failure"));
    } else {
      w.suppressed++;
    }
    throw new SignetError("unauthenticated", message);
  }

  return async function adminAuth(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    req.admin = null;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      if (!m) {
        void reply.header("www-authenticate", 'Bearer realm="signet-admin"');
        return fail(req, "malformed_authorization", "the Authorization header must be `Bearer <admin token>`");
      }
      const info = await s.tokens.verify(m[1]!);
      if (!info) {
        void reply.header("www-authenticate", 'Bearer realm="signet-admin", error="invalid_token"');
        return fail(req, "invalid_token", "the admin token is unknown, expired or revoked");
      }
      req.admin = { kind: "token", id: info.id, actor: `admin-token:${info.id}` };
      return;
    }
    const socket = req.raw.socket as TLSSocket;
    const cert = socket.encrypted ? peer(socket) : null;
    if (cert) {
      if (!issuers.has(cert.issuer) || !roles.some((r) => cert.roles.includes(r))) {
        return fail(req, "certificate_not_admin", `the client certificate carries none of the roles ${roles.join(", ")}`);
      }
      if (!(await certificateValid(cert.serial))) {
        return fail(req, "certificate_invalid", "the client certificate is revoked, expired or unknown to Signet");
      }
      req.admin = { kind: "certificate", id: cert.serial, actor: `admin-cert:${cert.serial}` };
      return;
    }
    void reply.header("www-authenticate", 'Bearer realm="signet-admin"');
    return fail(req, "missing_credentials", "admin authentication required: send `Authorization: Bearer <admin token>` or an admin client certificate");
  };
}
