// POST /attest/{provisioner} on the HTTPS port: the posture-attestation front door. The body carries
// evidence (a signed posture assertion, a Kubernetes service-account token or a join token) and which
// credential the workload wants; the answer is the decision and that credential, or a 4xx with the
// reason (401: the evidence does not verify; 403: the policy refuses, or the node is blocked).
import type { FastifyInstance } from "fastify";
import type { TLSSocket } from "node:tls";
import { isAttestationError } from "../../ca/attestation/errors.js";
import { isSignetError, SignetError } from "../../ca/errors.js";
import { isProvisionerName } from "../../ca/provisioners/validate.js";
import type { AttestRequest } from "../attestation/service.js";
import type { TpmActivateRequest, TpmCredentialRequest } from "../attestation/tpm.js";
import type { Services } from "../services.js";

const decisionSchema = {
  type: "object",
  properties: {
    spiffeId: { type: ["string", "null"] },
    identity: { type: "string" },
    nodeId: { type: ["string", "null"] },
    dns: { type: "array", items: { type: "string" } },
    ip: { type: "array", items: { type: "string" } },
    roles: { type: "array", items: { type: "string" } },
    profile: { type: ["string", "null"] },
    lifetimeSeconds: { type: ["integer", "null"] },
    reasons: { type: "array", items: { type: "string" } },
    policyVersion: { type: "string" },
  },
} as const;

/** The client certificate the handshake verified against Signet's CA, if any. */
function peerCertificate(socket: TLSSocket): Buffer | null {
  if (typeof socket.getPeerX509Certificate !== "function" || !socket.authorized) return null;
  return socket.getPeerX509Certificate()?.raw ?? null;
}

export function attestRoutes(app: FastifyInstance, s: Services): void {
  /** An enabled attestation provisioner, else 404. */
  const provisionerOf = async (name: string) => {
    const p = isProvisionerName(name) ? await s.provisioners.get(name) : null;
    if (!p || p.type !== "attestation" || !p.enabled) throw new SignetError("not_found", `no attestation provisioner named ${JSON.stringify(name.slice(0, 64))}`);
    return p;
  };
  app.post<{ Params: { provisioner: string }; Body: AttestRequest }>(
    "/attest/:provisioner",
    {
      bodyLimit: 96 * 1024,
      schema: {
        hide: true,
        body: {
          type: "object",
          required: ["evidence"],
          additionalProperties: false,
          properties: {
            evidence: {
              type: "object",
              required: ["type"],
              additionalProperties: false,
              properties: { type: { type: "string", enum: ["posture", "kubernetes", "join-token", "certificate"] }, token: { type: "string", minLength: 1, maxLength: 65536 } },
            },
            credential: { type: "string", enum: ["acme", "scep", "certificate"] },
            csr: { type: "string", maxLength: 65536 },
          },
        },
        response: {
          201: {
            type: "object",
            properties: {
              decision: decisionSchema,
              acme: { type: "object", properties: { directory: { type: "string" }, kid: { type: "string" }, hmacKey: { type: "string" }, expiresAt: { type: "string" } } },
              scep: { type: "object", properties: { url: { type: "string" }, challenge: { type: "string" }, expiresAt: { type: "string" } } },
              certificate: { type: "object", properties: { serial: { type: "string" }, pem: { type: "string" }, chainPem: { type: "string" }, notAfter: { type: "string" } } },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const p = await provisionerOf(req.params.provisioner);
      const count = (outcome: string) => s.metrics.attestationDecisions.inc({ provisioner: p.name, evidence: req.body.evidence.type, outcome });
      try {
        const result =
          req.body.evidence.type === "certificate"
            ? await s.attestation.renew(p, peerCertificate(req.raw.socket as TLSSocket), req.body.csr, `attestation:${p.name}`)
            : await s.attestation.attest(p, req.body, `attestation:${p.name}`, `https://${req.headers.host}`);
        count("allow");
        return await reply.code(201).send(result);
      } catch (err) {
        count(isAttestationError(err) ? "invalid_evidence" : isSignetError(err, "forbidden") || isSignetError(err, "blocked") ? "deny" : "error");
        // A key set or a policy file that cannot be read is the server's trouble: logged, not told.
        if ((isAttestationError(err) && (err.code === "jwks_unavailable" || err.code === "bad_jwks")) || isSignetError(err, "bad_policy")) {
          req.log.error({ err, provisioner: p.name }, "attestation cannot verify or decide: a key set or the posture policy is unavailable");
          throw new SignetError("unreachable", "attestation is temporarily unavailable; try again later");
        }
        if (isAttestationError(err)) throw new SignetError("unauthenticated", `the evidence does not verify: ${err.message}`, { detail: { reason: err.code } });
        throw err;
      }
    },
  );

  // TPM 2.0 credential activation (see src/attestation/tpm.ts): the AK's certificate is what a
  // device-attest-01 statement carries.
  const b64 = { type: "string", minLength: 1, maxLength: 8192, pattern: "^[A-Za-z0-9+/_-]+={0,2}$" } as const;
  app.post<{ Params: { provisioner: string }; Body: TpmCredentialRequest }>(
    "/attest/:provisioner/tpm/credential",
    {
      bodyLimit: 64 * 1024,
      schema: {
        hide: true,
        body: {
          type: "object",
          required: ["ekCertificate", "akPublic"],
          additionalProperties: false,
          properties: { ekCertificate: b64, ekChain: { type: "array", maxItems: 4, items: b64 }, ekPublic: b64, akPublic: b64 },
        },
      },
    },
    async (req, reply) => {
      const p = await provisionerOf(req.params.provisioner);
      const result = await tpmErrors(() => s.attestation.tpmCredential(p, req.body));
      return reply.code(201).send(result);
    },
  );
  app.post<{ Params: { provisioner: string }; Body: TpmActivateRequest }>(
    "/attest/:provisioner/tpm/activate",
    {
      bodyLimit: 4096,
      schema: {
        hide: true,
        body: { type: "object", required: ["activationId", "secret"], additionalProperties: false, properties: { activationId: { type: "string", maxLength: 64 }, secret: { ...b64, maxLength: 128 } } },
      },
    },
    async (req, reply) => {
      const p = await provisionerOf(req.params.provisioner);
      const result = await tpmErrors(() => s.attestation.tpmActivate(p, req.body, `attestation:${p.name}`));
      s.metrics.attestationDecisions.inc({ provisioner: p.name, evidence: "tpm-activation", outcome: "allow" });
      return reply.code(201).send(result);
    },
  );

  /** Evidence that does not verify is 401 with the reason; a roots file that cannot be read is the
   * server's trouble (logged, 503). */
  async function tpmErrors<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (isSignetError(err, "bad_policy")) {
        app.log.error({ err }, "TPM attestation cannot verify: the manufacturer roots are unavailable");
        throw new SignetError("unreachable", "TPM attestation is temporarily unavailable; try again later");
      }
      if (isAttestationError(err)) throw new SignetError("unauthenticated", `the TPM evidence does not verify: ${err.message}`, { detail: { reason: err.code } });
      throw err;
    }
  }
}
