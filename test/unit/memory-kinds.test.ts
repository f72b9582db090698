import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BY_KIND_COLUMNS } from "../../sidecar/proc/columns.js";
import { readKindContext, shmidFromLockFile } from "../../sidecar/proc/kind-context.js";
import { byKindCopyText } from "../../sidecar/proc/kind-rows.js";
import {
  classifyHeader,
  type KindContext,
  type KindTotals,
  MEMORY_KINDS,
  type MemoryKind,
  NO_CONTEXT,
  sumByKind,
} from "../../sidecar/proc/memory-kinds.js";
import { fixture, recordsOf } from "../support/fixtures.js";
import { parseSmaps } from "../support/proc.js";

const POSTGRES = "/usr/lib/postgresql/15/bin/postgres";

function context(executable: string | null, mainShmid: string | null): KindContext {
  return {
    executable: executable === null ? null : Buffer.from(executable),
    mainShmid: mainShmid === null ? null : Buffer.from(mainShmid),
  };
}

type Totals = { mappings: number; rss: number; pss: number; private: number; uss: number };

function table(totals: KindTotals): Partial<Record<MemoryKind, Totals>> {
  const out: Partial<Record<MemoryKind, Totals>> = {};
  for (const kind of MEMORY_KINDS) {
    const row = {
      mappings: totals.get(kind, "mappings"),
      rss: totals.get(kind, "rss"),
      pss: totals.get(kind, "pss"),
      private: totals.get(kind, "private"),
      uss: totals.get(kind, "uss"),
    };
    if (row.mappings > 0) out[kind] = row;
  }
  return out;
}

function sum(totals: KindTotals, total: "mappings" | "rss" | "pss" | "private" | "uss"): number {
  return MEMORY_KINDS.reduce((acc, kind) => acc + totals.get(kind, total), 0);
}

describe("classifyHeader", () => {
  const cases: [string, MemoryKind, KindContext?][] = [
    ["7f0000000000-7f0008000000 rw-s 00000000 00:01 1201       /dev/zero (deleted)", "shared_buffers"],
    ["7f0000000000-7f0008000000 rw-s 00000000 00:0f 1202       /anon_hugepage (deleted)", "shared_buffers"],
    ["7f0000000000-7f0008000000 rw-s 00000000 00:01 65589      /SYSV0052e2c1 (deleted)", "shared_buffers"],
    [
      "7f0000000000-7f0008000000 rw-s 00000000 00:01 65589      /SYSV0052e2c1 (deleted)",
      "shared_buffers",
      context(POSTGRES, "65589"),
    ],
    [
      "7f0000000000-7f0008000000 rw-s 00000000 00:01 65600      /SYSV1234abcd (deleted)",
      "dynamic_shared_memory",
      context(POSTGRES, "65589"),
    ],
    [
      "7f0000000000-7f0000007000 rw-s 00000000 00:1b 323        /dev/shm/PostgreSQL.1234",
      "dynamic_shared_memory",
    ],
    [
      "7f0000000000-7f0000007000 rw-s 00000000 fe:00 4711       /srv/pg/pg_dynshmem/PostgreSQL.42",
      "dynamic_shared_memory",
    ],
    ["55d0a1000000-55d0a2000000 rw-p 00000000 00:00 0          [heap]", "heap"],
    ["7ffe21094000-7ffe210b5000 rw-p 00000000 00:00 0          [stack]", "stack"],
    ["7ffe21094000-7ffe210b5000 rw-p 00000000 00:00 0          [stack:1234]", "stack"],
    ["7f0000000000-7f0000100000 rw-p 00000000 00:00 0          [anon:glibc malloc]", "anonymous"],
    ["7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ", "anonymous"],
    ["7f0000000000-7f0000100000 rw-p 00000000 00:00 0", "anonymous"],
    ["7f0000000000-7f0000100000 rw-p 00000000 00:01 1201       /dev/zero (deleted)", "anonymous"],
    ["7f0000000000-7f0000002000 r-xp 00000000 00:00 0          [vdso]", "kernel"],
    ["7f0000000000-7f0000004000 r--p 00000000 00:00 0          [vvar]", "kernel"],
    ["ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]", "kernel"],
    [`55d0a0000000-55d0a0100000 r-xp 00000000 fe:00 332054     ${POSTGRES}`, "postgres_binary"],
    [
      `55d0a0000000-55d0a0100000 r-xp 00000000 fe:00 332054     ${POSTGRES} (deleted)`,
      "postgres_binary",
      context(`${POSTGRES} (deleted)`, null),
    ],
    [
      "55d0a0000000-55d0a0100000 r-xp 00000000 fe:00 332054     /opt/pg/bin/postgres",
      "other_files",
      context(POSTGRES, null),
    ],
    [
      "7f0000000000-7f0000100000 r-xp 00000000 fe:00 339380     /usr/lib/x86_64-linux-gnu/libc.so.6",
      "shared_libraries",
    ],
    [
      "7f0000000000-7f0000100000 r-xp 00000000 fe:00 339999     /usr/lib/postgresql/15/lib/plpgsql.so",
      "shared_libraries",
    ],
    [
      "7f0000000000-7f0000100000 r-xp 00000000 fe:00 339999     /usr/lib/x/libfoo.so (deleted)",
      "shared_libraries",
    ],
    ["7f0000000000-7f0000100000 r--p 00000000 fe:00 339999     /usr/lib/x/notes.solution", "other_files"],
    ["7f0000000000-7f0000100000 r--p 00000000 fe:00 339999     /srv/x.so/data", "other_files"],
    ["7f0000000000-7f0000100000 rw-s 00000000 00:01 4712       /memfd:pg-cache (deleted)", "other_files"],
    [
      "7f0000000000-7f0000100000 r--p 00000000 fe:00 329635     /usr/lib/locale/C.utf8/LC_CTYPE",
      "other_files",
    ],
  ];
  it.each(cases)("%s is %s", (header, kind, ctx) => {
    expect(classifyHeader(header, ctx ?? NO_CONTEXT)).toBe(kind);
  });
});

