// External Account Binding keys (RFC 8555 §7.3.4): created by an operator (`signet eab create`, the
// admin API, later the attestation front door), shown once, stored encrypted, checked at newAccount.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { AUDIT_EVENTS } from "../ca/audit.js";
import type { AuditLog, ProvisionerRecord } from "../ca/ports.js";
import type { AcmeStore, EabKeyRecord } from "./ports.js";

const IV = 12;
const TAG = 16;
const HMAC_KEY_BYTES = 32;

/** AES-256-GCM over EAB HMAC keys, bound to their kid (the AAD), so a row cannot be moved to another. */
export class EabKeyBox {
  readonly #key: Buffer;
  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error("the EAB wrapping key must be 32 bytes");
    this.#key = key;
  }

  seal(kid: string, hmacKey: Buffer): Buffer {
    const iv = randomBytes(IV);
    const c = createCipheriv("aes-256-gcm", this.#key, iv);
    c.setAAD(Buffer.from(kid, "utf8"));
    const ct = Buffer.concat([c.update(hmacKey), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), ct]);
  }

  /** null when the ciphertext does not open (another CA key, or tampering). */
  open(kid: string, sealed: Buffer): Buffer | null {
    if (sealed.length <= IV + TAG) return null;
    try {
      const d = createDecipheriv("aes-256-gcm", this.#key, sealed.subarray(0, IV));
      d.setAAD(Buffer.from(kid, "utf8"));
      d.setAuthTag(sealed.subarray(IV, IV + TAG));
      return Buffer.concat([d.update(sealed.subarray(IV + TAG)), d.final()]);
    } catch {
      return null;
    }
  }
}

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
  opts: { singleUse: boolean; ttlSeconds: number | null; note: string | null; now?: Date },
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
  };
  await deps.store.createEabKey(record);
  await deps.audit.append({
    event: AUDIT_EVENTS.acmeEabCreated,
    actor,
    target: `eab:${kid}`,
    data: { provisioner: provisioner.name, singleUse: opts.singleUse, expiresAt: expiresAt?.toISOString() ?? null, note: opts.note },
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
