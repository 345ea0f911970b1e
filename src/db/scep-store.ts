// The SCEP store over raw SQL (PostgreSQL or PGlite). Tables: prisma/schema.prisma (ScepTransaction,
// ScepChallenge, ScepRaKey).
import type { ChallengeBinding } from "../../ca/provisioners/index.js";
import type { FailInfo } from "../../scep/message.js";
import type { ChallengeRecord, NewTransaction, RaKeyRecord, ScepAuthorization, ScepStore, ScepTransactionRecord, TransactionStatus, TransactionUpdate } from "../../scep/ports.js";
import type { RawSql } from "./migrate.js";

interface TransactionRow {
  id: string;
  provisioner_id: string;
  transaction_id: string;
  request_hash: string;
  key_fingerprint: string;
  message_type: string;
  status: TransactionStatus;
  fail_info: FailInfo | null;
  reason: string | null;
  csr: Uint8Array;
  subject: string;
  names: { dns: string[]; ip: string[] };
  auth: ScepAuthorization;
  certificate_serial: string | null;
  decided_by: string | null;
  decided_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface ChallengeRow {
  id: string;
  provisioner_id: string;
  binding: ChallengeBinding;
  note: string | null;
  created_by: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  used_by: string | null;
}

const T_COLUMNS =
  "id, provisioner_id, transaction_id, request_hash, key_fingerprint, message_type, status, fail_info, reason, csr, subject, names, auth, certificate_serial, decided_by, decided_at, created_at, updated_at";
const C_COLUMNS = "id, provisioner_id, binding, note, created_by, created_at, expires_at, used_at, used_by";

const transaction = (r: TransactionRow): ScepTransactionRecord => ({
  id: r.id,
  provisionerId: r.provisioner_id,
  transactionId: r.transaction_id,
  requestHash: r.request_hash,
  keyFingerprint: r.key_fingerprint,
  messageType: r.message_type,
  status: r.status,
  failInfo: r.fail_info,
  reason: r.reason,
  csr: Buffer.from(r.csr),
  subject: r.subject,
  names: r.names,
  authorization: r.auth,
  certificateSerial: r.certificate_serial,
  decidedBy: r.decided_by,
  decidedAt: r.decided_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const challenge = (r: ChallengeRow): ChallengeRecord => ({
  id: r.id,
  provisionerId: r.provisioner_id,
  binding: r.binding,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  usedBy: r.used_by,
});

export class SqlScepStore implements ScepStore {
  constructor(private readonly sql: RawSql) {}

  async transactions(provisionerId: string, transactionId: string): Promise<ScepTransactionRecord[]> {
    const rows = await this.sql.query<TransactionRow>(
      `SELECT ${T_COLUMNS} FROM scep_transactions WHERE provisioner_id = $1 AND transaction_id = $2 ORDER BY created_at DESC, id DESC LIMIT 50`,
      [provisionerId, transactionId],
    );
    return rows.map(transaction);
  }

  async transaction(id: string): Promise<ScepTransactionRecord | null> {
    const [r] = await this.sql.query<TransactionRow>(`SELECT ${T_COLUMNS} FROM scep_transactions WHERE id = $1`, [id]);
    return r ? transaction(r) : null;
  }

  async claim(t: NewTransaction, staleBefore: Date): Promise<ScepTransactionRecord | null> {
    const [r] = await this.sql.query<TransactionRow>(
      `INSERT INTO scep_transactions (id, provisioner_id, transaction_id, request_hash, key_fingerprint, message_type, status, csr, subject, names, auth)
       VALUES ($1, $2, $3, $4, $5, $6, 'processing', $7, $8, $9, $10)
       ON CONFLICT (provisioner_id, transaction_id, request_hash) DO UPDATE SET updated_at = CURRENT_TIMESTAMP, auth = EXCLUDED.auth
         WHERE scep_transactions.status = 'processing' AND scep_transactions.updated_at < $11
       RETURNING ${T_COLUMNS}`,
      [t.id, t.provisionerId, t.transactionId, t.requestHash, t.keyFingerprint, t.messageType, t.csr, t.subject, JSON.stringify(t.names), JSON.stringify(t.authorization), staleBefore],
    );
    return r ? transaction(r) : null;
  }

  async update(id: string, u: TransactionUpdate, from: TransactionStatus[]): Promise<ScepTransactionRecord | null> {
    const [r] = await this.sql.query<TransactionRow>(
      `UPDATE scep_transactions SET status = $2, fail_info = $3, reason = $4, certificate_serial = COALESCE($5, certificate_serial),
              decided_by = COALESCE($6, decided_by), decided_at = CASE WHEN $6::text IS NULL THEN decided_at ELSE CURRENT_TIMESTAMP END,
              auth = COALESCE($7::jsonb, auth), updated_at = CURRENT_TIMESTAMP
        WHERE id = $1 AND status = ANY($8::text[])
       RETURNING ${T_COLUMNS}`,
      [id, u.status, u.failInfo ?? null, u.reason ?? null, u.certificateSerial ?? null, u.decidedBy ?? null, u.authorization ? JSON.stringify(u.authorization) : null, from],
    );
    return r ? transaction(r) : null;
  }

  async release(id: string): Promise<void> {
    await this.sql.query("DELETE FROM scep_transactions WHERE id = $1 AND status = 'processing'", [id]);
  }

  async listTransactions(filter: { status?: TransactionStatus; provisionerId?: string }, limit: number): Promise<ScepTransactionRecord[]> {
    const rows = await this.sql.query<TransactionRow>(
      `SELECT ${T_COLUMNS} FROM scep_transactions
        WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR provisioner_id = $2)
        ORDER BY created_at, id LIMIT $3`,
      [filter.status ?? null, filter.provisionerId ?? null, limit],
    );
    return rows.map(transaction);
  }

  async createChallenge(c: Omit<ChallengeRecord, "usedAt" | "usedBy"> & { secretHash: string }): Promise<void> {
    await this.sql.query(
      `INSERT INTO scep_challenges (id, provisioner_id, secret_hash, binding, note, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [c.id, c.provisionerId, c.secretHash, JSON.stringify(c.binding), c.note, c.createdBy, c.createdAt, c.expiresAt],
    );
  }

  async spendChallenge(provisionerId: string, secretHash: string, usedBy: string, now: Date): Promise<ChallengeRecord | null> {
    const [r] = await this.sql.query<ChallengeRow>(
      `UPDATE scep_challenges SET used_at = $4, used_by = $3
        WHERE secret_hash = $2 AND provisioner_id = $1 AND (used_at IS NULL OR used_by = $3) AND expires_at > $4
       RETURNING ${C_COLUMNS}`,
      [provisionerId, secretHash, usedBy, now],
    );
    return r ? challenge(r) : null;
  }

  async restoreChallenge(id: string, usedBy: string): Promise<void> {
    await this.sql.query(`UPDATE scep_challenges SET used_at = NULL, used_by = NULL WHERE id = $1 AND used_by = $2`, [id, usedBy]);
  }

  async listChallenges(provisionerId: string | null, limit: number): Promise<ChallengeRecord[]> {
    const rows = await this.sql.query<ChallengeRow>(
      `SELECT ${C_COLUMNS} FROM scep_challenges WHERE ($1::text IS NULL OR provisioner_id = $1) ORDER BY created_at DESC LIMIT $2`,
      [provisionerId, limit],
    );
    return rows.map(challenge);
  }

  async raKeys(): Promise<RaKeyRecord[]> {
    const rows = await this.sql.query<{ id: string; cert_der: Uint8Array; key_ciphertext: Uint8Array; not_after: Date; created_at: Date }>(
      "SELECT id, cert_der, key_ciphertext, not_after, created_at FROM scep_ra_keys ORDER BY created_at DESC",
    );
    return rows.map((r) => ({ id: r.id, certDer: Buffer.from(r.cert_der), keyCiphertext: Buffer.from(r.key_ciphertext), notAfter: r.not_after, createdAt: r.created_at }));
  }

  async addRaKey(k: Omit<RaKeyRecord, "createdAt">): Promise<boolean> {
    const rows = await this.sql.query(
      "INSERT INTO scep_ra_keys (id, cert_der, key_ciphertext, not_after) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING id",
      [k.id, k.certDer, k.keyCiphertext, k.notAfter],
    );
    return rows.length > 0;
  }
}
