// Mapping between Prisma rows and the ports' records.
import type { BlockKind, CertificateRecord, EnrolmentBlock, ProvisionerRecord } from "../../ca/ports.js";
import type { NamePolicy } from "../../ca/policy/index.js";
import type { ProfileName } from "../../ca/profiles.js";
import type { Certificate, Provisioner } from "./generated/client.js";

export function certificateFromRow(r: Certificate): CertificateRecord {
  return {
    serialHex: r.serial,
    issuerId: r.issuerId,
    status: r.status,
    subject: r.subject,
    commonName: r.commonName,
    names: { dns: r.dnsNames, ip: r.ipAddresses, uri: r.uris, email: r.emails },
    spiffeId: r.spiffeId,
    roles: r.roles,
    profile: r.profile as ProfileName,
    provisionerId: r.provisionerId,
    provisionerName: r.provisionerName,
    identity: r.identity,
    nodeId: r.nodeId,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    keyAlgorithm: r.keyAlgorithm,
    subjectKeyId: r.subjectKeyId,
    requestedBy: r.requestedBy,
    fingerprint: r.fingerprint,
    der: r.der ? Buffer.from(r.der) : null,
    failure: r.failure,
    revokedAt: r.revokedAt,
    revocationReason: r.revocationReason,
    revokedBy: r.revokedBy,
    invalidityDate: r.invalidityDate,
    accountId: r.accountId,
    createdAt: r.createdAt,
  };
}

/** enrolment_blocks as raw SQL returns it. */
export interface BlockRow {
  kind: string;
  value: string;
  reason: string;
  created_by: string;
  created_at: Date | string;
}

export function blockFromRow(r: BlockRow): EnrolmentBlock {
  return { kind: r.kind as BlockKind, value: r.value, reason: r.reason, createdBy: r.created_by, createdAt: new Date(r.created_at) };
}

export function provisionerFromRow(r: Provisioner): ProvisionerRecord {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    profile: r.profile as ProfileName,
    defaultLifetimeSeconds: r.defaultLifetimeSeconds,
    maxLifetimeSeconds: r.maxLifetimeSeconds,
    policy: r.policy as NamePolicy,
    options: r.options as Record<string, unknown>,
    enabled: r.enabled,
    version: r.version,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}
