import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // One cluster and one sidecar serve every file: run the files one after another.
    fileParallelism: false,
    // Integration tests start processes and run pg_regress.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ["default", "json"],
    outputFile: { json: ".tmp/vitest.json" },
  },
});
