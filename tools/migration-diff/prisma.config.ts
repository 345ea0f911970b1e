// Prisma 6's wasm schema engine ("engine: js") diffs schemas offline. It wants an adapter even for a
// pure schema-to-schema diff, so point MIGRATION_DIFF_DATABASE_URL at any scratch PostgreSQL (nothing is written).
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  adapter: async () => new PrismaPg({ connectionString: process.env.MIGRATION_DIFF_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test" }),
});
