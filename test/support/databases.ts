// Which databases a suite runs against: embedded PGlite always; PostgreSQL when TEST_DATABASE_URL is
// set (`.ci/run` always sets it). Each PostgreSQL suite gets a fresh database, dropped afterwards.
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface DbTarget {
  name: "pglite" | "postgresql";
  /** Creates a fresh database and returns its URL (PostgreSQL) or undefined (PGlite: a new data dir). */
  create(): Promise<string | undefined>;
  dropAll(): Promise<void>;
}

const PG_URL = process.env.TEST_DATABASE_URL;

export const postgresqlSkipReason = PG_URL ? null : "PostgreSQL suites skipped: set TEST_DATABASE_URL=postgresql://... to run them (CI always does)";

export function dbTargets(): DbTarget[] {
  const targets: DbTarget[] = [{ name: "pglite", create: async () => undefined, dropAll: async () => undefined }];
  if (PG_URL) {
    const created: string[] = [];
    targets.push({
      name: "postgresql",
      async create() {
        const name = `signet_test_${randomBytes(6).toString("hex")}`;
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        try {
          await admin.query(`CREATE DATABASE ${name}`);
        } finally {
          await admin.end();
        }
        created.push(name);
        const u = new URL(PG_URL);
        u.pathname = `/${name}`;
        return u.toString();
      },
      async dropAll() {
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        try {
          for (const name of created.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await admin.end();
        }
      },
    });
  } else {
    // Said once per run, so a developer knows why fewer suites ran.
    process.stderr.write(`\n[signet tests] ${postgresqlSkipReason}\n`);
  }
  return targets;
}
