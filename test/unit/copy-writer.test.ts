import { describe, expect, it } from "vitest";
import { parseSmaps } from "../../sidecar/proc/copy-writer.js";
import { ALL_SMAPS, columns, fixture, recordsOf, rowsOf } from "../support/fixtures.js";

/** A slow, obvious reading of well-formed smaps text, to check the fast parser against. */
function reference(text: string, pid: number): Record<string, string | null>[] {
  const out: Record<string, string | null>[] = [];
  let current: Record<string, string | null> | undefined;
  for (const line of text.split("\n")) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) (\S+) ([0-9a-f]+):([0-9a-f]+) (\d+) *(.*)$/.exec(line);
    if (header) {
      current = Object.fromEntries(ALL_SMAPS.map((c) => [c.name, null]));
      Object.assign(current, {
        pid: String(pid),
        start_address: header[1],
        end_address: header[2],
        permissions: header[3],
        byte_offset: header[4],
        dev_major: header[5],
        dev_minor: header[6],
        inode: header[7],
        sys_path: header[8] || null,
      });
      out.push(current);
      continue;
    }
    const field = /^(\w+):\s+(.*?)( kB)?\s*$/.exec(line);
    const column = ALL_SMAPS.find((c) => c.key === field?.[1]);
    if (current && field && column) current[column.name] = field[2] ?? null;
  }
  return out;
}

describe("parseSmaps on a kernel 6.18 file", () => {
  const buf = fixture("kernel-6.18.smaps");

  it("agrees with a plain reading on every column of every mapping", () => {
    const got = recordsOf(parseSmaps(buf, 31337, ALL_SMAPS), ALL_SMAPS);
    const want = reference(buf.toString(), 31337);
    expect(got).toHaveLength(38);
    expect(got).toEqual(want);
  });

  it("reads the first mapping's values", () => {
    const [first] = recordsOf(parseSmaps(buf, 7, ALL_SMAPS), ALL_SMAPS);
    expect(first).toMatchObject({
      pid: "7",
      start_address: "558f8e3ee000",
      end_address: "558f8e3f0000",
      permissions: "r--p",
      byte_offset: "00000000",
      dev_major: "fe",
      dev_minor: "00",
      inode: "260131",
      sys_path: "/usr/bin/cat",
      mem_size: "8",
      kernel_page_size: "4",
      pss_dirty: "0",
      ksm: "0",
      thp_eligible: "0",
      vm_flags: "rd mr mw me",
    });
  });

  it("writes only the requested columns, in the requested order", () => {
    const cols = columns("smaps", "vm_flags,sys_path,pid,rss");
    const rows = rowsOf(parseSmaps(buf, 12, cols));
    expect(rows[0]).toEqual(["rd mr mw me", "/usr/bin/cat", "12", "8"]);
    const heap = rows.find((r) => r[1] === "[heap]");
    expect(heap?.[0]).toBe("rd wr mr mw me ac");
    expect(rows.every((r) => r.length === 4)).toBe(true);
  });

  it("gives NULL for the path of anonymous mappings", () => {
    const text = parseSmaps(buf, 1, columns("smaps", "start_address,sys_path")).toString();
    const anonymous = buf
      .toString()
      .split("\n")
      .filter((l) => /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+ *$/.test(l));
    expect(anonymous.length).toBeGreaterThan(0);
    for (const line of anonymous) expect(text).toContain(`${line.split("-")[0]}\t\\N\n`);
  });
});

describe("parseSmaps on an older kernel (4.19: no Pss_Dirty, KSM, FilePmdMapped, THPeligible)", () => {
  const recs = recordsOf(parseSmaps(fixture("kernel-4.19.smaps"), 99, ALL_SMAPS), ALL_SMAPS);

  it("has the fields it prints and NULL for the others, never 0", () => {
    expect(recs).toHaveLength(3);
    expect(recs[0]).toMatchObject({
      sys_path: "/bin/cat",
      dev_major: "08",
      dev_minor: "01",
      inode: "1048602",
    });
    expect(recs[0]).toMatchObject({ mem_size: "48", rss: "44", private_clean: "44", lazy_free: "0" });
    for (const r of recs) {
      expect(r).toMatchObject({ pss_dirty: null, ksm: null, file_pmd_mapped: null, thp_eligible: null });
    }
    expect(recs[2]).toMatchObject({
      sys_path: null,
      swap: "12",
      swap_pss: "12",
      vm_flags: "rd wr mr mw me nr sd",
    });
  });
});

describe("parseSmaps with ProtectionKey lines", () => {
  it("ignores the unknown field and keeps the known ones", () => {
    const cols = columns("smaps", "sys_path,pss,thp_eligible,vm_flags");
    expect(rowsOf(parseSmaps(fixture("protection-key.smaps"), 5, cols))).toEqual([
      ["/usr/lib/postgresql/15/bin/postgres", "93", "0", "rd mr mw me"],
      ["[stack]", "36", "0", "rd wr mr mw me gd ac"],
    ]);
  });
});

