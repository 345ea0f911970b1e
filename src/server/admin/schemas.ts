// JSON schemas shared by the admin routes. Response schemas are also the allow-list of what leaves.
import { PROFILE_NAMES } from "../../../ca/profiles.js";
import { PROVISIONER_TYPES } from "../../../ca/provisioners/validate.js";
import { reasonName } from "../../../ca/revocation.js";
import type { EnrolmentBlock, CertificateRecord, ProvisionerRecord } from "../../../ca/ports.js";
import { toPem } from "../../../ca/x509/index.js";
import { errorBodySchema } from "../errors.js";

const strings = { type: "array", items: { type: "string" } } as const;
const nullableString = { type: ["string", "null"] } as const;

const nameRules = {
  type: "object",
  properties: { dns: strings, ip: strings, uri: strings, email: strings, commonName: strings },
  additionalProperties: false,
} as const;

export const namePolicySchema = {
  type: "object",
  properties: { allow: nameRules, deny: nameRules },
  additionalProperties: false,
} as const;

export const certificateSchema = {
  type: "object",
  properties: {
    serial: { type: "string" },
    status: { type: "string", enum: ["pending", "valid", "revoked", "failed"] },
    issuer: { type: "string" },
    subject: { type: "string" },
    commonName: nullableString,
    dnsNames: strings,
    ipAddresses: strings,
    uris: strings,
    emails: strings,
    spiffeId: nullableString,
    roles: strings,
    profile: { type: "string" },
    provisioner: { type: "string" },
    identity: nullableString,
    nodeId: nullableString,
    notBefore: { type: "string", format: "date-time" },
    notAfter: { type: "string", format: "date-time" },
    keyAlgorithm: { type: "string" },
    subjectKeyId: { type: "string" },
    fingerprint: nullableString,
    requestedBy: { type: "string" },
    failure: nullableString,
    revokedAt: nullableString,
    revocationReason: nullableString,
    revokedBy: nullableString,
    invalidityDate: nullableString,
    accountId: nullableString,
    createdAt: { type: "string", format: "date-time" },
    pem: { type: "string" },
  },
} as const;

export function certificateJson(c: CertificateRecord, withPem = false) {
  return {
    serial: c.serialHex,
    status: c.status,
    issuer: c.issuerId,
    subject: c.subject,
    commonName: c.commonName,
    dnsNames: c.names.dns,
    ipAddresses: c.names.ip,
    uris: c.names.uri,
    emails: c.names.email,
    spiffeId: c.spiffeId,
    roles: c.roles,
    profile: c.profile,
    provisioner: c.provisionerName,
    identity: c.identity,
    nodeId: c.nodeId,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    keyAlgorithm: c.keyAlgorithm,
    subjectKeyId: c.subjectKeyId,
    fingerprint: c.fingerprint,
    requestedBy: c.requestedBy,
    failure: c.failure,
    revokedAt: c.revokedAt?.toISOString() ?? null,
    revocationReason: c.revocationReason === null ? null : reasonName(c.revocationReason),
    revokedBy: c.revokedBy,
    invalidityDate: c.invalidityDate?.toISOString() ?? null,
    accountId: c.accountId,
    createdAt: c.createdAt.toISOString(),
    ...(withPem && c.der ? { pem: toPem("CERTIFICATE", c.der) } : {}),
  };
}

/** The fields a client writes; the response adds what the server assigns. */
const provisionerFields = {
  type: { type: "string", enum: PROVISIONER_TYPES },
  profile: { type: "string", enum: PROFILE_NAMES },
  defaultLifetimeSeconds: { type: "integer" },
  maxLifetimeSeconds: { type: "integer" },
  policy: namePolicySchema,
  options: { type: "object", additionalProperties: true },
  enabled: { type: "boolean" },
} as const;

export const provisionerSchema = {
  type: "object",
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    ...provisionerFields,
    version: { type: "integer" },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
} as const;

export function provisionerJson(p: ProvisionerRecord) {
  return { ...p, createdAt: p.createdAt.toISOString(), updatedAt: p.updatedAt.toISOString() };
}

export const provisionerBodySchema = {
  type: "object",
  required: ["type"],
  properties: provisionerFields,
  additionalProperties: false,
} as const;

export const serialParams = {
  type: "object",
  required: ["serial"],
  properties: { serial: { type: "string", maxLength: 64 } },
} as const;

export const nameParams = {
  type: "object",
  required: ["name"],
  properties: { name: { type: "string", maxLength: 63 } },
} as const;

/** The error responses every admin route may give. */
export const errorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
  413: errorBodySchema,
  415: errorBodySchema,
  500: errorBodySchema,
  503: errorBodySchema,
} as const;

/** The fields every revocation request takes. */
export const revocationBodySchema = {
  reason: { type: ["string", "integer"], description: "RFC 5280 reason name (keyCompromise, superseded...) or code; default unspecified" },
  invalidityDate: { type: "string", format: "date-time", description: "when the key is known or suspected to have been compromised" },
} as const;

export interface RevocationBody {
  reason?: string | number;
  invalidityDate?: string;
}

export const blockSchema = {
  type: "object",
  properties: {
    kind: { type: "string", enum: ["node", "identity", "account"] },
    value: { type: "string" },
    reason: { type: "string" },
    createdBy: { type: "string" },
    createdAt: { type: "string", format: "date-time" },
  },
} as const;

export function blockJson(b: EnrolmentBlock) {
  return { kind: b.kind, value: b.value, reason: b.reason, createdBy: b.createdBy, createdAt: b.createdAt.toISOString() };
}
