import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    teardownTimeout: 60_000,
    reporters: ["default", "json"],
    outputFile: { json: ".tmp/vitest.json" },
    projects: [
      {
        // Unit tests: fixtures and pure code, no cluster, no sidecar process.
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // The row pacer's test collects garbage the way the sidecar does (bin/pg-meminfo).
          execArgv: ["--expose-gc"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/bench/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          // One cluster and one sidecar serve every file: run the files one after another.
          fileParallelism: false,
          // Integration tests start processes and run pg_regress.
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // PostgreSQL 15, 17 and 18 and the sidecar in containers; no host cluster. Timeouts in the file.
        // After the others (groupOrder): its image builds would slow their timing-sensitive tests.
        test: { name: "containers", include: ["test/containers/**/*.test.ts"], sequence: { groupOrder: 1 } },
      },
    ],
  },
});