describe("parseSmaps on hostile input", () => {
  const recs = recordsOf(parseSmaps(fixture("hostile.smaps"), 1, ALL_SMAPS), ALL_SMAPS);

  it("has one row per mapping header", () => {
    expect(recs).toHaveLength(5);
  });

  it('keeps " (deleted)" in the path', () => {
    expect(recs[0]?.sys_path).toBe("/dev/shm/PostgreSQL.12 (deleted)");
  });

  it("keeps spaces, tabs, backslashes and \\012 of a path verbatim", () => {
    expect(recs[1]?.sys_path).toBe("/srv/data dir/with\ttab/back\\slash/new\\012line/ spaced  (deleted)");
  });

  it("escapes tab and backslash of a path in the COPY text", () => {
    const text = parseSmaps(fixture("hostile.smaps"), 1, columns("smaps", "sys_path")).toString();
    expect(text.split("\n")[1]).toBe(
      "/srv/data dir/with\\ttab/back\\\\slash/new\\\\012line/ spaced  (deleted)",
    );
  });

  it("reads a 3-digit device major (NVMe 259 = 103) and a 10-digit inode", () => {
    expect(recs[1]).toMatchObject({ dev_major: "103", dev_minor: "02", inode: "9876543210" });
  });

  it("keeps 64-bit sizes as text and makes values beyond bigint NULL", () => {
    expect(recs[2]).toMatchObject({ start_address: "ffffffffff600000", mem_size: null });
    expect(recs[2]?.kernel_page_size).toBe("9223372036854775807");
    expect(recs[2]?.vm_flags).toBe("ex");
  });

  it("gives NULL for missing fields, non-numeric values and a bad THPeligible", () => {
    expect(recs[3]).toMatchObject({
      mem_size: "8",
      rss: null,
      swap: null,
      locked: null,
      ksm: null,
      kernel_page_size: null,
      thp_eligible: null,
    });
  });

  it("takes the first of duplicate fields", () => {
    expect(recs[3]?.pss).toBe("7");
  });

  it("joins VmFlags with single spaces whatever the whitespace", () => {
    expect(recs[3]?.vm_flags).toBe("rd wr mr");
  });

  it("does not carry a value over from the previous mapping", () => {
    expect(recs[4]).toMatchObject({ sys_path: null, mem_size: "4", rss: null, vm_flags: null, inode: "0" });
  });
});

describe("parseSmaps on a truncated file", () => {
  it("yields the mappings it has, the cut one with NULLs, and ignores the half line", () => {
    const cols = columns("smaps", "start_address,mem_size,kernel_page_size,rss,vm_flags");
    expect(rowsOf(parseSmaps(fixture("truncated.smaps"), 3, cols))).toEqual([
      ["5600000a0000", "4", "5", "5", "rd mr mw me"],
      ["5600000a1000", "4", "4", null, null],
    ]);
  });

  it("never throws at any cut of a real file, and has one row per complete header", () => {
    const buf = fixture("kernel-6.18.smaps");
    const cols = columns("smaps", "start_address,sys_path,rss,vm_flags");
    for (let cut = 0; cut <= buf.length; cut += 97) {
      const part = buf.subarray(0, cut);
      const headers = part
        .toString()
        .split("\n")
        .slice(0, -1)
        .filter((l) => /^[0-9a-f]+-[0-9a-f]+ /.test(l)).length;
      expect(rowsOf(parseSmaps(part, 1, cols))).toHaveLength(headers);
    }
  });
});

describe("parseSmaps on bytes that are not UTF-8", () => {
  it("replaces invalid bytes with U+FFFD and keeps valid multibyte characters", () => {
    const out = parseSmaps(fixture("invalid-utf8.smaps"), 1, columns("smaps", "sys_path,mem_size"));
    expect(out.toString("utf8")).toBe("/tmp/bad\uFFFD\uFFFD-é€\uFFFD\t4\n");
    expect(Buffer.from(out.toString("utf8")).equals(out)).toBe(true);
  });
});

describe("parseSmaps on an empty file", () => {
  it("has no rows", () => {
    expect(parseSmaps(fixture("empty.smaps"), 1, ALL_SMAPS).length).toBe(0);
  });
});

describe("parseSmaps on a large input", () => {
  it("grows its output past the input size (short input, many columns)", () => {
    const text = "1-2 r--p 0 0:0 0\n".repeat(5000);
    const rows = rowsOf(parseSmaps(Buffer.from(text), 2147483647, ALL_SMAPS));
    expect(rows).toHaveLength(5000);
    expect(rows[4999]?.slice(0, 9)).toEqual(["2147483647", "1", "2", "r--p", "0", "0", "0", "0", null]);
  });
});
