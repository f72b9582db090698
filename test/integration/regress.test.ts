import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { run } from "../../harness/run-as.js";

describe("pg_regress suite of the FDW", () => {
  it("make -C fdw installcheck passes against the test cluster", async () => {
    const fdw = join(inject("repoRoot"), "fdw");
    expect(existsSync(join(fdw, "Makefile")), `${fdw}/Makefile`).toBe(true);
    const vars = [`PGHOST=${inject("pgHost")}`, `PGPORT=${inject("pgPort")}`, `PGUSER=${inject("pgUser")}`];
    const pgConfig = process.env.PG_CONFIG ? [`PG_CONFIG=${process.env.PG_CONFIG}`] : [];
    const result = await run("make", ["-C", fdw, "installcheck", ...vars, ...pgConfig], {
      env: {
        ...process.env,
        PGHOST: inject("pgHost"),
        PGPORT: String(inject("pgPort")),
        PGUSER: inject("pgUser"),
      },
      timeoutMs: 300_000,
    });
    const output = `${result.stdout}\n${result.stderr}`;
    let diffs = "";
    if (result.code !== 0) diffs = await readFile(join(fdw, "regression.diffs"), "utf8").catch(() => "");
    expect(result.code, `${output}\n--- regression.diffs ---\n${diffs}`).toBe(0);
    expect(output).toMatch(/All \d+ tests passed/);
  });
});
