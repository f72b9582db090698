/**
 * The OOM figures on the live cluster: oom_score and oom_score_adj per process (backend_memory,
 * oom_candidates) against the kernel's files, an oom_score_adj written as root moving a backend in
 * oom_candidates, and cluster_memory's limits against the cgroup and /proc files read here, apart
 * from the sidecar's code.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendPid, connect, explainVerbose } from "../support/db.js";

const BIG = 200 * 1024 * 1024;

function procValue(pid: number, file: "oom_score" | "oom_score_adj"): number {
  return Number(readFileSync(`/proc/${pid}/${file}`, "latin1").trim());
}

function setAdj(pid: number, value: number): void {
  writeFileSync(`/proc/${pid}/oom_score_adj`, `${value}\n`);
}

async function candidates(client: pg.Client) {
  const { rows } = await client.query<{
    oom_rank: string;
    pid: number;
    oom_score: number;
    oom_score_adj: number;
  }>("SELECT oom_rank, pid, oom_score, oom_score_adj FROM oom_candidates");
  return rows;
}

/** Waits until the backend sleeps (its variable exists). */
async function untilSleeping(client: pg.Client, pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await client.query("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rows[0]?.wait_event === "PgSleep") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`backend ${pid} never slept`);
}

describe("oom_score and oom_candidates", () => {
  let client: pg.Client;
  let holder: pg.Client;
  let idle: pg.Client;
  let holderPid: number;
  let idlePid: number;
  let holding: Promise<unknown>;

  beforeAll(async () => {
    client = await connect(undefined, "pg-meminfo-oom-observer");
    holder = await connect(undefined, "pg-meminfo-oom-holder");
    idle = await connect(undefined, "pg-meminfo-oom-idle");
    holderPid = await backendPid(holder);
    idlePid = await backendPid(idle);
    // 200 MB of its own, held in a PL/pgSQL variable while the session sleeps (pg_sleep answers interrupts).
    holding = holder
      .query(`DO $$ DECLARE s text := repeat('x', ${BIG}); BEGIN PERFORM pg_sleep(120); END $$`)
      .catch(() => undefined);
    await untilSleeping(client, holderPid);
  });

  afterAll(async () => {
    await client?.query("SELECT pg_cancel_backend($1)", [holderPid]).catch(() => undefined);
    await holding;
    await holder?.end().catch(() => undefined);
    await idle?.end().catch(() => undefined);
    await client?.end().catch(() => undefined);
  });

  it("gives the session holding 200 MB the highest oom_score of the client backends, as the kernel does", async () => {
    const { rows } = await client.query<{ pid: number; oom_score: number; uss_bytes: string }>(
      `SELECT pid, oom_score, uss_bytes FROM backend_memory
        WHERE backend_type = 'client backend' ORDER BY oom_score DESC, pid`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const [first, second] = rows;
    expect(first?.pid).toBe(holderPid);
    expect(Number(first?.uss_bytes)).toBeGreaterThan(BIG);
    expect(first?.oom_score).toBeGreaterThan(second?.oom_score ?? Number.POSITIVE_INFINITY);
    // The kernel's own figure, read apart: the held memory does not move while the session sleeps.
    expect(Math.abs((first?.oom_score ?? -1) - procValue(holderPid, "oom_score"))).toBeLessThanOrEqual(1);
    for (const row of rows) {
      expect(typeof row.oom_score).toBe("number");
    }
  });

  it("names the big session first in oom_candidates, with its share of the headroom", async () => {
    const { rows } = await client.query(
      `SELECT c.oom_rank, c.pid, c.application_name, c.state, c.uss_bytes, c.headroom_share,
              m.headroom_bytes
         FROM oom_candidates c CROSS JOIN cluster_memory m ORDER BY c.oom_rank LIMIT 1`,
    );
    const [top] = rows;
    expect(top).toMatchObject({
      oom_rank: "1",
      pid: holderPid,
      application_name: "pg-meminfo-oom-holder",
      state: "active",
    });
    const share = Number(top.uss_bytes) / Number(top.headroom_bytes);
    // Two reads of memory that moves a little between them: four decimals, within a percent.
    expect(Math.abs(Number(top.headroom_share) - share)).toBeLessThan(share * 0.01 + 0.0001);
    const all = await candidates(client);
    expect(all.map((r) => Number(r.oom_rank))).toEqual(all.map((_, i) => i + 1));
    const scores = all.map((r) => r.oom_score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it("moves a backend in oom_candidates when its oom_score_adj is written, and reads it back", async () => {
    const before = procValue(idlePid, "oom_score_adj");
    const rankOf = async () => (await candidates(client)).find((r) => r.pid === idlePid);
    const was = await rankOf();
    expect(Number(was?.oom_rank)).toBeGreaterThan(1);
    expect(was?.oom_score_adj).toBe(before);
    setAdj(idlePid, 1000);
    try {
      const raised = await rankOf();
      expect(raised).toMatchObject({ oom_rank: "1", oom_score_adj: 1000 });
      expect(raised?.oom_score).toBe(procValue(idlePid, "oom_score"));
      const { rows } = await client.query("SELECT oom_score_adj FROM smap_summary WHERE pid = $1", [idlePid]);
      expect(rows).toEqual([{ oom_score_adj: 1000 }]);
    } finally {
      setAdj(idlePid, before);
    }
    expect(Number((await rankOf())?.oom_rank)).toBeGreaterThan(1);
  });
});

/** The cgroup figures of a process, read here from the files, independently of the sidecar's code. */
function expectedLimits(pid: number) {
  const meminfo = readFileSync("/proc/meminfo", "latin1");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(meminfo)?.[1]) * 1024;
  const lines = readFileSync(`/proc/${pid}/cgroup`, "latin1").trim().split("\n");
  const v1 = lines.map((l) => l.split(":")).find((f) => (f[1] ?? "").split(",").includes("memory"));
  const v2 = lines.find((l) => l.startsWith("0::"));
  const read = (path: string) => readFileSync(path, "latin1");
  const keyed = (text: string, key: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${key} `));
    return line === undefined ? null : Number(line.split(" ")[1]);
  };
  let cgroup: { source: string; limit: string; used: number; kills: number | null } | null = null;
  if (v1 !== undefined) {
    const dir = `/sys/fs/cgroup/memory${v1[2]}`;
    cgroup = {
      source: "cgroup v1",
      limit: read(`${dir}/memory.limit_in_bytes`).trim(),
      used: Number(read(`${dir}/memory.usage_in_bytes`)),
      kills: keyed(read(`${dir}/memory.oom_control`), "oom_kill"),
    };
  } else if (v2 !== undefined) {
    const dir = `/sys/fs/cgroup${v2.slice(3)}`;
    cgroup = {
      source: "cgroup v2",
      limit: read(`${dir}/memory.max`).trim(),
      used: Number(read(`${dir}/memory.current`)),
      kills: keyed(read(`${dir}/memory.events`), "oom_kill"),
    };
  }
  const unlimited = cgroup === null || cgroup.limit === "max" || BigInt(cgroup.limit) > 2n ** 62n;
  return {
    source: unlimited ? "meminfo" : cgroup?.source,
    limit: unlimited ? kb("MemTotal") : Number(cgroup?.limit),
    used: unlimited ? kb("MemTotal") - kb("MemAvailable") : (cgroup?.used as number),
    kills: cgroup?.kills ?? null,
    overcommit: Number(read("/proc/sys/vm/overcommit_memory")),
  };
}

describe("cluster_memory's limits", () => {
  let client: pg.Client;
  let postmaster: number;

  beforeAll(async () => {
    client = await connect();
    postmaster = (await client.query("SELECT pg_meminfo_postmaster_pid() AS pid")).rows[0].pid;
  });

  afterAll(async () => {
    await client?.end();
  });

  it("matches the cgroup and /proc files of the postmaster, read apart", async () => {
    const { rows } = await client.query(
      `SELECT memory_limit_bytes, memory_used_bytes, headroom_bytes, oom_kills, overcommit_memory,
              memory_limit_source FROM cluster_memory`,
    );
    const expected = expectedLimits(postmaster);
    const [row] = rows;
    expect(row.memory_limit_source).toBe(expected.source);
    expect(Number(row.memory_limit_bytes)).toBe(expected.limit);
    // Used memory moves between the two reads: within 64 MB.
    expect(Math.abs(Number(row.memory_used_bytes) - expected.used)).toBeLessThan(64 * 1024 * 1024);
    expect(Number(row.headroom_bytes)).toBe(Number(row.memory_limit_bytes) - Number(row.memory_used_bytes));
    expect(row.oom_kills === null ? null : Number(row.oom_kills)).toBe(expected.kills);
    expect(row.overcommit_memory).toBe(expected.overcommit);
  });

  it("says the postmaster is protected only while its oom_score_adj is below every child's", async () => {
    const protectedNow = async () =>
      (await client.query("SELECT postmaster_protected FROM cluster_memory")).rows[0].postmaster_protected;
    const children = async () =>
      (await client.query<{ pid: number }>("SELECT pid FROM pg_stat_activity")).rows.map((r) => r.pid);
    expect(procValue(postmaster, "oom_score_adj")).toBe(0);
    expect(await protectedNow()).toBe(false);
    // Lowering the postmaster's needs CAP_SYS_RESOURCE, which a container's root may lack; raising
    // the children's (and putting them back) does not. A child that starts meanwhile has 0 again:
    // then once more.
    const raised = new Map<number, number>();
    try {
      let seen = false;
      for (let attempt = 0; attempt < 5 && !seen; attempt++) {
        for (const pid of await children()) {
          if (raised.has(pid)) continue;
          try {
            raised.set(pid, procValue(pid, "oom_score_adj"));
            setAdj(pid, 1);
          } catch {
            raised.delete(pid); // exited
          }
        }
        seen = await protectedNow();
      }
      expect(seen).toBe(true);
      const { rows } = await client.query(
        "SELECT oom_score_adj FROM backend_memory WHERE pid = pg_backend_pid()",
      );
      expect(rows).toEqual([{ oom_score_adj: 1 }]);
    } finally {
      for (const [pid, adj] of raised) {
        try {
          setAdj(pid, adj);
        } catch {
          // exited
        }
      }
    }
    expect(await protectedNow()).toBe(false);
  });

  it("reads the one row of memory_limits with no pid sent, whatever the query names", async () => {
    const plan = (await explainVerbose(client, "SELECT * FROM memory_limits")).join("\n");
    expect(plan).toContain("Sidecar Request: /v1/limits");
    expect(plan).not.toContain("Sidecar Pid Filter");
    expect((await client.query("SELECT count(*)::int AS n FROM memory_limits")).rows).toEqual([{ n: 1 }]);
    const { rows } = await client.query(
      "SELECT limit_source, cgroup FROM memory_limits WHERE memory_limit_bytes > 0",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].cgroup).toBe(readCgroupPath(postmaster));
  });
});

/** The memory cgroup path /proc/PID/cgroup gives (the v1 memory line, else the v2 line). */
function readCgroupPath(pid: number): string | null {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "latin1").trim().split("\n");
  const v1 = lines.map((l) => l.split(":")).find((f) => (f[1] ?? "").split(",").includes("memory"));
  if (v1 !== undefined) return v1.slice(2).join(":");
  const v2 = lines.find((l) => l.startsWith("0::"));
  return v2 === undefined ? null : v2.slice(3);
}
