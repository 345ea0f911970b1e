// Prisma CLI configuration. Only `prisma generate` runs here: migrations are plain SQL under
// prisma/migrations, applied at start-up by src/db/migrate.ts (see ../shared/FACTS.md: no Prisma CLI
// command can apply migrations to PGlite, and the schema engine cannot be downloaded offline).
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
});
