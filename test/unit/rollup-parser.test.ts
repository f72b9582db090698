import { describe, expect, it } from "vitest";
import { parseRollup } from "../../sidecar/proc/copy-writer.js";
import { ALL_SUMMARY, columns, fixture, recordsOf, rowsOf } from "../support/fixtures.js";

describe("parseRollup", () => {
  it("reads every summary column of a kernel 6.18 smaps_rollup", () => {
    const [row, ...rest] = recordsOf(
      parseRollup(fixture("kernel-6.18.smaps_rollup"), 77, ALL_SUMMARY, {
        statm: "2216",
        oom_score: "667",
        oom_score_adj: "-1000",
      }),
      ALL_SUMMARY,
    );
    expect(rest).toHaveLength(0);
    expect(row).toMatchObject({
      pid: "77",
      mem_size: "2216",
      rss: "1772",
      pss: "282",
      pss_dirty: "112",
      pss_anon: "112",
      pss_file: "170",
      pss_shmem: "0",
      shared_clean: "1612",
      locked: "0",
      oom_score: "667",
      oom_score_adj: "-1000",
    });
    expect(Object.values(row ?? {}).every((v) => v !== null)).toBe(true);
  });

  it("gives NULL for the fields an older kernel lacks and for the process values not given", () => {
    const cols = columns(
      "summary",
      "mem_size,rss,pss,pss_dirty,pss_anon,ksm,private_dirty,locked,oom_score,oom_score_adj",
    );
    expect(rowsOf(parseRollup(fixture("kernel-4.19.smaps_rollup"), 1, cols))).toEqual([
      [null, "1000", "400", null, null, null, "100", "0", null, null],
    ]);
    expect(
      rowsOf(parseRollup(fixture("kernel-4.19.smaps_rollup"), 1, cols, { oom_score_adj: null })),
    ).toEqual([[null, "1000", "400", null, null, null, "100", "0", null, null]]);
  });

  it("has no row for an empty file", () => {
    expect(parseRollup(Buffer.alloc(0), 1, ALL_SUMMARY, { statm: "1" }).length).toBe(0);
  });

  it("writes one row even when a second header follows", () => {
    const text = "1-2 ---p 0 0:0 0 [rollup]\nRss: 5 kB\n3-4 ---p 0 0:0 0 [rollup]\nPss: 6 kB\n";
    expect(rowsOf(parseRollup(Buffer.from(text), 1, columns("summary", "pid,rss,pss")))).toEqual([
      ["1", "5", "6"],
    ]);
  });
});
