// Posture attestation (step 5): a workload proves what it is with evidence; an attestor verifies the
// evidence into claims; the posture policy turns claims into a decision (an identity, names, roles,
// a profile and a lifetime, or a refusal with reasons). The decision then bounds every credential
// handed out for it (ACME EAB keys, SCEP one-time challenges) and every certificate issued under it.
import type { ProfileName } from "../profiles.js";

export const EVIDENCE_TYPES = ["posture", "kubernetes", "join-token", "certificate", "tpm"] as const;
export type EvidenceType = (typeof EVIDENCE_TYPES)[number];

/** Verified evidence: what an attestor vouches for. */
export interface Evidence {
  type: EvidenceType;
  /** Who issued it: the attester's issuer (`iss`), the cluster's issuer, "signet" for join tokens. */
  issuer: string;
  /** The workload's own name in the issuer's terms (`sub`, system:serviceaccount:ns:sa, token id). */
  subject: string;
  /** The node or host it runs on, when the evidence says (revoke --node and node blocks use it). */
  nodeId: string | null;
  /** Flat claims the policy reads, all strings, numbers, booleans or string lists (namespace,
   * serviceAccount, podName, podUid, imageDigest, compliant, ...). */
  claims: Record<string, string | number | boolean | string[]>;
  issuedAt: Date | null;
  expiresAt: Date | null;
  /** A single-use identifier (`jti`, token id), spent when the evidence is accepted. */
  uniqueId: string | null;
  /** sha256 hex of the raw evidence, for the audit trail (the evidence itself is never stored). */
  digest: string;
}

/** What the posture policy allows for a piece of evidence. */
export type Decision =
  | {
      allow: true;
      /** spiffe://... rendered from the policy's identity template. */
      spiffeId: string | null;
      /** What the certificate is recorded against (the SPIFFE ID unless the policy says otherwise). */
      identity: string;
      nodeId: string | null;
      dns: string[];
      ip: string[];
      roles: string[];
      profile: ProfileName | null;
      lifetimeSeconds: number | null;
      /** The policies that allowed it, by id. */
      reasons: string[];
      policyVersion: string;
    }
  | {
      allow: false;
      /** Why not, in words an operator reads (the refusing policies' reasons, or "no policy allows"). */
      reasons: string[];
      policyVersion: string;
    };

export type AllowDecision = Extract<Decision, { allow: true }>;
