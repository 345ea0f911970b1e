// External Account Binding keys (RFC 8555 §7.3.4): created by an operator (`signet eab create`, the
// admin API, later the attestation front door), shown once, stored encrypted, checked at newAccount.
import { randomBytes } from "node:crypto";
import { AUDIT_EVENTS } from "../ca/audit.js";
import type { AuditLog, ProvisionerRecord } from "../ca/ports.js";
import type { AttestedBinding } from "../ca/attestation/sign-options.js";
import type { AcmeStore, EabKeyRecord } from "./ports.js";

const HMAC_KEY_BYTES = 32;

/** AES-256-GCM over EAB HMAC keys, bound to their kid (the AAD), so a row cannot be moved to another. */
export { SecretBox as EabKeyBox } from "../ca/keys/secret-box.js";
import type { SecretBox as EabKeyBox } from "../ca/keys/secret-box.js";

export interface CreatedEabKey {
  kid: string;
  /** base64url, as ACME clients take it (certbot --eab-hmac-key, lego --hmac). Shown once. */
  hmacKey: string;
  provisioner: string;
  singleUse: boolean;
  expiresAt: Date | null;
  note: string | null;
}

export async function createEabKey(
  deps: { store: AcmeStore; box: EabKeyBox; audit: AuditLog },
  provisioner: ProvisionerRecord,
  actor: string,
  opts: { singleUse: boolean; ttlSeconds: number | null; note: string | null; now?: Date; binding?: AttestedBinding },
): Promise<CreatedEabKey> {
  const now = opts.now ?? new Date();
  const kid = `eab_${randomBytes(12).toString("base64url")}`;
  const hmacKey = randomBytes(HMAC_KEY_BYTES);
  const expiresAt = opts.ttlSeconds === null ? null : new Date(now.getTime() + opts.ttlSeconds * 1000);
  const record: EabKeyRecord = {
    kid,
    provisionerId: provisioner.id,
    keyCiphertext: deps.box.seal(kid, hmacKey),
    singleUse: opts.singleUse,
    note: opts.note,
    createdBy: actor,
    createdAt: now,
    expiresAt,
    usedAt: null,
    accountId: null,
    revokedAt: null,
    binding: opts.binding ?? null,
  };
  await deps.store.createEabKey(record);
  await deps.audit.append({
    event: AUDIT_EVENTS.acmeEabCreated,
    actor,
    target: `eab:${kid}`,
    data: { provisioner: provisioner.name, singleUse: opts.singleUse, expiresAt: expiresAt?.toISOString() ?? null, note: opts.note, ...(opts.binding ? { binding: opts.binding } : {}) },
  });
  return { kid, hmacKey: hmacKey.toString("base64url"), provisioner: provisioner.name, singleUse: opts.singleUse, expiresAt, note: opts.note };
}

/** What may be shown about a key (never the key). */
export function describeEabKey(k: EabKeyRecord, provisionerName: string, now = new Date()) {
  const state = k.revokedAt ? "revoked" : k.singleUse && k.usedAt ? "used" : k.expiresAt && k.expiresAt <= now ? "expired" : "usable";
  return {
    kid: k.kid,
    provisioner: provisionerName,
    state,
    singleUse: k.singleUse,
    note: k.note,
    createdBy: k.createdBy,
    createdAt: k.createdAt.toISOString(),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    usedAt: k.usedAt?.toISOString() ?? null,
    accountId: k.accountId,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}
