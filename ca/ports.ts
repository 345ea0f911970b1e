// The storage ports the authority needs. ca/ declares them; src/db implements them with Prisma and
// test/support has in-memory twins. Each is as narrow as its caller: a front end that only needs to
// read certificates never gets a port that can write them.
import type { NamePolicy } from "./policy/index.js";
import type { ProfileName } from "./profiles.js";

export type CertificateStatus = "pending" | "valid" | "revoked" | "failed";
export type ProvisionerType = "admin" | "acme" | "scep" | "attestation";

export interface Names {
  dns: string[];
  ip: string[];
  uri: string[];
  email: string[];
}

/** What is about to be signed, recorded before the CA key is used (STYLE.md practice 5). */
export interface CertificateIntent {
  serialHex: string;
  issuerId: string;
  subject: string;
  commonName: string | null;
  names: Names;
  spiffeId: string | null;
  roles: string[];
  profile: ProfileName;
  provisionerId: string;
  provisionerName: string;
  identity: string | null;
  nodeId: string | null;
  notBefore: Date;
  notAfter: Date;
  keyAlgorithm: string;
  subjectKeyId: string;
  requestedBy: string;
  /** The ACME account that ordered it, for revoke --account; null for other front ends. */
  accountId: string | null;
}

export interface CertificateRecord extends CertificateIntent {
  status: CertificateStatus;
  fingerprint: string | null;
  der: Buffer | null;
  failure: string | null;
  revokedAt: Date | null;
  revocationReason: number | null;
  revokedBy: string | null;
  invalidityDate: Date | null;
  createdAt: Date;
}

export interface AuditEventInput {
  /** A stable dotted name, e.g. "certificate.issued"; see AUDIT_EVENTS in ca/audit.ts. */
  event: string;
  /** Who did it: "admin-token:<id>", "admin-cert:<serial>", "cli:init", "system"... */
  actor: string;
  /** What it was done to: a serial, a provisioner name, "policy:authority"... */
  target?: string | null;
  data: Record<string, unknown>;
}

export interface StoredAuditEvent extends AuditEventInput {
  seq: bigint;
  time: Date;
  prevHash: string;
  hash: string;
}

/** Thrown by recordIntent when the serial is already taken (the authority draws a new one). */
export class SerialConflict extends Error {
  constructor(readonly serialHex: string) {
    super(`serial ${serialHex} already exists`);
  }
}

/** The write side of issuance. Each call is one atomic change together with its audit event. */
export interface IssuanceLedger {
  recordIntent(intent: CertificateIntent, audit: AuditEventInput): Promise<void>;
  recordIssued(serialHex: string, der: Buffer, fingerprint: string, audit: AuditEventInput): Promise<void>;
  recordFailure(serialHex: string, reason: string, audit: AuditEventInput): Promise<void>;
  /** Marks a valid certificate revoked; returns the updated record, or null if it is not valid. */
  revoke(serialHex: string, revocation: Revocation, audit: AuditEventInput): Promise<CertificateRecord | null>;
  /** In one transaction: blocks `target` from enrolling and revokes every unexpired certificate
   * (valid, or pending: an intent being signed right now) recorded against it, with one audit event
   * per certificate from `auditFor` and `blockAudit` for the block. All of it, or none. */
  revokeAndBlock(
    target: BlockTarget,
    revocation: Revocation,
    blockReason: string,
    auditFor: (c: CertificateRecord) => AuditEventInput,
    blockAudit: AuditEventInput,
  ): Promise<{ revoked: CertificateRecord[]; block: EnrolmentBlock }>;
  /** Lifts a block; null if there was none. */
  unblock(target: BlockTarget, audit: AuditEventInput): Promise<EnrolmentBlock | null>;
}

export interface Revocation {
  /** RFC 5280 CRLReason code. */
  reason: number;
  at: Date;
  /** RFC 5280 §5.3.2 invalidity date, if the caller knows when the key was compromised. */
  invalidityDate: Date | null;
  actor: string;
}

/** What a block applies to: a node id, an identity (matches the recorded identity or the SPIFFE ID)
 * or an ACME account. */
export const BLOCK_KINDS = ["node", "identity", "account"] as const;
export type BlockKind = (typeof BLOCK_KINDS)[number];

export interface BlockTarget {
  kind: BlockKind;
  value: string;
}

export interface EnrolmentBlock extends BlockTarget {
  reason: string;
  createdBy: string;
  createdAt: Date;
}

/** Who is asking to enrol, as far as blocks are concerned. */
export interface EnrolmentSubject {
  nodeId: string | null;
  identity: string | null;
  spiffeId: string | null;
  accountId: string | null;
}

/** The enrolment block list as the pipeline reads it: answered from memory (the ledger enforces
 * blocks again when it records the intent, so a stale answer can only delay a refusal). */
export interface BlockList {
  find(subject: EnrolmentSubject): EnrolmentBlock | null;
}

/** Finds the block (if any) that applies to `subject` among `blocks`, keyed "kind\0value". */
export function matchBlock(blocks: ReadonlyMap<string, EnrolmentBlock>, s: EnrolmentSubject): EnrolmentBlock | null {
  if (blocks.size === 0) return null;
  const probe = (kind: BlockKind, value: string | null) => (value === null ? undefined : blocks.get(`${kind}\0${value}`));
  return probe("node", s.nodeId) ?? probe("identity", s.identity) ?? probe("identity", s.spiffeId) ?? probe("account", s.accountId) ?? null;
}

export interface CertificateFilter {
  status?: CertificateStatus | undefined;
  identity?: string | undefined;
  nodeId?: string | undefined;
  spiffeId?: string | undefined;
  provisioner?: string | undefined;
  commonName?: string | undefined;
  dnsName?: string | undefined;
  /** notAfter >= expiresAfter */
  expiresAfter?: Date | undefined;
  /** notAfter < expiresBefore */
  expiresBefore?: Date | undefined;
}

export interface Page<T> {
  items: T[];
  /** Opaque; pass back to get the next page. Null on the last page. */
  next: string | null;
}

export interface CertificateReader {
  get(serialHex: string): Promise<CertificateRecord | null>;
  list(filter: CertificateFilter, page: { limit: number; cursor?: string | undefined }): Promise<Page<CertificateRecord>>;
}

export interface ProvisionerRecord {
  id: string;
  name: string;
  type: ProvisionerType;
  profile: ProfileName;
  defaultLifetimeSeconds: number;
  maxLifetimeSeconds: number;
  policy: NamePolicy;
  options: Record<string, unknown>;
  enabled: boolean;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProvisionerSource {
  get(name: string): Promise<ProvisionerRecord | null>;
}

export interface AuthorityPolicySource {
  /** The authority-wide name policy (may be empty). */
  get(): Promise<NamePolicy>;
}

export interface AuditLog {
  append(event: AuditEventInput): Promise<void>;
}
