// Opens Signet's database: embedded PGlite under $SIGNET_HOME/db (with a lock file, since PGlite takes
// none), or PostgreSQL when a URL is given. Both get the same generated Prisma client and the same
// migrations, applied before anything else touches the schema.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite, type Transaction as PGliteTx } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "./generated/client.js";
import { acquireLock, type FileLock } from "./lock.js";
import { applyMigrations, readMigrations, type RawSql } from "./migrate.js";

export type { PrismaClient } from "./generated/client.js";

export interface Database {
  readonly kind: "pglite" | "postgresql";
  readonly prisma: PrismaClient;
  readonly raw: RawSql;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgresql://... ; when absent, the embedded database in `dataDir`. */
  url?: string | undefined;
  dataDir?: string | undefined;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** prisma/migrations, found from src/db (sources under vitest/tsx) or dist/src/db (compiled). */
export function migrationsDir(): string {
  const fromSrc = resolve(here, "../../prisma/migrations");
  return here.includes(`${"/dist/"}`) ? resolve(here, "../../../prisma/migrations") : fromSrc;
}

function pgliteRaw(db: PGlite | PGliteTx): RawSql {
  return {
    async exec(sql) {
      await db.exec(sql);
    },
    async query<T>(sql: string, params?: unknown[]) {
      return (await db.query<T>(sql, params as unknown[])).rows;
    },
    async transaction<T>(fn: (sql: RawSql) => Promise<T>) {
      if (!("transaction" in db)) return fn(pgliteRaw(db));
      return db.transaction((tx) => fn(pgliteRaw(tx)));
    },
  };
}

function pgRaw(pool: pg.Pool, client?: pg.PoolClient): RawSql {
  return {
    async exec(sql) {
      await (client ?? pool).query(sql);
    },
    async query<T>(sql: string, params?: unknown[]) {
      return (await (client ?? pool).query(sql, params)).rows as T[];
    },
    async transaction<T>(fn: (sql: RawSql) => Promise<T>) {
      if (client) return fn(pgRaw(pool, client));
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        const out = await fn(pgRaw(pool, c));
        await c.query("COMMIT");
        return out;
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },
  };
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const migrations = readMigrations(migrationsDir());
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10 });
    pool.on("error", () => undefined); // idle-client errors surface on the next query instead
    const raw = pgRaw(pool);
    try {
      await applyMigrations(raw, migrations);
    } catch (err) {
      await pool.end();
      throw err;
    }
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    return {
      kind: "postgresql",
      prisma,
      raw,
      async close() {
        await prisma.$disconnect();
        await pool.end().catch(() => undefined);
      },
    };
  }
  if (!opts.dataDir) throw new Error("openDatabase: dataDir or url is required");
  mkdirSync(dirname(opts.dataDir), { recursive: true, mode: 0o700 });
  const lock: FileLock = acquireLock(`${opts.dataDir}.lock`);
  let pglite: PGlite | undefined;
  try {
    pglite = await PGlite.create({ dataDir: opts.dataDir });
    const raw = pgliteRaw(pglite);
    await applyMigrations(raw, migrations);
    const prisma = new PrismaClient({ adapter: new PrismaPGlite(pglite) });
    const db = pglite;
    return {
      kind: "pglite",
      prisma,
      raw,
      async close() {
        await prisma.$disconnect().catch(() => undefined);
        await db.close().catch(() => undefined);
        lock.release();
      },
    };
  } catch (err) {
    await pglite?.close().catch(() => undefined);
    lock.release();
    throw err;
  }
}