describe("sumByKind", () => {
  it("sums the handmade fixture per kind, USS without shared or clean file pages", () => {
    const totals = sumByKind(fixture("memory-kinds.smaps"), context(POSTGRES, "65589"));
    expect(table(totals)).toEqual({
      // /dev/zero, /anon_hugepage (hugetlb pages count in rss and private), the main SysV segment:
      // their Private_* pages are shared_buffers pages only this process touched, never USS.
      shared_buffers: { mappings: 3, rss: 9148, pss: 1504, private: 3052, uss: 0 },
      // another SysV segment, /dev/shm/PostgreSQL.1234, pg_dynshmem/PostgreSQL.42
      dynamic_shared_memory: { mappings: 3, rss: 96, pss: 48, private: 32, uss: 0 },
      heap: { mappings: 1, rss: 400, pss: 300, private: 280, uss: 280 },
      anonymous: { mappings: 2, rss: 216, pss: 216, private: 216, uss: 216 },
      stack: { mappings: 1, rss: 32, pss: 30, private: 32, uss: 32 },
      // only the copy-on-write (Private_Dirty) pages of private file mappings
      postgres_binary: { mappings: 2, rss: 112, pss: 30, private: 28, uss: 6 },
      shared_libraries: { mappings: 3, rss: 1216, pss: 76, private: 16, uss: 12 },
      // a shared memfd, a private memfd, a locale file, a shared file mapping
      other_files: { mappings: 4, rss: 148, pss: 92, private: 108, uss: 32 },
      kernel: { mappings: 3, rss: 4, pss: 0, private: 0, uss: 0 },
    });
  });

  it("without context counts every SysV segment and any */postgres as the cluster's", () => {
    const totals = table(sumByKind(fixture("memory-kinds.smaps")));
    expect(totals.shared_buffers?.mappings).toBe(4);
    expect(totals.dynamic_shared_memory?.mappings).toBe(2);
    expect(totals.postgres_binary?.mappings).toBe(2);
  });

  it.each([
    ["postgres-mmap.smaps", "98324", ["/dev/zero (deleted)", "/SYSV0020c8d1 (deleted)"]],
    ["postgres-sysv.smaps", "98334", ["/SYSV00216647 (deleted)"]],
  ])("puts every mapping of a real backend (%s) in exactly one kind", (name, shmid, segment) => {
    const buf = fixture(name);
    const mappings = parseSmaps(buf.toString("utf8"));
    const totals = sumByKind(buf, context(POSTGRES, shmid));
    const kb = (field: string, which = mappings) => which.reduce((acc, m) => acc + (m.fields[field] ?? 0), 0);

    expect(sum(totals, "mappings")).toBe(mappings.length);
    expect(sum(totals, "rss")).toBe(kb("Rss"));
    expect(sum(totals, "pss")).toBe(kb("Pss"));
    expect(sum(totals, "private")).toBe(kb("Private_Clean") + kb("Private_Dirty"));
    // USS by the definition, independently: private mappings only; all private pages of anonymous
    // memory, the copy-on-write pages of files, nothing of the kernel's.
    const uss = mappings
      .filter((m) => m.permissions.endsWith("p"))
      .reduce((acc, m) => {
        const f = (field: string) => m.fields[field] ?? 0;
        if (m.path === "" || /^\[(heap|stack|anon)/.test(m.path))
          return acc + f("Private_Clean") + f("Private_Dirty");
        return m.path.startsWith("[") ? acc : acc + f("Private_Dirty");
      }, 0);
    expect(sum(totals, "uss")).toBe(uss);
    expect(uss).toBeGreaterThan(0);

    const main = mappings.filter((m) => segment.includes(m.path));
    expect(main).toHaveLength(segment.length);
    expect(totals.get("shared_buffers", "mappings")).toBe(main.length);
    expect(totals.get("shared_buffers", "rss")).toBe(kb("Rss", main));
    expect(totals.get("shared_buffers", "rss")).toBeGreaterThan(0);
    expect(totals.get("shared_buffers", "uss")).toBe(0);
    const dsm = mappings.filter((m) => m.path.startsWith("/dev/shm/PostgreSQL."));
    expect(totals.get("dynamic_shared_memory", "mappings")).toBe(dsm.length);
    expect(totals.get("heap", "uss")).toBe(totals.get("heap", "private"));
    const binary = mappings.filter((m) => m.path === POSTGRES);
    expect(totals.get("postgres_binary", "mappings")).toBe(binary.length);
    expect(totals.get("postgres_binary", "uss")).toBe(
      kb(
        "Private_Dirty",
        binary.filter((m) => m.permissions.endsWith("p")),
      ),
    );
  });

  it("puts every mapping of a non-postgres process in one kind, and the kernel's in kernel", () => {
    const buf = fixture("kernel-6.18.smaps");
    const mappings = parseSmaps(buf.toString("utf8"));
    const totals = sumByKind(buf);
    expect(sum(totals, "mappings")).toBe(mappings.length);
    expect(sum(totals, "rss")).toBe(mappings.reduce((acc, m) => acc + (m.fields.Rss ?? 0), 0));
    expect(totals.get("kernel", "mappings")).toBe(mappings.filter((m) => m.path.startsWith("[v")).length);
    expect(totals.get("shared_buffers", "mappings")).toBe(0);
  });

  it("ignores fields before the first header, a cut last line, repeated and malformed fields", () => {
    const text = [
      "Rss: 999 kB",
      "55d0a1000000-55d0a2000000 rw-p 00000000 00:00 0          [heap]",
      "Rss:   10 kB",
      "Rss:   20 kB",
      "Pss:   many kB",
      "Private_Dirty:    7 kB",
      "7ffe21094000-7ffe210b5000 rw-p 00000000 00:00 0          [stack]",
      "Rss:    5 kB",
    ].join("\n");
    const totals = table(sumByKind(Buffer.from(text)));
    expect(totals).toEqual({
      heap: { mappings: 1, rss: 10, pss: 0, private: 7, uss: 7 },
      stack: { mappings: 1, rss: 0, pss: 0, private: 0, uss: 0 },
    });
  });

  it("reads an empty buffer as no mapping", () => {
    expect(sum(sumByKind(Buffer.alloc(0)), "mappings")).toBe(0);
  });
});

describe("byKindCopyText", () => {
  it("writes one row per kind present, in bytes, in the requested column order", () => {
    const totals = sumByKind(fixture("memory-kinds.smaps"), context(POSTGRES, "65589"));
    const own = { oom_score: "12", oom_score_adj: "-900" };
    const records = recordsOf(byKindCopyText(totals, 4242, BY_KIND_COLUMNS, own), BY_KIND_COLUMNS);
    expect(records.map((r) => r.kind)).toEqual([...MEMORY_KINDS]);
    // The process's own values, on each of its rows.
    expect(new Set(records.map((r) => `${r.oom_score} ${r.oom_score_adj}`))).toEqual(new Set(["12 -900"]));
    expect(records[0]).toEqual({
      pid: "4242",
      kind: "shared_buffers",
      mappings: "3",
      rss_bytes: String(9148 * 1024),
      pss_bytes: String(1504 * 1024),
      private_bytes: String(3052 * 1024),
      uss_bytes: "0",
      anon_bytes: "0",
      swap_bytes: "0",
      oom_score: "12",
      oom_score_adj: "-900",
    });
    expect(
      recordsOf(byKindCopyText(totals, 4242, BY_KIND_COLUMNS), BY_KIND_COLUMNS)[0]?.oom_score,
    ).toBeNull();
    const reordered = BY_KIND_COLUMNS.filter((c) => c.name === "uss_bytes" || c.name === "kind").reverse();
    expect(byKindCopyText(totals, 4242, reordered).split("\n")[2]).toBe(`${280 * 1024}\theap`);
  });

  it("sums Anonymous and Swap per kind, first occurrence in a mapping", () => {
    const smaps = Buffer.from(
      [
        "55d0c0000000-55d0c0021000 rw-p 00000000 00:00 0                          [heap]",
        "Rss:                 132 kB",
        "Anonymous:           128 kB",
        "Swap:                 12 kB",
        "Anonymous:           999 kB",
        "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ",
        "Anonymous:            64 kB",
        "Swap:                  4 kB",
        "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 ",
        "Anonymous:            32 kB",
        "",
      ].join("\n"),
    );
    const records = recordsOf(byKindCopyText(sumByKind(smaps), 1, BY_KIND_COLUMNS), BY_KIND_COLUMNS);
    expect(records.map((r) => [r.kind, r.mappings, r.anon_bytes, r.swap_bytes])).toEqual([
      ["heap", "1", String(128 * 1024), String(12 * 1024)],
      ["anonymous", "2", String(96 * 1024), String(4 * 1024)],
    ]);
  });

  it("writes nothing for a process without mappings", () => {
    expect(byKindCopyText(sumByKind(Buffer.alloc(0)), 1, BY_KIND_COLUMNS)).toBe("");
  });
});

describe("readKindContext", () => {
  it("reads the executable and the main segment's shmid from /proc/PID/exe and cwd/postmaster.pid", async () => {
    const root = await mkdtemp(join(tmpdir(), "pg-meminfo-kind-context-"));
    try {
      const data = join(root, "data");
      await mkdir(data);
      await writeFile(
        join(data, "postmaster.pid"),
        "4242\n/srv/pg/data\n1700000000\n5432\n/tmp\n*\n  2148561     98324\nready   \n",
      );
      await mkdir(join(root, "4242"));
      await symlink(POSTGRES, join(root, "4242", "exe"));
      await symlink(data, join(root, "4242", "cwd"));
      const ctx = readKindContext(4242, { procRoot: root });
      expect(ctx.executable?.toString()).toBe(POSTGRES);
      expect(ctx.mainShmid?.toString()).toBe("98324");
      const gone = readKindContext(4243, { procRoot: root });
      expect(gone).toEqual({ executable: null, mainShmid: null });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("finds no shmid in a lock file without its shared memory line", () => {
    expect(shmidFromLockFile("4242\n/srv/pg/data\n")).toBeNull();
    expect(shmidFromLockFile("1\n2\n3\n4\n5\n6\n  2148561   x\n")).toBeNull();
    expect(shmidFromLockFile("1\n2\n3\n4\n5\n6\n  2148561   0098324\n")?.toString()).toBe("98324");
  });
});
