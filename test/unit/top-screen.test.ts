/** top's screen from snapshots: the order of each sort key, the header in good and bad times, sizes. */
import { describe, expect, it } from "vitest";
import { formatBytes, formatRate } from "../../tools/sizes.js";
import { headerLines, rowLine, screenLines, sortRows } from "../../tools/top/screen.js";
import type { ProcessRow, Snapshot } from "../../tools/top/snapshot.js";

const row = (pid: number, uss: number, pss: number, growth: number | null): ProcessRow => ({
  pid,
  backendType: "client backend",
  applicationName: `app-${pid}`,
  state: "idle",
  queryStart: new Date(2026, 0, 1, 12, 34, 56),
  ussBytes: uss,
  pssBytes: pss,
  sharedBuffersBytes: 0,
  growthPerMinute: growth,
  growing: growth !== null && growth > 0,
});

const ROWS = [row(1, 10, 300, null), row(2, 30, 100, 5_000), row(3, 20, 200, -1_000), row(4, 30, 50, 90_000)];
const at = new Date(2026, 0, 1, 12, 35, 0);
const base: Snapshot = {
  takenAt: at,
  server: "PostgreSQL 15.4, database postgres",
  serverError: null,
  sidecar: { ms: 12 },
  rows: ROWS,
  rowsAt: at,
  cluster: {
    processes: 4,
    totalPssBytes: 650,
    totalUssBytes: 90,
    sharedMemoryBytes: 150 * 1024 ** 2,
    limitBytes: null,
    headroomBytes: null,
  },
  growthNote: null,
};
const options = { sort: "own" as const, intervalSeconds: 2, target: "host=/tmp port=5432" };

describe("top's order", () => {
  it("own and pss: biggest first, ties by pid", () => {
    expect(sortRows(ROWS, "own").map((r) => r.pid)).toEqual([2, 4, 3, 1]);
    expect(sortRows(ROWS, "pss").map((r) => r.pid)).toEqual([1, 3, 2, 4]);
  });

  it("growth: fastest first, shrinking after growing, no figures last", () => {
    expect(sortRows(ROWS, "growth").map((r) => r.pid)).toEqual([4, 2, 3, 1]);
  });

  it("growth: a steady grower before a faster process whose rise is not steady (a single big sort)", () => {
    const step = { ...row(5, 99, 99, 500_000), growing: false };
    expect(sortRows([...ROWS, step], "growth").map((r) => r.pid)).toEqual([4, 2, 5, 3, 1]);
  });
});

describe("top's lines", () => {
  it("a process line: its figures, n/a for growth without history, ▲ for steady growth", () => {
    const lines = sortRows(ROWS, "growth").map(rowLine);
    expect(lines[0]).toMatch(
      /^\s+4\s+30 bytes\s+50 bytes\s+0 bytes\s+▲ \+88 kB\/min idle\s+12:34:56\s+app-4\s+client backend$/,
    );
    expect(lines[3]).toMatch(/^\s+1 .* n\/a idle/);
  });

  it("the header: the cluster, the sidecar; the reason growth is n/a", () => {
    const lines = headerLines({ ...base, growthNote: "history not available: no memory_growth" }, options);
    expect(lines[0]).toBe("pg-meminfo top  PostgreSQL 15.4, database postgres  12:35:00  every 2 s, by own");
    expect(lines).toContain("cluster: 4 processes, PSS 650 bytes, own 90 bytes, shared memory 150 MB");
    expect(lines).toContain("sidecar: ok, answered in 12 ms");
    expect(lines).toContain("growth: n/a, history not available: no memory_growth");
  });

  it("an error of the sidecar or the server: said, retried, and the rows marked with their time", () => {
    const stale = new Date(2026, 0, 1, 12, 34, 0);
    const sidecarDown = headerLines(
      { ...base, sidecar: { error: { sqlstate: "08001", message: "could not connect" } }, rowsAt: stale },
      options,
    );
    expect(sidecarDown).toContain("sidecar: error, retrying: 08001 could not connect");
    expect(sidecarDown).toContain("rows below as of 12:34:00");
    const serverDown = headerLines(
      {
        ...base,
        server: null,
        serverError: { message: "connect ECONNREFUSED" },
        sidecar: null,
        cluster: null,
      },
      options,
    );
    expect(serverDown[0]).toContain("host=/tmp port=5432");
    expect(serverDown[1]).toBe("server: error, retrying: connect ECONNREFUSED");
  });

  it("--once: the header, a blank line, the column titles, the rows", () => {
    const lines = screenLines(base, options);
    const title = lines.findIndex((l) => l.includes("APPLICATION"));
    expect(lines[title - 1]).toBe("");
    expect(lines.slice(title + 1).map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([2, 4, 3, 1]);
  });
});

describe("sizes as pg_size_pretty writes them", () => {
  it("switches unit at 10240 and rounds half up", () => {
    expect(formatBytes(10239)).toBe("10239 bytes");
    expect(formatBytes(10240)).toBe("10 kB");
    expect(formatBytes(164 * 1024 ** 2 + 600 * 1024)).toBe("165 MB");
    expect(formatBytes(-20480)).toBe("-20 kB");
    expect(formatBytes(null)).toBe("n/a");
    expect(formatRate(0)).toBe("0 bytes/min");
    expect(formatRate(2_097_152)).toBe("+2048 kB/min");
  });
});
