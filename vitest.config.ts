import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // PGlite instances are ~275 MB each and the machine has 2 cores: keep files mostly serial.
    maxWorkers: 2,
  },
});
