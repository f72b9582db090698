import { describe, expect, it } from "vitest";
import { parseDumpMessage } from "../../../sidecar/contexts/dump-lines.js";
import {
  type ContextDump,
  type ContextRow,
  DumpAssembler,
  parseDumps,
} from "../../../sidecar/contexts/dump-parser.js";
import { DumpIncompleteError } from "../../../sidecar/errors.js";
import { DESTINATIONS, fixture, PG15, recordsOf } from "./fixtures.js";

const byName = (dump: ContextDump | undefined, name: string) =>
  dump?.rows.filter((r) => r.name === name) ?? [];

/** Rows are depth-first: each row's parent is the nearest earlier row one level up. */
function checkTree(dump: ContextDump, base: number): void {
  const chain: ContextRow[] = [];
  for (const row of dump.rows) {
    const depth = row.level - base;
    if (row.summarizedContexts !== null) {
      expect(row.parent).toBe(chain[depth - 1]?.name);
      expect(row.path).toEqual(chain[depth - 1]?.path);
      continue;
    }
    chain.length = depth;
    expect(row.parent).toBe(depth === 0 ? null : chain[depth - 1]?.name);
    expect(row.path).toHaveLength(depth + 1);
    expect(row.path.slice(0, -1)).toEqual(chain[depth - 1]?.path ?? []);
    chain.push(row);
  }
  // Breadth-first ids: every id of a level comes before any id of the next level, and all are distinct.
  const ids = dump.rows.filter((r) => r.summarizedContexts === null).map((r) => r.path.at(-1) as number);
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort((a, b) => a - b)).toEqual(ids.map((_, i) => i + 1));
  const contexts = dump.rows.filter((r) => r.summarizedContexts === null);
  for (const a of contexts) {
    for (const b of contexts) {
      if (a.level < b.level) expect(a.path.at(-1)).toBeLessThan(b.path.at(-1) as number);
    }
  }
}

function sum(dump: ContextDump, counter: "totalBytes" | "usedBytes"): bigint {
  return dump.rows.reduce((acc, r) => acc + BigInt(r[counter]), 0n);
}

describe("the real PostgreSQL 15 dumps", () => {
  for (const { ext, destination } of DESTINATIONS) {
    describe(destination, () => {
      const dumps = parseDumps(recordsOf(fixture(`pg15-three-dumps.${ext}`), destination), 15);
      const of = (pid: number) => dumps.find((d) => d.pid === pid);

      it("yields the three interleaved dumps, each adding up to its Grand total", () => {
        expect(dumps.map((d) => d.pid).sort()).toEqual(Object.values(PG15).sort());
        expect(of(PG15.bigVariable)?.grandTotal.totalBytes).toBe("61750304");
        expect(of(PG15.prepared)?.rows).toHaveLength(226);
        for (const dump of dumps) {
          expect(sum(dump, "totalBytes")).toBe(BigInt(dump.grandTotal.totalBytes));
          expect(sum(dump, "usedBytes")).toBe(BigInt(dump.grandTotal.usedBytes));
          checkTree(dump, 0);
        }
      });

      it("shows the 30 MB PL/pgSQL variable in SPI Proc and its CachedPlan", () => {
        const [spi] = byName(of(PG15.bigVariable), "SPI Proc");
        expect(spi).toMatchObject({ level: 3, totalBytes: "30016448", usedBytes: "30009272", type: null });
        const plan = byName(of(PG15.bigVariable), "CachedPlan").find(
          (r) => r.ident === "repeat('x', 30000000)",
        );
        expect(plan).toMatchObject({ totalBytes: "30002112", parent: "CacheMemoryContext", level: 2 });
      });

      it("keeps idents that contain ': ', cut by the server at 100 bytes", () => {
        const sources = byName(of(PG15.prepared), "CachedPlanSource");
        expect(sources.length).toBeGreaterThan(0);
        expect(sources[0]?.ident).toMatch(/^PREPARE q1 AS SELECT 'k: v', 1; .*\.\.\.$/);
        expect(sources[0]?.totalBytes).toBe("18432");
      });

      it("turns the '116 more child contexts' line into a summarized row under CacheMemoryContext", () => {
        const summaries = of(PG15.prepared)?.rows.filter((r) => r.summarizedContexts !== null);
        const [cache] = byName(of(PG15.prepared), "CacheMemoryContext");
        expect(summaries).toEqual([
          expect.objectContaining({
            name: null,
            parent: "CacheMemoryContext",
            level: 2,
            path: cache?.path,
            summarizedContexts: 116,
            totalBytes: "769024",
            totalNblocks: "287",
            freeBytes: "316984",
            freeChunks: "144",
            usedBytes: "452040",
            type: null,
          }),
        ]);
      });

      it("numbers levels from 0 and paths from 1, breadth-first", () => {
        const dump = of(PG15.caller);
        expect(dump?.rows[0]).toMatchObject({ name: "TopMemoryContext", level: 0, parent: null, path: [1] });
        expect(dump?.rows[1]).toMatchObject({ name: "TopTransactionContext", level: 1, path: [1, 2] });
      });
    });
  }
});

