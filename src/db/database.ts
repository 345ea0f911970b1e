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
  /** Calls `onNotify` for each NOTIFY on `channel` from any connection (other replicas). PostgreSQL
   * only: the embedded database has one process, whose own writes are seen without it. `onError`
   * hears about a lost connection (it is re-established). Returns a function that stops listening. */
  listen(channel: string, onNotify: () => void, onError: (err: unknown) => void): Promise<() => Promise<void>>;
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

// Parameterised statements are prepared once per connection under a name (PostgreSQL then parses and
// plans them once): the hot paths (ACME, issuance) run the same few statements thousands of times.
// Bounded, since batch statements vary with the batch size.
const statementNames = new Map<string, string>();
function statementName(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (name === undefined && statementNames.size < 1_000) statementNames.set(sql, (name = `signet_${statementNames.size}`));
  return name;
}

function pgRaw(pool: pg.Pool, client?: pg.PoolClient): RawSql {
  return {
    async exec(sql) {
      await (client ?? pool).query(sql);
    },
    async query<T>(sql: string, params?: unknown[]) {
      // Only statements with parameters are named: a parameterless one may hold several commands.
      const name = params && params.length > 0 ? statementName(sql) : undefined;
      return (await (client ?? pool).query(name ? { name, text: sql, values: params } : { text: sql, values: params })).rows as T[];
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
    const url = opts.url;
    return {
      kind: "postgresql",
      prisma,
      raw,
      listen: (channel, onNotify, onError) => listenPg(url, channel, onNotify, onError),
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
      listen: async () => async () => undefined,
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

/** LISTEN on a dedicated connection (a pooled one would be handed to other queries), reconnecting
 * with a growing delay when it drops. A notification missed while disconnected is caught by the
 * listener's own polling, so this only has to be fast, not complete. */
async function listenPg(url: string, channel: string, onNotify: () => void, onError: (err: unknown) => void): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
  /** The one connection being set up or in use; events from any other are ignored. */
  let current: pg.Client | null = null;
  let stopped = false;
  let delay = 250;
  let timer: NodeJS.Timeout | null = null;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    current = c;
    c.on("notification", (n) => {
      if (c === current && n.channel === channel) onNotify();
    });
    c.on("error", (err) => {
      if (c !== current) return;
      onError(err);
      retry(c);
    });
    c.on("end", () => retry(c));
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      if (c === current) onError(err);
      retry(c);
      return;
    }
    if (stopped || c !== current) {
      c.removeAllListeners();
      await c.end().catch(() => undefined);
      return;
    }
    delay = 250;
    onNotify(); // whatever happened while disconnected
  };
  const retry = (c: pg.Client): void => {
    if (c !== current) return;
    current = null;
    c.removeAllListeners();
    c.on("error", () => undefined); // a late error from a connection being dropped
    void c.end().catch(() => undefined);
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = null;
      if (!stopped) void connect();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, 10_000);
  };
  await connect();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    const c = current;
    current = null;
    if (c) {
      c.removeAllListeners();
      c.on("error", () => undefined);
      await c.end().catch(() => undefined);
    }
  };
}
