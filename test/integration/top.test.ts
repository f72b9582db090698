/**
 * pg-meminfo top in a real terminal (tmux) against a throwaway cluster with its own sidecar: it shows
 * the sessions, sorts on a key, opens one process's memory by kind and contexts, goes on through a
 * stopped sidecar and a restarted cluster, and quits on q. And --once, for pipes.
 */
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type GrowingSession, growSteadily, holdSort } from "../../harness/busy-sessions.js";
import { SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { TmuxSession } from "../support/tmux.js";
import { pgMeminfo } from "../support/tool-cli.js";

const UNITS: Record<string, number> = { bytes: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** The process lines of a screen: pid, own, pss and the application name, in screen order. */
function table(screen: string): { pid: number; own: number; pss: number; line: string }[] {
  const rows: { pid: number; own: number; pss: number; line: string }[] = [];
  for (const line of screen.split("\n")) {
    const m = /^\s*(\d+)\s+(\d+) (bytes|kB|MB|GB)\s+(\d+) (bytes|kB|MB|GB)\s/.exec(line);
    if (!m) continue;
    rows.push({
      pid: Number(m[1]),
      own: Number(m[2]) * (UNITS[m[3] as string] ?? 0),
      pss: Number(m[4]) * (UNITS[m[5] as string] ?? 0),
      line,
    });
  }
  return rows;
}

const nonIncreasing = (values: number[]) => values.every((v, i) => i === 0 || v <= (values[i - 1] as number));

describe("pg-meminfo top", () => {
  let cluster: ThrowawayCluster;
  let sidecar: SidecarProcess | undefined;
  let sessions: pg.Client[] = [];
  let bigPid: number;
  let scanPid: number;
  let term: TmuxSession | undefined;
  let history = false;
  let growing: GrowingSession | undefined;
  const startSidecar = () =>
    SidecarProcess.start(cluster, { extraArgs: history ? ["--sample-interval", "1"] : [] });

  /**
   * A session holding a sort of 100,000 rows (about 16 MB of its own), and one that read a 46 MB table
   * into shared_buffers (less than a quarter of them: no ring buffer), which no other process touched
   * since: much PSS, little of its own.
   */
  async function openSessions(): Promise<void> {
    const big = await holdSort(cluster, "top-test-big-sort", 100_000);
    const scan = await cluster.connect("postgres", "postgres", "top-test-table-scan");
    await scan.query("SELECT count(*), sum(length(payload)) FROM top_scan");
    sessions = [big, scan];
    bigPid = (await big.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid as number;
    scanPid = (await scan.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid as number;
  }

  beforeAll(async () => {
    cluster = await ThrowawayCluster.create({
      prefix: "pg-meminfo-top-",
      settings: { shared_buffers: "256MB" },
    });
    await cluster.start();
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    // CREATE DATABASE makes a checkpoint, which would touch the table's buffers: first. No autovacuum
    // either: its worker would read the table and share those buffers' PSS while it runs.
    await cluster.sql("CREATE DATABASE old_extension");
    await cluster.sql("CREATE EXTENSION pg_meminfo VERSION '1.0'", [], "old_extension");
    await cluster.sql(
      "CREATE TABLE top_scan WITH (autovacuum_enabled = off) AS SELECT g AS id, repeat(md5(g::text), 6) AS payload FROM generate_series(1, 200000) g",
    );
    // The extension and the sidecar come from one tree: with memory_growth, the sidecar samples.
    history =
      (await cluster.sql<{ g: string | null }>("SELECT to_regclass('memory_growth')::text AS g"))[0]?.g !=
      null;
    sidecar = await startSidecar();
    await openSessions();
    growing = await growSteadily(cluster, "top-test-growing", 10);
  });

  afterAll(async () => {
    await growing?.stop();
    await term?.kill();
    for (const s of sessions) await s.end().catch(() => {});
    await sidecar?.stop();
    await cluster?.destroy();
  });

  it("--once prints the header and a line per process, biggest own memory first", async () => {
    const result = await pgMeminfo(["top", "--once", cluster.connectionString()]);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines[0]).toMatch(
      /^pg-meminfo top {2}PostgreSQL 15\.\d+.*, database postgres {2}\d\d:\d\d:\d\d {2}every 2 s, by own$/,
    );
    expect(result.stdout).toMatch(
      /^cluster: \d+ processes, PSS \d+ (kB|MB), own \d+ (kB|MB), shared memory \d+ MB, limit /m,
    );
    expect(result.stdout).toMatch(/^sidecar: ok, answered in \d+ ms$/m);
    const rows = table(result.stdout);
    expect(rows[0]?.pid).toBe(bigPid);
    expect(rows[0]?.line).toContain("top-test-big-sort");
    expect(rows[0]?.line).toMatch(/idle in transaction \d\d:\d\d:\d\d\s+top-test-big-sort\s+client backend$/);
    expect(rows.some((r) => r.line.includes("postmaster"))).toBe(true);
    expect(nonIncreasing(rows.map((r) => r.own))).toBe(true);
    const sorted = table(
      (await pgMeminfo(["top", "--once", "--sort", "pss", cluster.connectionString()])).stdout,
    );
    expect(nonIncreasing(sorted.map((r) => r.pss))).toBe(true);
  });

  it("--once on an extension without history: growth n/a, with the one-line reason", async () => {
    const result = await pgMeminfo(["top", "--once", cluster.connectionString("old_extension")]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^growth: n\/a, history not available: pg_meminfo 1\.0 has no memory_growth; it needs ALTER EXTENSION pg_meminfo UPDATE/m,
    );
    const rows = table(result.stdout);
    expect(rows.find((r) => r.pid === bigPid)?.line).toMatch(/\sn\/a\s/);
  });

  it("--once with a server that refuses: the server's error and exit status 1", async () => {
    const dead = await pgMeminfo(["top", "--once", cluster.connectionString("nosuchdb")]);
    expect(dead.code).toBe(1);
    expect(dead.stdout).toMatch(/^server: error, retrying: 3D000 database "nosuchdb" does not exist$/m);
  });

  it("--once with the sidecar away: the sidecar's error and exit status 1", async () => {
    await sidecar?.stop();
    try {
      const away = await pgMeminfo(["top", "--once", cluster.connectionString()]);
      expect(away.code).toBe(1);
      expect(away.stdout).toMatch(
        /^sidecar: error, retrying: 08001 could not connect to pg_meminfo sidecar at ".*": No such file or directory$/m,
      );
    } finally {
      sidecar = await startSidecar();
    }
  });

  it("--sort growth: the steady grower first, with ▲ and its rate; n/a with the reason without history", async () => {
    const once = () => pgMeminfo(["top", "--once", "--sort", "growth", cluster.connectionString()]);
    if (!history) {
      expect((await once()).stdout).toMatch(
        /^growth: n\/a, history not available: pg_meminfo .* has no memory_growth/m,
      );
      return;
    }
    // memory_growth calls growth steady from 6 samples spread over the window: a few seconds at 1 s.
    const deadline = Date.now() + 40_000;
    let rows = table((await once()).stdout);
    const steadyFirst = () => rows[0]?.line.includes("top-test-growing") && rows[0]?.line.includes("▲");
    while (!steadyFirst() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000));
      rows = table((await once()).stdout);
    }
    expect(rows[0]?.line).toMatch(/▲ \+\d+ (kB|MB)\/min .*top-test-growing\s+client backend$/);
    expect(rows.find((r) => r.pid === bigPid)?.line).toMatch(/\s(-|\+)?\d+ (bytes|kB|MB)\/min\s/);
  });

  it("--help answers with the columns and the keys", async () => {
    const help = await pgMeminfo(["top", "--help"]);
    expect(help.code).toBe(0);
    for (const word of ["--interval", "--once", "--sort", "OWN", "PSS", "SHBUF", "GROWTH", "q quits"])
      expect(help.stdout).toContain(word);
  });

  it("in a terminal: shows the sessions, sorts on p and o, opens a process on enter, and quits on q", async () => {
    term = await TmuxSession.start(
      [join(inject("repoRoot"), "bin", "pg-meminfo"), "top", "--interval", "1", cluster.connectionString()],
      { columns: 160, rows: 40, env: { NODE: process.execPath } },
    );
    let screen = await term.waitFor(
      (s) => s.includes("top-test-big-sort") && s.includes("top-test-table-scan"),
      "the sessions",
    );
    expect(screen).toMatch(/every 1 s, by own/);
    let rows = table(screen);
    expect(rows.findIndex((r) => r.pid === bigPid)).toBeLessThan(rows.findIndex((r) => r.pid === scanPid));
    expect(nonIncreasing(rows.map((r) => r.own))).toBe(true);

    await term.send("p");
    screen = await term.waitFor((s) => s.includes("by pss"), "the PSS order");
    rows = table(screen);
    expect(nonIncreasing(rows.map((r) => r.pss))).toBe(true);
    expect(rows.findIndex((r) => r.pid === scanPid)).toBeLessThan(rows.findIndex((r) => r.pid === bigPid));

    await term.send("o");
    screen = await term.waitFor((s) => s.includes("by own"), "the own order again");
    expect(table(screen)[0]?.pid).toBe(bigPid);

    await term.send("Enter");
    screen = await term.waitFor(
      (s) => s.includes(`process ${bigPid}: memory by kind`) && /TopMemoryContext/.test(s),
      "the process's kinds and contexts",
    );
    expect(screen).toMatch(/^anonymous\s+\d+ (kB|MB)/m);
    expect(screen).toMatch(/^(TupleSort main|ExecutorState|Caller tuples)\s+\d+ (kB|MB)/m);
    await term.send("Escape");
    await term.waitFor((s) => s.includes("APPLICATION") && s.includes("top-test-big-sort"), "the list again");

    await term.send("q");
    expect(await term.waitExit()).toBe(0);
  });

  it("in a terminal: goes on through the sidecar stopping and the cluster restarting", async () => {
    await term?.kill();
    term = await TmuxSession.start(
      [join(inject("repoRoot"), "bin", "pg-meminfo"), "top", "--interval", "0.5", cluster.connectionString()],
      { columns: 160, rows: 40, env: { NODE: process.execPath } },
    );
    await term.waitFor((s) => s.includes("sidecar: ok"), "the sidecar answering");

    await sidecar?.stop();
    let screen = await term.waitFor(
      (s) => /^sidecar: error, retrying: 08001 could not connect to pg_meminfo sidecar/m.test(s),
      "the sidecar's error",
    );
    expect(screen).toMatch(/^rows below as of \d\d:\d\d:\d\d$/m);
    expect(screen).toContain("top-test-big-sort");
    sidecar = await startSidecar();
    await term.waitFor(
      (s) => s.includes("sidecar: ok") && !s.includes("rows below as of"),
      "the sidecar back",
    );

    for (const s of sessions) await s.end().catch(() => {});
    sessions = [];
    await growing?.stop();
    await cluster.stop();
    screen = await term.waitFor((s) => /^server: error, retrying: /m.test(s), "the server's error");
    await cluster.start();
    await openSessions();
    screen = await term.waitFor(
      (s) => s.includes("sidecar: ok") && !/^server: /m.test(s) && table(s).some((r) => r.pid === bigPid),
      "the restarted cluster's sessions",
      30_000,
    );
    expect(screen).toContain("top-test-big-sort");
    await term.send("q");
  });
});