describe("dumps built from the 16, 17 and 18 formats", () => {
  it("16: tells Slab (with its empty blocks), Generation and AllocSet apart", () => {
    const [dump] = parseDumps(
      recordsOf(fixture("pg16-walsender.log"), "stderr", "%t [%p]: [%l-1] user=%u,db=%d "),
      16,
    );
    expect(dump?.pid).toBe(5151);
    expect(byName(dump, "Change")[0]).toMatchObject({
      type: "Slab",
      totalBytes: "2097152",
      parent: "ReorderBuffer",
    });
    expect(byName(dump, "Tuples")[0]).toMatchObject({
      type: "Generation",
      totalNblocks: "3",
      freeChunks: "2",
    });
    expect(byName(dump, "ReorderBuffer")[0]?.type).toBe("AllocSet");
    expect(dump?.rows.find((r) => r.summarizedContexts !== null)).toMatchObject({
      summarizedContexts: 12,
      level: 2,
    });
    if (dump) checkTree(dump, 0);
  });

  for (const major of [17, 18]) {
    for (const { ext, destination } of DESTINATIONS) {
      it(`${major} ${destination}: two interleaved dumps, Bump, a name with ': ', a stats-like ident`, () => {
        const dumps = parseDumps(recordsOf(fixture(`pg${major}-sort.${ext}`), destination), major);
        expect(dumps.map((d) => d.pid)).toEqual([4343, 4242]);
        const dump = dumps[1] as ContextDump;
        const base = major >= 18 ? 1 : 0;
        checkTree(dump, base);
        expect(dump.rows[0]).toMatchObject({ name: "TopMemoryContext", level: base, path: [1] });
        expect(byName(dump, "Caller tuples")[0]).toMatchObject({
          type: "Bump",
          level: 6 + base,
          parent: "TupleSort sort",
          freeChunks: "0",
        });
        expect(byName(dump, "tuplestore tuples")[0]?.type).toBe("Generation");
        expect(byName(dump, "Change")[0]?.type).toBe("Slab");
        expect(byName(dump, "PgStat: odd name")[0]).toMatchObject({
          ident: null,
          totalBytes: "16384",
          type: "AllocSet",
        });
        expect(byName(dump, "CachedPlanSource")[0]).toMatchObject({
          ident: "SELECT 'x: 10 total in 1 blocks; 0 free (0 chunks); 10 used: y' AS trap",
          totalBytes: "4096",
        });
        if (major >= 18) {
          // PostgreSQL 18's view: path[level] is the context itself.
          for (const row of dump.rows.filter((r) => r.summarizedContexts === null)) {
            expect(row.path).toHaveLength(row.level);
          }
        }
        expect(sum(dump, "totalBytes")).toBe(BigInt(dump.grandTotal.totalBytes));
      });
    }
  }
});

