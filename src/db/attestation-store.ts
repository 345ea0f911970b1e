// Attestation state over raw SQL: join tokens (hashed) and the single-use identifiers of accepted
// evidence. Tables: prisma/schema.prisma (AttestationJoinToken, AttestationUsedId).
import type { RawSql } from "./migrate.js";

export interface JoinTokenRecord {
  id: string;
  provisionerId: string;
  claims: Record<string, string | string[]>;
  note: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
}

interface JoinTokenRow {
  id: string;
  provisioner_id: string;
  claims: Record<string, string | string[]>;
  note: string | null;
  created_by: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
}

const COLUMNS = "id, provisioner_id, claims, note, created_by, created_at, expires_at, used_at";
const row = (r: JoinTokenRow): JoinTokenRecord => ({
  id: r.id,
  provisionerId: r.provisioner_id,
  claims: r.claims,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
});

export class SqlAttestationStore {
  constructor(private readonly sql: RawSql) {}

  async createJoinToken(t: Omit<JoinTokenRecord, "usedAt"> & { secretHash: string }): Promise<void> {
    await this.sql.query(
      `INSERT INTO attestation_join_tokens (id, provisioner_id, secret_hash, claims, note, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [t.id, t.provisionerId, t.secretHash, JSON.stringify(t.claims), t.note, t.createdBy, t.createdAt, t.expiresAt],
    );
  }

  /** Spends a usable join token atomically; null when unknown, used, expired or another provisioner's. */
  async spendJoinToken(provisionerId: string, secretHash: string, now: Date): Promise<JoinTokenRecord | null> {
    const [r] = await this.sql.query<JoinTokenRow>(
      `UPDATE attestation_join_tokens SET used_at = $3 WHERE secret_hash = $2 AND provisioner_id = $1 AND used_at IS NULL AND expires_at > $3 RETURNING ${COLUMNS}`,
      [provisionerId, secretHash, now],
    );
    return r ? row(r) : null;
  }

  /** A usable join token, without spending it (signet policy test). */
  async findJoinToken(provisionerId: string, secretHash: string, now: Date): Promise<JoinTokenRecord | null> {
    const [r] = await this.sql.query<JoinTokenRow>(`SELECT ${COLUMNS} FROM attestation_join_tokens WHERE secret_hash = $2 AND provisioner_id = $1 AND used_at IS NULL AND expires_at > $3`, [provisionerId, secretHash, now]);
    return r ? row(r) : null;
  }

  async listJoinTokens(provisionerId: string | null, limit: number): Promise<JoinTokenRecord[]> {
    const rows = await this.sql.query<JoinTokenRow>(`SELECT ${COLUMNS} FROM attestation_join_tokens WHERE ($1::text IS NULL OR provisioner_id = $1) ORDER BY created_at DESC LIMIT $2`, [provisionerId, limit]);
    return rows.map(row);
  }

  /** Records a single-use evidence id; false when it was already used (a replay). */
  async spendUniqueId(id: string, expiresAt: Date): Promise<boolean> {
    const rows = await this.sql.query("INSERT INTO attestation_used_ids (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id", [id, expiresAt]);
    return rows.length > 0;
  }

  async lineage(serial: string): Promise<{ firstNotBefore: Date; renewals: number; parentSerial: string | null } | null> {
    const [r] = await this.sql.query<{ first_not_before: Date; renewals: number; parent_serial: string | null }>("SELECT first_not_before, renewals, parent_serial FROM attestation_lineage WHERE serial = $1", [serial]);
    return r ? { firstNotBefore: r.first_not_before, renewals: r.renewals, parentSerial: r.parent_serial } : null;
  }

  /** The serials a certificate was renewed from, nearest first (at most `max`). */
  async ancestors(serial: string, max: number): Promise<string[]> {
    const rows = await this.sql.query<{ parent_serial: string }>(
      `WITH RECURSIVE up(serial, parent_serial, depth) AS (
         SELECT serial, parent_serial, 1 FROM attestation_lineage WHERE serial = $1
         UNION ALL
         SELECT l.serial, l.parent_serial, up.depth + 1 FROM attestation_lineage l JOIN up ON l.serial = up.parent_serial WHERE up.depth < $2
       ) SELECT parent_serial FROM up WHERE parent_serial IS NOT NULL ORDER BY depth`,
      [serial, max],
    );
    return rows.map((r) => r.parent_serial);
  }

  async addLineage(serial: string, firstNotBefore: Date, renewals: number, parentSerial: string): Promise<void> {
    await this.sql.query("INSERT INTO attestation_lineage (serial, first_not_before, renewals, parent_serial) VALUES ($1, $2, $3, $4) ON CONFLICT (serial) DO NOTHING", [serial, firstNotBefore, renewals, parentSerial]);
  }

  /** Claims the one renewal a certificate gets; false when it was renewed (or is being renewed) already. */
  async reserveRenewal(parentSerial: string): Promise<boolean> {
    const rows = await this.sql.query("INSERT INTO attestation_renewals (parent_serial) VALUES ($1) ON CONFLICT (parent_serial) DO NOTHING RETURNING parent_serial", [parentSerial]);
    return rows.length > 0;
  }

  async releaseRenewal(parentSerial: string): Promise<void> {
    await this.sql.query("DELETE FROM attestation_renewals WHERE parent_serial = $1", [parentSerial]);
  }

  /** Gives a spent join token back (what it was spent for was not handed out). */
  async restoreJoinToken(provisionerId: string, secretHash: string): Promise<void> {
    await this.sql.query("UPDATE attestation_join_tokens SET used_at = NULL WHERE provisioner_id = $1 AND secret_hash = $2", [provisionerId, secretHash]);
  }

  async unspendUniqueId(id: string): Promise<void> {
    await this.sql.query("DELETE FROM attestation_used_ids WHERE id = $1", [id]);
  }

  async purgeUsedIds(before: Date): Promise<void> {
    await this.sql.query("DELETE FROM attestation_used_ids WHERE expires_at < $1", [before]);
  }

  // TPM 2.0 devices (tables TpmActivation, TpmDevice).

  async createTpmActivation(a: TpmActivationRecord & { secretHash: string }): Promise<void> {
    await this.sql.query(
      "INSERT INTO tpm_activations (id, provisioner_id, permanent_id, ek_issuer, claims, ak_spki, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
      [a.id, a.provisionerId, a.permanentId, a.ekIssuer, JSON.stringify(a.claims), a.akSpki, a.secretHash, a.createdAt, a.expiresAt],
    );
  }

  /** Spends an activation whose secret matches, atomically; null when unknown, used, expired or wrong. */
  async spendTpmActivation(provisionerId: string, id: string, secretHash: string, now: Date): Promise<TpmActivationRecord | null> {
    const [r] = await this.sql.query<{ id: string; provisioner_id: string; permanent_id: string; ek_issuer: string; claims: TpmClaims; ak_spki: Buffer | Uint8Array; created_at: Date; expires_at: Date }>(
      `UPDATE tpm_activations SET used_at = $4 WHERE id = $2 AND provisioner_id = $1 AND secret_hash = $3 AND used_at IS NULL AND expires_at > $4
       RETURNING id, provisioner_id, permanent_id, ek_issuer, claims, ak_spki, created_at, expires_at`,
      [provisionerId, id, secretHash, now],
    );
    return r
      ? { id: r.id, provisionerId: r.provisioner_id, permanentId: r.permanent_id, ekIssuer: r.ek_issuer, claims: r.claims, akSpki: Buffer.from(r.ak_spki), createdAt: r.created_at, expiresAt: r.expires_at }
      : null;
  }

  /** Keeps a device's newest `keep` open activations and deletes the rest (and its spent ones). */
  async trimTpmActivations(provisionerId: string, permanentId: string, keep: number): Promise<void> {
    await this.sql.query(
      `DELETE FROM tpm_activations WHERE provisioner_id = $1 AND permanent_id = $2 AND id NOT IN (
         SELECT id FROM tpm_activations WHERE provisioner_id = $1 AND permanent_id = $2 AND used_at IS NULL ORDER BY created_at DESC, id LIMIT $3)`,
      [provisionerId, permanentId, keep],
    );
  }

  async restoreTpmActivation(id: string): Promise<void> {
    await this.sql.query("UPDATE tpm_activations SET used_at = NULL WHERE id = $1", [id]);
  }

  async addTpmDevice(d: TpmDeviceRecord): Promise<void> {
    await this.sql.query("INSERT INTO tpm_devices (ak_serial, provisioner_id, permanent_id, ek_issuer, claims, created_at) VALUES ($1, $2, $3, $4, $5, $6)", [
      d.akSerial,
      d.provisionerId,
      d.permanentId,
      d.ekIssuer,
      JSON.stringify(d.claims),
      d.createdAt,
    ]);
  }

  async tpmDevice(akSerial: string): Promise<TpmDeviceRecord | null> {
    const [r] = await this.sql.query<{ ak_serial: string; provisioner_id: string; permanent_id: string; ek_issuer: string; claims: TpmClaims; created_at: Date }>(
      "SELECT ak_serial, provisioner_id, permanent_id, ek_issuer, claims, created_at FROM tpm_devices WHERE ak_serial = $1",
      [akSerial],
    );
    return r ? { akSerial: r.ak_serial, provisionerId: r.provisioner_id, permanentId: r.permanent_id, ekIssuer: r.ek_issuer, claims: r.claims, createdAt: r.created_at } : null;
  }

  async purgeTpmActivations(before: Date): Promise<void> {
    await this.sql.query("DELETE FROM tpm_activations WHERE expires_at < $1", [before]);
  }
}

/** What the posture policy reads of a TPM: its manufacturer's attributes and identifiers. */
export type TpmClaims = Record<string, string>;

export interface TpmActivationRecord {
  id: string;
  provisionerId: string;
  permanentId: string;
  ekIssuer: string;
  claims: TpmClaims;
  akSpki: Buffer;
  createdAt: Date;
  expiresAt: Date;
}

export interface TpmDeviceRecord {
  akSerial: string;
  provisionerId: string;
  permanentId: string;
  ekIssuer: string;
  claims: TpmClaims;
  createdAt: Date;
}
