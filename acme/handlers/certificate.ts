// Certificates: download (§7.4.2) with alternate chains, revocation (§7.6) by the account or by the
// certificate's own key, and renewal information (RFC 9773).
import { createPublicKey } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { isSignetError } from "../../ca/errors.js";
import type { CertificateRecord } from "../../ca/ports.js";
import { parseCertificate, toPem } from "../../ca/x509/index.js";
import { parseCertId, renewalWindow } from "../ari.js";
import { assertPostAsGet, objectPayload, type AcmeContext } from "../context.js";
import { jwkOf, thumbprint } from "../jws.js";
import { AcmeProblem } from "../problems.js";

/** Chain 0: leaf + issuing CA (what clients install). Chain 1: the same, plus the root, for relying
 * parties that do not ship Signet's root separately. */
const CHAINS = 2;

export function certificateRoutes(app: FastifyInstance, ctx: AcmeContext): void {
  const { authority, certificates } = ctx.deps;
  // The CA certificates of every chain, PEM-encoded once each.
  const pemOf = new Map<string, string>();
  const caPem = (ca: { id: string; certDer: Buffer }) => {
    let p = pemOf.get(ca.id);
    if (!p) pemOf.set(ca.id, (p = toPem("CERTIFICATE", ca.certDer)));
    return p;
  };

  const download = async (req: FastifyRequest, serial: string, chain: number) => {
    const auth = await ctx.authenticateAccount(req);
    assertPostAsGet(auth.payload);
    const { urls } = req.acme;
    const cert = /^[0-9a-f]{2,40}$/.test(serial) ? await certificates.get(serial) : null;
    if (!cert || !cert.der || (cert.status !== "valid" && cert.status !== "revoked")) throw new AcmeProblem("malformed", "no such certificate", { status: 404 });
    if (cert.accountId !== auth.account.id) throw new AcmeProblem("unauthorized", "the certificate belongs to another account");
    const issuer = cert.issuerId === authority.intermediate.id ? authority.intermediate : cert.issuerId === authority.root.id ? authority.root : null;
    const parts = [toPem("CERTIFICATE", cert.der)];
    if (issuer) parts.push(caPem(issuer));
    if (chain === 1 && issuer && issuer !== authority.root) parts.push(caPem(authority.root));
    const links = Array.from({ length: CHAINS }, (_, i) => i)
      .filter((i) => i !== chain)
      .map((i) => `<${i === 0 ? urls.certificate(serial) : urls.alternate(serial, i)}>;rel="alternate"`);
    return { body: parts.join(""), links };
  };

  app.post<{ Params: { serial: string } }>("/cert/:serial", async (req, reply) => {
    const { body, links } = await download(req, req.params.serial, 0);
    return reply.header("content-type", "application/pem-certificate-chain").header("link", links).send(body);
  });

  app.post<{ Params: { serial: string; n: string } }>("/cert/:serial/:n", async (req, reply) => {
    const n = Number(req.params.n);
    if (!Number.isInteger(n) || n < 1 || n >= CHAINS) throw new AcmeProblem("malformed", "no such certificate chain", { status: 404 });
    const { body, links } = await download(req, req.params.serial, n);
    return reply.header("content-type", "application/pem-certificate-chain").header("link", links).send(body);
  });

  app.post("/revoke-cert", async (req, reply) => {
    const auth = await ctx.authenticate(req, "either");
    const body = objectPayload(auth.payload, "revokeCert");
    if (typeof body.certificate !== "string" || !/^[A-Za-z0-9_-]+$/.test(body.certificate)) throw new AcmeProblem("malformed", "certificate must be the base64url DER of the certificate");
    if (body.reason !== undefined && (typeof body.reason !== "number" || !Number.isInteger(body.reason))) throw new AcmeProblem("badRevocationReason", "reason must be an RFC 5280 CRLReason code");
    const der = Buffer.from(body.certificate, "base64url");
    let info: ReturnType<typeof parseCertificate>;
    try {
      info = parseCertificate(der);
    } catch {
      throw new AcmeProblem("malformed", "the certificate cannot be parsed");
    }
    const record = await certificates.get(info.serialHex);
    if (!record || !record.der || !record.der.equals(der)) throw new AcmeProblem("malformed", "the certificate was not issued by this server", { status: 404 });
    if (record.status === "revoked") throw new AcmeProblem("alreadyRevoked", "the certificate is already revoked");
    let actor: string;
    if (auth.account) {
      if (record.accountId !== auth.account.id && !(await holdsAuthorizations(ctx, auth.account.id, record, req.acme.provisioner.id))) {
        throw new AcmeProblem("unauthorized", "the account neither ordered this certificate nor holds valid authorizations for all its identifiers");
      }
      actor = `acme-account:${auth.account.id}`;
    } else {
      if (spkiThumbprint(info.spki) !== auth.thumbprint) throw new AcmeProblem("unauthorized", "the request is signed neither by an account nor by the certificate's key");
      actor = `acme-certificate-key:${auth.thumbprint}`;
    }
    if (body.reason === 6 || body.reason === 8 || body.reason === 7) {
      throw new AcmeProblem("badRevocationReason", "reason must be one of 0-5, 9, 10 (certificateHold is not offered: revocation is permanent)");
    }
    try {
      await authority.revoke(record.serialHex, actor, { reason: body.reason ?? 0 });
    } catch (err) {
      if (isSignetError(err, "already_revoked")) throw new AcmeProblem("alreadyRevoked", "the certificate is already revoked");
      throw err;
    }
    return reply.code(200).send();
  });

  // RFC 9773 §4: GET, no authentication; the certificate is named by its ARI identifier.
  app.get<{ Params: { certId: string } }>("/renewal-info/:certId", async (req, reply) => {
    const { authorityKeyIdHex, serialHex } = parseCertId(req.params.certId);
    const cert = await certificates.get(serialHex);
    if (!cert || cert.issuerId !== authorityKeyIdHex || cert.status === "pending" || cert.status === "failed") {
      throw new AcmeProblem("malformed", "no certificate with this identifier", { status: 404 });
    }
    const now = ctx.now();
    const w = renewalWindow({ notBefore: cert.notBefore, notAfter: cert.notAfter, revoked: cert.status === "revoked", issuerRetired: cert.issuerId !== authority.intermediate.id }, now);
    return reply
      .header("retry-after", String(w.retryAfterSeconds))
      .send({ suggestedWindow: { start: w.start.toISOString(), end: w.end.toISOString() }, ...(w.explanation ? { explanation: w.explanation } : {}) });
  });
}

async function holdsAuthorizations(ctx: AcmeContext, accountId: string, cert: CertificateRecord, provisionerId: string): Promise<boolean> {
  // Authorizations prove control of DNS names and addresses only: a certificate that also carries
  // an identity (URI, email, SPIFFE ID, roles), or came from another door, is not theirs to revoke.
  if (cert.provisionerId !== provisionerId || cert.names.uri.length + cert.names.email.length > 0 || cert.spiffeId !== null || cert.roles.length > 0) return false;
  const ids = [...cert.names.dns.map((d) => ({ type: "dns" as const, value: d.startsWith("*.") ? d.slice(2) : d })), ...cert.names.ip.map((ip) => ({ type: "ip" as const, value: ip }))];
  if (ids.length === 0) return false;
  return ctx.deps.store.holdsValidAuthzs(accountId, ids, ctx.now());
}

function spkiThumbprint(spki: Buffer): string | null {
  try {
    return thumbprint(jwkOf(createPublicKey({ key: spki, format: "der", type: "spki" })));
  } catch {
    return null;
  }
}
