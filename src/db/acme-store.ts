// The ACME store over raw SQL (PostgreSQL or PGlite): every ACME request touches it, and the raw
// driver is several times faster than Prisma per statement (FACTS.md). Tables: prisma/schema.prisma.
import type { PublicJwk } from "../../acme/jws.js";
import type { AttestedBinding } from "../../ca/attestation/sign-options.js";
import type {
  AccountRecord,
  AccountStatus,
  AcmeStore,
  AuthzRecord,
  EabKeyRecord,
  NewAccount,
  OrderRecord,
  StoredOrderStatus,
  WindowCount,
} from "../../acme/ports.js";
import type { Identifier, ProblemDocument } from "../../acme/problems.js";
import type { RawSql } from "./migrate.js";

interface AccountRow {
  id: string;
  provisioner_id: string;
  thumbprint: string;
  jwk: PublicJwk;
  status: AccountStatus;
  contact: string[] | null;
  terms_agreed: boolean;
  eab_kid: string | null;
  created_at: Date;
}

interface OrderRow {
  id: string;
  account_id: string;
  provisioner_id: string;
  status: StoredOrderStatus;
  identifiers: Identifier[];
  authz_ids: string[] | null;
  not_before: Date | null;
  not_after: Date | null;
  profile: string | null;
  expires: Date;
  error: ProblemDocument | null;
  certificate_serial: string | null;
  replaces: string | null;
  created_at: Date;
}

interface AuthzRow {
  id: string;
  account_id: string;
  order_id: string;
  identifier_type: Identifier["type"];
  identifier_value: string;
  wildcard: boolean;
  status: AuthzRecord["status"];
  expires: Date;
  challenges: AuthzRecord["challenges"];
}

interface EabRow {
  kid: string;
  provisioner_id: string;
  key_ciphertext: Uint8Array;
  single_use: boolean;
  note: string | null;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  used_at: Date | null;
  account_id: string | null;
  revoked_at: Date | null;
  binding: AttestedBinding | null;
}

const ACCOUNT_COLUMNS = "id, provisioner_id, thumbprint, jwk, status, contact, terms_agreed, eab_kid, created_at";
const ORDER_COLUMNS = "id, account_id, provisioner_id, status, identifiers, authz_ids, not_before, not_after, profile, expires, error, certificate_serial, replaces, created_at";
const AUTHZ_COLUMNS = "id, account_id, order_id, identifier_type, identifier_value, wildcard, status, expires, challenges";

const account = (r: AccountRow): AccountRecord => ({
  id: r.id,
  provisionerId: r.provisioner_id,
  thumbprint: r.thumbprint,
  jwk: r.jwk,
  status: r.status,
  contact: r.contact ?? [],
  termsAgreed: r.terms_agreed,
  eabKid: r.eab_kid,
  createdAt: r.created_at,
});

const order = (r: OrderRow): OrderRecord => ({
  id: r.id,
  accountId: r.account_id,
  provisionerId: r.provisioner_id,
  status: r.status,
  identifiers: r.identifiers,
  authzIds: r.authz_ids ?? [],
  notBefore: r.not_before,
  notAfter: r.not_after,
  profile: r.profile,
  expires: r.expires,
  error: r.error,
  certificateSerial: r.certificate_serial,
  replaces: r.replaces,
  createdAt: r.created_at,
});

const authz = (r: AuthzRow): AuthzRecord => ({
  id: r.id,
  accountId: r.account_id,
  orderId: r.order_id,
  identifier: { type: r.identifier_type, value: r.identifier_value },
  wildcard: r.wildcard,
  status: r.status,
  expires: r.expires,
  challenges: r.challenges,
});

const eab = (r: EabRow): EabKeyRecord => ({
  kid: r.kid,
  provisionerId: r.provisioner_id,
  keyCiphertext: Buffer.from(r.key_ciphertext),
  singleUse: r.single_use,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  accountId: r.account_id,
  revokedAt: r.revoked_at,
  binding: r.binding ?? null,
});

