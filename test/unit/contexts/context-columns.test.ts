import { describe, expect, it } from "vitest";
import {
  CONTEXT_COLUMNS,
  contextCopyText,
  findContextColumn,
} from "../../../sidecar/contexts/context-columns.js";
import { type ContextDump, type ContextRow, parseDumps } from "../../../sidecar/contexts/dump-parser.js";
import { parseCopyLine } from "../../../sidecar/proc/copy-text.js";
import { fixture, PG15, recordsOf } from "./fixtures.js";

const dumps = parseDumps(recordsOf(fixture("pg15-three-dumps.log"), "stderr"), 15);
const prepared = dumps.find((d) => d.pid === PG15.prepared) as ContextDump;

describe("COPY text of memory-context rows", () => {
  it("has every column of the protocol, in its order", () => {
    expect(CONTEXT_COLUMNS.map((c) => c.name)).toEqual([
      "pid",
      "name",
      "ident",
      "parent",
      "level",
      "path",
      "type",
      "total_bytes",
      "total_nblocks",
      "free_bytes",
      "free_chunks",
      "used_bytes",
      "summarized_contexts",
    ]);
    expect(findContextColumn("rss")).toBeUndefined();
  });

  it("writes one line per row, int[] paths as {1,2}, NULL as \\N, summarized rows with their count", () => {
    const columns = CONTEXT_COLUMNS;
    const lines = contextCopyText([prepared], columns).split("\n");
    expect(lines.at(-1)).toBe("");
    expect(lines).toHaveLength(prepared.rows.length + 1);
    const fields = lines.slice(0, -1).map(parseCopyLine);
    // TopMemoryContext: no ident, no parent, path {1}; Slab and AllocSet print alike on 15: no type.
    expect(fields[0]?.slice(0, 7)).toEqual([
      String(PG15.prepared),
      "TopMemoryContext",
      null,
      null,
      "0",
      "{1}",
      null,
    ]);
    const summarized = fields.find((f) => f[12] !== null);
    expect(summarized?.[1]).toBeNull();
    expect(summarized?.[3]).toBe("CacheMemoryContext");
    expect(Number(summarized?.[12])).toBe(116);
    for (const [i, f] of fields.entries()) {
      const row = prepared.rows[i] as ContextRow;
      expect(f[5]).toBe(`{${row.path.join(",")}}`);
      expect(f[7]).toBe(row.totalBytes);
    }
  });

  it("escapes tabs, newlines and backslashes of an ident so that COPY reads them back", () => {
    const row = { ...(prepared.rows[1] as ContextRow), ident: "SELECT '\t\\x'\n;" };
    const text = contextCopyText([{ ...prepared, rows: [row] }], [
      findContextColumn("ident"),
      findContextColumn("pid"),
    ] as typeof CONTEXT_COLUMNS);
    expect(text).toBe(`SELECT '\\t\\\\x'\\n;\t${PG15.prepared}\n`);
    expect(parseCopyLine(text.slice(0, -1))).toEqual([row.ident, String(PG15.prepared)]);
  });
});
