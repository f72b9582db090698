import { describe, expect, it } from "vitest";
import { oomValueFrom } from "../../sidecar/proc/process-values.js";
import { BatchReader } from "../../sidecar/rows/batch-reader.js";
import { columns, PROC_ROOT, recordsOf } from "../support/fixtures.js";

const fixtures = { procRoot: PROC_ROOT, pageSize: 4096 };

describe("oomValueFrom", () => {
  it("reads the kernel's integers, signed, with or without the newline", () => {
    expect(oomValueFrom(Buffer.from("667\n"))).toBe("667");
    expect(oomValueFrom(Buffer.from("-1000\n"))).toBe("-1000");
    expect(oomValueFrom(Buffer.from("0"))).toBe("0");
    expect(oomValueFrom(Buffer.from("007\n"))).toBe("7");
  });

  it("gives NULL for anything else, never a guess", () => {
    for (const text of [
      "",
      "\n",
      "lots\n",
      "12 kB\n",
      "1.5\n",
      "--3\n",
      "99999999999\n",
      " 5\n",
      "5\n\n",
      "\u00ff",
    ]) {
      expect(oomValueFrom(Buffer.from(text, "latin1")), JSON.stringify(text)).toBeNull();
    }
  });
});

describe("the OOM columns through the reader", () => {
  const reader = new BatchReader();

  it("adds oom_score and oom_score_adj to the summary row of each process", () => {
    const summary = columns("summary", "pid,rss,oom_score,oom_score_adj");
    const rows = recordsOf(reader.read("summary", [4242, 4244], summary, fixtures), summary);
    expect(rows.map((r) => [r.pid, r.oom_score, r.oom_score_adj])).toEqual([
      ["4242", "667", "0"],
      ["4244", "1334", "500"],
    ]);
  });

  it("repeats them on every by_kind row of a process", () => {
    const byKind = columns("by_kind", "pid,kind,oom_score,oom_score_adj");
    const rows = recordsOf(reader.read("by_kind", [4242], byKind, fixtures), byKind);
    expect(rows.length).toBeGreaterThan(1);
    expect(new Set(rows.map((r) => `${r.oom_score},${r.oom_score_adj}`))).toEqual(new Set(["667,0"]));
  });

  it("reads the files only when a column asks for them", () => {
    // 4247 has smaps and smaps_rollup only: a process whose oom files are gone is one that exited.
    const plain = columns("summary", "pid,rss");
    expect(recordsOf(reader.read("summary", [4247], plain, fixtures), plain)).toHaveLength(1);
    expect(reader.read("summary", [4247], columns("summary", "pid,oom_score"), fixtures).length).toBe(0);
    expect(reader.read("by_kind", [4247], columns("by_kind", "pid,oom_score_adj"), fixtures).length).toBe(0);
    expect(reader.read("by_kind", [4247], columns("by_kind", "pid,kind"), fixtures).length).toBeGreaterThan(
      0,
    );
  });

  it("writes garbage in the files as NULL", () => {
    const summary = columns("summary", "pid,oom_score,oom_score_adj");
    expect(recordsOf(reader.read("summary", [4246], summary, fixtures), summary)).toEqual([
      { pid: "4246", oom_score: null, oom_score_adj: null },
    ]);
  });
});