describe("parseDumpMessage", () => {
  it("keeps byte counts above 2^53 exact, as decimal strings", () => {
    const line = parseDumpMessage(
      "level: 1; Huge: 18446744073709551615 total in 9007199254740993 blocks; 9007199254740993 free (1 chunks); 18437736874454810622 used",
      16,
    );
    expect(line).toMatchObject({
      kind: "context",
      name: "Huge",
      stats: {
        totalBytes: "18446744073709551615",
        totalNblocks: "9007199254740993",
        usedBytes: "18437736874454810622",
      },
    });
  });

  it("rejects what %zu cannot print: above 2^64-1, leading zeros, used not total - free", () => {
    expect(
      parseDumpMessage(
        "level: 1; X: 18446744073709551616 total in 1 blocks; 0 free (0 chunks); 18446744073709551616 used",
        16,
      ),
    ).toBeUndefined();
    expect(
      parseDumpMessage("level: 1; X: 010 total in 1 blocks; 0 free (0 chunks); 10 used", 16),
    ).toBeUndefined();
    expect(
      parseDumpMessage("level: 1; X: 10 total in 1 blocks; 1 free (0 chunks); 10 used", 16),
    ).toBeUndefined();
  });

  it("reads the Slab and Bump formats only on the versions that print them", () => {
    const slab = "level: 2; Change: 100 total in 1 blocks; 0 empty blocks; 10 free (1 chunks); 90 used";
    const bump = "level: 2; Caller tuples: 100 total in 1 blocks; 10 free; 90 used";
    expect(parseDumpMessage(slab, 15)).toBeUndefined();
    expect(parseDumpMessage(slab, 16)).toMatchObject({ stats: { type: "Slab" } });
    expect(parseDumpMessage(bump, 16)).toBeUndefined();
    expect(parseDumpMessage(bump, 17)).toMatchObject({ stats: { type: "Bump", freeChunks: "0" } });
  });

  it("ignores garbage", () => {
    for (const message of [
      "",
      "level: ",
      "level: x; A: 1 total in 1 blocks; 0 free (0 chunks); 1 used",
      "level: 1; : 1 total in 1 blocks; 0 free (0 chunks); 1 used",
      "level: 1; NoStats",
      "Grand total: lots",
      "logging memory contexts of PID twelve",
      "statement: SELECT 'level: 1; A: 1 total in 1 blocks; 0 free (0 chunks); 1 used'",
    ]) {
      expect(parseDumpMessage(message, 17)).toBeUndefined();
    }
  });
});

describe("DumpAssembler", () => {
  const ctx = (level: number, name: string, total = 10) =>
    `level: ${level}; ${name}: ${total} total in 1 blocks; 0 free (0 chunks); ${total} used`;
  const grand = (total: number, blocks: number) =>
    `Grand total: ${total} bytes in ${blocks} blocks; 0 free (0 chunks); ${total} used`;

  it("gives nothing for a dump cut before its Grand total", () => {
    const a = new DumpAssembler(9, 16);
    for (const m of ["logging memory contexts of PID 9", ctx(0, "TopMemoryContext"), ctx(1, "A")]) {
      expect(a.addMessage(m)).toBeUndefined();
    }
    expect(a.started).toBe(true);
  });

  it("ignores the tail of an earlier dump, and starts over at a new header", () => {
    const a = new DumpAssembler(9, 16);
    expect(a.addMessage(ctx(1, "Tail"))).toBeUndefined();
    expect(a.addMessage(grand(10, 1))).toBeUndefined();
    expect(a.started).toBe(false);
    a.addMessage("logging memory contexts of PID 9");
    a.addMessage(ctx(0, "TopMemoryContext"));
    a.addMessage(ctx(1, "Lost"));
    a.addMessage("logging memory contexts of PID 9");
    a.addMessage(ctx(0, "TopMemoryContext", 20));
    const dump = a.addMessage(grand(20, 1));
    expect(dump?.rows.map((r) => r.name)).toEqual(["TopMemoryContext"]);
  });

  it("begins at a top-level line when the header is in another language", () => {
    const a = new DumpAssembler(9, 18);
    a.addMessage("journalisation des contextes mémoire du PID 9");
    a.addMessage(ctx(1, "TopMemoryContext"));
    const dump = a.addMessage(ctx(2, "Child")) ?? a.addMessage(grand(20, 2));
    expect(dump?.rows.map((r) => [r.name, r.level, r.path])).toEqual([
      ["TopMemoryContext", 1, [1]],
      ["Child", 2, [1, 2]],
    ]);
  });

  it("refuses levels that skip, a second root, and rows that do not add up to the Grand total", () => {
    const skip = new DumpAssembler(9, 16);
    skip.addMessage(ctx(0, "TopMemoryContext"));
    expect(() => skip.addMessage(ctx(2, "Orphan"))).toThrow(DumpIncompleteError);

    const roots = new DumpAssembler(9, 16);
    roots.addMessage(ctx(0, "TopMemoryContext"));
    expect(() => roots.addMessage(ctx(0, "Again"))).toThrow(/does not follow/);

    const sums = new DumpAssembler(9, 16);
    sums.addMessage(ctx(0, "TopMemoryContext"));
    sums.addMessage(ctx(1, "A"));
    expect(() => sums.addMessage(grand(30, 2))).toThrow(/add up to 20 for totalBytes/);
  });
});
