// Who is calling: from the client certificate the TLS handshake verified (SPIFFE ID, SANs, subject,
// roles, issuer, serial; the tenant from a `tenant:NAME` role), or from an access token. A socket's
// certificate is parsed once, on its first request, and kept with the socket.
import type { TLSSocket } from "node:tls";
import { parseCertificate } from "../../ca/x509/index.js";

export interface Caller {
  kind: "mtls" | "token";
  /** Stable name for limits, logs and metrics: the SPIFFE ID, else "cn:<subject CN>", else
   * "serial:<hex>"; for tokens "token:<id>". */
  id: string;
  spiffeId: string | null;
  serial: string | null;
  issuer: string | null;
  subject: string | null;
  dns: string[];
  uris: string[];
  roles: string[];
  tenant: string | null;
  tokenId: string | null;
  /** For certificates: when it stops being valid (ms since epoch). */
  notAfter: number | null;
}

const TENANT_ROLE = "tenant:";
const bySocket = new WeakMap<TLSSocket, Caller | null>();

/** The caller a verified client certificate names; null without one (or if it did not verify). */
export function certificateCaller(socket: TLSSocket): Caller | null {
  const cached = bySocket.get(socket);
  if (cached !== undefined) return cached;
  let caller: Caller | null = null;
  if (socket.authorized) {
    const x = socket.getPeerX509Certificate();
    if (x) {
      const c = parseCertificate(x.raw);
      const spiffe = c.sans.uri.find((u) => u.startsWith("spiffe://")) ?? null;
      const tenantRole = c.roles.find((r) => r.startsWith(TENANT_ROLE));
      caller = {
        kind: "mtls",
        // Each form is marked, so a CN cannot pass for a SPIFFE ID or a token (a SPIFFE ID comes
        // only from a URI SAN, and is the one form without a prefix of Signet's).
        id: spiffe ?? (c.subject.commonName !== undefined ? `cn:${c.subject.commonName}` : `serial:${c.serialHex}`),
        spiffeId: spiffe,
        serial: c.serialHex,
        issuer: c.issuer.text,
        subject: c.subject.text,
        dns: c.sans.dns,
        uris: c.sans.uri,
        roles: c.roles,
        tenant: tenantRole ? tenantRole.slice(TENANT_ROLE.length) : null,
        tokenId: null,
        notAfter: c.notAfter.getTime(),
      };
    }
  }
  bySocket.set(socket, caller);
  return caller;
}

export function tokenCaller(t: { id: string; tenant: string | null }): Caller {
  return { kind: "token", id: `token:${t.id}`, spiffeId: null, serial: null, issuer: null, subject: null, dns: [], uris: [], roles: [], tenant: t.tenant, tokenId: t.id, notAfter: null };
}
