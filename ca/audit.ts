// The audit chain. Every event carries the hash of the one before it, so changing or deleting any
// stored event (or truncating the tail, checked against the head record) is detected by verifyChain.
// The hash covers a canonical JSON form, so it survives PostgreSQL's jsonb key reordering.
import { createHash } from "node:crypto";
import type { AuditEventInput, StoredAuditEvent } from "./ports.js";

export const GENESIS_HASH = "0".repeat(64);

/** Stable event names. Log consumers (SIEM rules) depend on these: add, never rename. */
export const AUDIT_EVENTS = {
  certificateIntent: "certificate.intent",
  certificateIssued: "certificate.issued",
  certificateFailed: "certificate.failed",
  certificateRevoked: "certificate.revoked",
  enrolmentBlocked: "enrolment.blocked",
  enrolmentUnblocked: "enrolment.unblocked",
  provisionerCreated: "provisioner.created",
  provisionerUpdated: "provisioner.updated",
  provisionerDeleted: "provisioner.deleted",
  policyUpdated: "policy.updated",
  caInitialized: "ca.initialized",
  caImported: "ca.imported",
  caRootKeyExported: "ca.root_key_exported",
  adminTokenCreated: "admin_token.created",
  adminTokenRevoked: "admin_token.revoked",
  adminAuthFailed: "admin.auth_failed",
  acmeAccountCreated: "acme.account.created",
  acmeAccountUpdated: "acme.account.updated",
  acmeAccountDeactivated: "acme.account.deactivated",
  acmeAccountKeyChanged: "acme.account.key_changed",
  acmeEabCreated: "acme.eab.created",
  acmeEabRevoked: "acme.eab.revoked",
  scepChallengeCreated: "scep.challenge.created",
  scepRequestPending: "scep.request.pending",
  scepRequestApproved: "scep.request.approved",
  scepRequestRejected: "scep.request.rejected",
  scepRequestRefused: "scep.request.refused",
  attestationDecided: "attestation.decided",
  attestationJoinTokenCreated: "attestation.join_token.created",
  attestationTpmActivated: "attestation.tpm.activated",
  proxyTokenCreated: "proxy.token.created",
  proxyTokenRevoked: "proxy.token.revoked",
  proxyRoutePut: "proxy.route.put",
  proxyRouteDeleted: "proxy.route.deleted",
} as const;

/** JSON with object keys sorted at every level; the form the hash is computed over. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return JSON.stringify(value.toString());
    if (value === undefined) return "null";
    return JSON.stringify(value);
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

export function auditEventHash(prevHash: string, seq: bigint, time: Date, e: AuditEventInput): string {
  return hashWithDataJson(prevHash, seq, time, e, canonicalJson(e.data));
}

/** The same hash, from the event's data already in canonical JSON (the hot path computes it once). */
function hashWithDataJson(prevHash: string, seq: bigint, time: Date, e: AuditEventInput, dataJson: string): string {
  const head = canonicalJson([seq.toString(), time.toISOString(), e.event, e.actor, e.target ?? null]);
  // `[a,b,c,d,e]` + data → `[a,b,c,d,e,data]`: byte-identical to canonicalJson of the six-element array.
  const body = `${head.slice(0, -1)},${dataJson}]`;
  return createHash("sha256").update(prevHash).update("\n").update(body).digest("hex");
}

export interface ChainedEvent extends StoredAuditEvent {
  /** `data` in canonical JSON: what was hashed, and what storage writes. */
  dataJson: string;
}

/** Chains `events` after (headSeq, headHash). Time is truncated to milliseconds (the column's
 * precision). `data` is canonicalised once; the stored form is that JSON, so what is read back
 * hashes the same. */
export function chainEvents(head: { seq: bigint; hash: string }, events: AuditEventInput[], now: Date): ChainedEvent[] {
  const time = new Date(Math.floor(now.getTime()));
  const out: ChainedEvent[] = [];
  let { seq, hash } = head;
  for (const e of events) {
    seq += 1n;
    const dataJson = canonicalJson(e.data);
    const stored: ChainedEvent = { event: e.event, actor: e.actor, target: e.target ?? null, data: e.data, dataJson, seq, time, prevHash: hash, hash: "" };
    stored.hash = hashWithDataJson(hash, seq, time, stored, dataJson);
    hash = stored.hash;
    out.push(stored);
  }
  return out;
}

export interface ChainVerdict {
  ok: boolean;
  checked: number;
  /** The first problem found, if any. */
  problem?: { seq: string; reason: string };
}

/** Walks events in seq order (from 1) and checks each link, then the head record. */
export async function verifyChain(
  events: AsyncIterable<StoredAuditEvent>,
  head: { seq: bigint; hash: string },
): Promise<ChainVerdict> {
  let prev = GENESIS_HASH;
  let expectSeq = 1n;
  let checked = 0;
  for await (const e of events) {
    if (e.seq !== expectSeq) {
      return { ok: false, checked, problem: { seq: expectSeq.toString(), reason: `event ${expectSeq} is missing (next stored event is ${e.seq})` } };
    }
    if (e.prevHash !== prev) {
      return { ok: false, checked, problem: { seq: e.seq.toString(), reason: "prev_hash does not match the previous event's hash" } };
    }
    const recomputed = auditEventHash(prev, e.seq, e.time, e);
    if (recomputed !== e.hash) {
      return { ok: false, checked, problem: { seq: e.seq.toString(), reason: "the event's content does not match its hash (changed after it was written)" } };
    }
    prev = e.hash;
    expectSeq += 1n;
    checked += 1;
  }
  if (head.seq !== expectSeq - 1n || head.hash !== prev) {
    return { ok: false, checked, problem: { seq: head.seq.toString(), reason: `the chain ends at event ${expectSeq - 1n} but the head records event ${head.seq}: events were deleted from the end` } };
  }
  return { ok: true, checked };
}