const UNIQUE_VIOLATION = "23505";
const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === UNIQUE_VIOLATION;

export class SqlAcmeStore implements AcmeStore {
  constructor(private readonly sql: RawSql) {}

  // Every ACME POST spends a nonce and most read their account: the requests of one event-loop turn
  // share one statement for each.
  readonly #nonces = new TurnBatcher<{ nonce: string; expiresAt: Date }, boolean>(async (items) => {
    const rows = await this.sql.query<{ nonce: string }>(
      "INSERT INTO acme_used_nonces (nonce, expires_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT DO NOTHING RETURNING nonce",
      [items.map((b) => b.nonce), items.map((b) => b.expiresAt)],
    );
    const fresh = new Set(rows.map((r) => r.nonce));
    // A nonce twice in one batch is fresh once.
    return items.map((b) => fresh.delete(b.nonce));
  });
  readonly #accounts = new TurnBatcher<string, AccountRecord | null>(async (ids) => {
    const rows = await this.sql.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM acme_accounts WHERE id = ANY($1::text[])`, [ids]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => {
      const r = byId.get(id);
      return r ? account(r) : null;
    });
  });

  consumeNonce(nonce: string, expiresAt: Date): Promise<boolean> {
    return this.#nonces.add({ nonce, expiresAt });
  }

  async staleValidations(before: Date, limit: number): Promise<string[]> {
    const rows = await this.sql.query<{ id: string }>(
      `SELECT id FROM acme_authorizations WHERE status = 'pending' AND updated_at < $1 AND challenges @> '[{"status":"processing"}]'::jsonb LIMIT $2`,
      [before, limit],
    );
    return rows.map((r) => r.id);
  }

  async failStaleOrders(before: Date, error: ProblemDocument): Promise<number> {
    const rows = await this.sql.query<{ id: string }>(
      "UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now() WHERE status = 'processing' AND updated_at < $1 RETURNING id",
      [before, JSON.stringify(error)],
    );
    return rows.length;
  }

  async purgeExpired(before: Date): Promise<number> {
    await this.sql.query("DELETE FROM acme_authorizations WHERE expires < $1", [before]);
    const rows = await this.sql.query<{ n: number }>("WITH gone AS (DELETE FROM acme_orders WHERE expires < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone", [before]);
    return rows[0]?.n ?? 0;
  }

  async purgeNonces(before: Date): Promise<number> {
    const rows = await this.sql.query<{ n: number }>(
      "WITH gone AS (DELETE FROM acme_used_nonces WHERE expires_at < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone",
      [before],
    );
    return rows[0]?.n ?? 0;
  }

  account(id: string): Promise<AccountRecord | null> {
    return this.#accounts.add(id);
  }

  async accountByThumbprint(provisionerId: string, thumbprint: string): Promise<AccountRecord | null> {
    const rows = await this.sql.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM acme_accounts WHERE provisioner_id = $1 AND thumbprint = $2`, [provisionerId, thumbprint]);
    return rows[0] ? account(rows[0]) : null;
  }

  async createAccount(a: NewAccount, binding: { kid: string; singleUse: boolean } | null): Promise<{ account: AccountRecord; created: boolean } | "eab_used"> {
    const insert = (sql: RawSql) =>
      sql.query<AccountRow>(
        `INSERT INTO acme_accounts (id, provisioner_id, thumbprint, jwk, status, contact, terms_agreed, eab_kid)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${ACCOUNT_COLUMNS}`,
        [a.id, a.provisionerId, a.thumbprint, JSON.stringify(a.jwk), a.status, a.contact, a.termsAgreed, a.eabKid],
      );
    try {
      if (!binding) return { account: account((await insert(this.sql))[0]!), created: true };
      return await this.sql.transaction(async (tx) => {
        // The key is claimed first: of two newAccount requests with one single-use key, one wins.
        const claimed = await tx.query<{ kid: string }>(
          `UPDATE acme_eab_keys SET used_at = COALESCE(used_at, now()), account_id = COALESCE(account_id, $2)
            WHERE kid = $1 AND revoked_at IS NULL AND (NOT single_use OR used_at IS NULL) RETURNING kid`,
          [binding.kid, a.id],
        );
        if (claimed.length === 0) throw EAB_USED;
        return { account: account((await insert(tx))[0]!), created: true };
      });
    } catch (err) {
      if (err === EAB_USED) return "eab_used";
      if (!isUniqueViolation(err)) throw err;
      const existing = await this.accountByThumbprint(a.provisionerId, a.thumbprint);
      if (!existing) throw err;
      return { account: existing, created: false };
    }
  }

  async updateAccount(id: string, patch: { contact?: string[]; status?: AccountStatus }): Promise<AccountRecord | null> {
    const rows = await this.sql.query<AccountRow>(
      `UPDATE acme_accounts SET contact = COALESCE($2, contact), status = COALESCE($3, status), updated_at = now()
        WHERE id = $1 AND status = 'valid' RETURNING ${ACCOUNT_COLUMNS}`,
      [id, patch.contact ?? null, patch.status ?? null],
    );
    return rows[0] ? account(rows[0]) : null;
  }

  async changeKey(id: string, oldThumbprint: string, jwk: PublicJwk, newThumbprint: string): Promise<AccountRecord | "conflict" | null> {
    try {
      const rows = await this.sql.query<AccountRow>(
        `UPDATE acme_accounts SET jwk = $3, thumbprint = $4, updated_at = now()
          WHERE id = $1 AND thumbprint = $2 AND status = 'valid' RETURNING ${ACCOUNT_COLUMNS}`,
        [id, oldThumbprint, JSON.stringify(jwk), newThumbprint],
      );
      return rows[0] ? account(rows[0]) : null;
    } catch (err) {
      if (isUniqueViolation(err)) return "conflict";
      throw err;
    }
  }

  async ordersOfAccount(accountId: string, after: string | null, limit: number): Promise<{ ids: string[]; more: boolean }> {
    // §7.1.2.1: pending and later orders, not invalid ones (nor pending ones past their expiry).
    // Keyset pagination on (created_at, id), newest last; `after` is the last id of the previous page.
    const live = "o.status <> 'invalid' AND (o.status <> 'pending' OR o.expires > now())";
    const rows = await this.sql.query<{ id: string }>(
      after === null
        ? `SELECT o.id FROM acme_orders o WHERE o.account_id = $1 AND ${live} ORDER BY o.created_at, o.id LIMIT $2`
        : `SELECT o.id FROM acme_orders o, acme_orders a WHERE a.id = $3 AND o.account_id = $1 AND ${live}
            AND (o.created_at, o.id) > (a.created_at, a.id) ORDER BY o.created_at, o.id LIMIT $2`,
      after === null ? [accountId, limit + 1] : [accountId, limit + 1, after],
    );
    return { ids: rows.slice(0, limit).map((r) => r.id), more: rows.length > limit };
  }

  async createOrder(o: OrderRecord, authzs: AuthzRecord[]): Promise<void | "replaced"> {
    if (o.replaces !== null) {
      // A pending order past its expiry still holds its certificate in the unique index: it is over.
      await this.sql.query("UPDATE acme_orders SET status = 'invalid', updated_at = now() WHERE replaces = $1 AND status = 'pending' AND expires <= now()", [o.replaces]);
    }
    // One statement (atomic on its own): the order, and its authorizations from a JSON array.
    try {
      await this.#insertOrder(o, authzs);
    } catch (err) {
      if (o.replaces !== null && isUniqueViolation(err)) return "replaced";
      throw err;
    }
  }

  async #insertOrder(o: OrderRecord, authzs: AuthzRecord[]): Promise<void> {
    await this.sql.query(
      `WITH o AS (
         INSERT INTO acme_orders (id, account_id, provisioner_id, status, identifiers, authz_ids, not_before, not_after, profile, expires, replaces, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12))
       INSERT INTO acme_authorizations (id, account_id, order_id, identifier_type, identifier_value, wildcard, status, expires, challenges)
       SELECT x.id, $2, $1, x.identifier_type, x.identifier_value, x.wildcard, x.status, $10, x.challenges
         FROM jsonb_to_recordset($13::jsonb) AS x(id text, identifier_type text, identifier_value text, wildcard boolean, status text, challenges jsonb)`,
      [
        o.id, o.accountId, o.provisionerId, o.status, JSON.stringify(o.identifiers), o.authzIds, o.notBefore, o.notAfter, o.profile, o.expires, o.replaces, o.createdAt,
        JSON.stringify(authzs.map((a) => ({ id: a.id, identifier_type: a.identifier.type, identifier_value: a.identifier.value, wildcard: a.wildcard, status: a.status, challenges: a.challenges }))),
      ],
    );
  }

  async orderWithAuthzs(id: string): Promise<{ order: OrderRecord; authzs: AuthzRecord[] } | null> {
    const rows = await this.sql.query<OrderRow & { authzs: (Omit<AuthzRow, "expires"> & { expires: string })[] | null }>(
      `SELECT ${ORDER_COLUMNS.split(", ").map((c) => `o.${c}`).join(", ")},
              (SELECT json_agg(json_build_object(${AUTHZ_COLUMNS.split(", ").map((c) => `'${c}', a.${c}`).join(", ")})) FROM acme_authorizations a WHERE a.order_id = o.id) AS authzs
         FROM acme_orders o WHERE o.id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r) return null;
    return { order: order(r), authzs: (r.authzs ?? []).map((a) => authz({ ...a, expires: new Date(a.expires) })) };
  }

  async beginFinalize(id: string, now: Date): Promise<OrderRecord | null> {
    const rows = await this.sql.query<OrderRow>(
      `UPDATE acme_orders o SET status = 'processing', updated_at = now()
        WHERE o.id = $1 AND o.status = 'pending' AND o.expires > $2
          AND NOT EXISTS (SELECT 1 FROM acme_authorizations a WHERE a.order_id = o.id AND (a.status <> 'valid' OR a.expires <= $2))
        RETURNING ${ORDER_COLUMNS}`,
      [id, now],
    );
    return rows[0] ? order(rows[0]) : null;
  }

  async setOrderStatus(id: string, from: StoredOrderStatus, to: StoredOrderStatus, fields: { error?: ProblemDocument; certificateSerial?: string } = {}): Promise<OrderRecord | null> {
    const rows = await this.sql.query<OrderRow>(
      `UPDATE acme_orders SET status = $3, error = COALESCE($4, error), certificate_serial = COALESCE($5, certificate_serial), updated_at = now()
        WHERE id = $1 AND status = $2 RETURNING ${ORDER_COLUMNS}`,
      [id, from, to, fields.error ? JSON.stringify(fields.error) : null, fields.certificateSerial ?? null],
    );
    return rows[0] ? order(rows[0]) : null;
  }

  async orderReplacing(certId: string): Promise<OrderRecord | null> {
    const rows = await this.sql.query<OrderRow>(
      `SELECT ${ORDER_COLUMNS} FROM acme_orders WHERE replaces = $1 AND status <> 'invalid' AND (status <> 'pending' OR expires > now()) LIMIT 1`,
      [certId],
    );
    return rows[0] ? order(rows[0]) : null;
  }

  async recentActivity(accountId: string, since: Date): Promise<{ orders: WindowCount; failedValidations: WindowCount }> {
    const rows = await this.sql.query<{ orders: number; oldest_order: Date | null; failed: number; oldest_failure: Date | null }>(
      `SELECT o.n AS orders, o.oldest AS oldest_order, f.n AS failed, f.oldest AS oldest_failure
         FROM (SELECT count(*)::int AS n, min(created_at) AS oldest FROM acme_orders WHERE account_id = $1 AND created_at >= $2) o,
              (SELECT count(*)::int AS n, min(updated_at) AS oldest FROM acme_authorizations WHERE account_id = $1 AND status = 'invalid' AND updated_at >= $2) f`,
      [accountId, since],
    );
    const r = rows[0];
    return {
      orders: { count: r?.orders ?? 0, oldest: r?.oldest_order ?? null },
      failedValidations: { count: r?.failed ?? 0, oldest: r?.oldest_failure ?? null },
    };
  }

  async authz(id: string): Promise<AuthzRecord | null> {
    const rows = await this.sql.query<AuthzRow>(`SELECT ${AUTHZ_COLUMNS} FROM acme_authorizations WHERE id = $1`, [id]);
    return rows[0] ? authz(rows[0]) : null;
  }

  async updateAuthz(id: string, fn: (a: AuthzRecord) => AuthzRecord | null, current?: AuthzRecord): Promise<AuthzRecord | null> {
    // Optimistic: read (unless the caller just did), change, and write only if nobody wrote in between
    // (compared on status and challenges, the only columns that change); no locking transaction.
    for (let attempt = 0; attempt < 8; attempt++) {
      const before = attempt === 0 && current ? current : await this.authz(id);
      if (!before) return null;
      const after = fn(structuredClone(before));
      if (!after) return before;
      const rows = await this.sql.query<{ id: string }>(
        "UPDATE acme_authorizations SET status = $2, challenges = $3, updated_at = now() WHERE id = $1 AND status = $4 AND challenges = $5::jsonb RETURNING id",
        [id, after.status, JSON.stringify(after.challenges), before.status, JSON.stringify(before.challenges)],
      );
      if (rows.length === 1) return after;
    }
    throw new Error(`authorization ${id} kept changing under concurrent updates`);
  }

  async holdsValidAuthzs(accountId: string, identifiers: Identifier[], now: Date): Promise<boolean> {
    const keys = [...new Set(identifiers.map((i) => `${i.type}:${i.value}`))];
    const rows = await this.sql.query<{ n: number }>(
      `SELECT count(DISTINCT identifier_type || ':' || identifier_value)::int AS n FROM acme_authorizations
        WHERE account_id = $1 AND status = 'valid' AND expires > $2 AND identifier_type || ':' || identifier_value = ANY($3)`,
      [accountId, now, keys],
    );
    return (rows[0]?.n ?? 0) === keys.length;
  }

  async eabKey(kid: string): Promise<EabKeyRecord | null> {
    const rows = await this.sql.query<EabRow>("SELECT * FROM acme_eab_keys WHERE kid = $1", [kid]);
    return rows[0] ? eab(rows[0]) : null;
  }

  async createEabKey(k: EabKeyRecord): Promise<void> {
    await this.sql.query(
      `INSERT INTO acme_eab_keys (kid, provisioner_id, key_ciphertext, single_use, note, created_by, created_at, expires_at, binding)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [k.kid, k.provisionerId, k.keyCiphertext, k.singleUse, k.note, k.createdBy, k.createdAt, k.expiresAt, k.binding ? JSON.stringify(k.binding) : null],
    );
  }

  async listEabKeys(provisionerId: string | null): Promise<EabKeyRecord[]> {
    const rows = await this.sql.query<EabRow>(
      provisionerId === null ? "SELECT * FROM acme_eab_keys ORDER BY created_at" : "SELECT * FROM acme_eab_keys WHERE provisioner_id = $1 ORDER BY created_at",
      provisionerId === null ? [] : [provisionerId],
    );
    return rows.map(eab);
  }

  async revokeEabKey(kid: string, at: Date): Promise<EabKeyRecord | null> {
    const rows = await this.sql.query<EabRow>("UPDATE acme_eab_keys SET revoked_at = $2 WHERE kid = $1 AND revoked_at IS NULL RETURNING *", [kid, at]);
    return rows[0] ? eab(rows[0]) : null;
  }
}

const EAB_USED = new Error("eab key used");

/** Collects the calls made in one turn of the event loop and answers them with one `run`. */
class TurnBatcher<I, O> {
  #pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  constructor(private readonly run: (items: I[]) => Promise<O[]>) {}

  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      if (this.#pending.push({ item, resolve, reject }) === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      const out = await this.run(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(out[i]!));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
