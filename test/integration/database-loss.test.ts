/**
 * The sidecar losing its database: requests fail fast with a clear error, and it follows the cluster
 * through restarts by itself (a new postmaster, crash restarts). A second throwaway cluster is the
 * sidecar's (it can be stopped and restarted without disturbing the run's cluster). While it is down,
 * the test asks the sidecar directly, signed as that cluster's wrapper would; while it is up, through
 * the cluster's own foreign tables.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asClusterUser, run } from "../../harness/run-as.js";
import type { SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { startSidecarAt } from "../support/extra-sidecar.js";
import { createTestServer } from "../support/foreign-server.js";
import { privateDir } from "../support/private-dir.js";
import { get } from "../support/raw-http.js";
import { secretOf, signedHeaders } from "../support/signing.js";

type Outcome = { ok: true; rows: number } | { ok: false; code: string; message: string; ms: number };

describe("the sidecar's database goes away and comes back", () => {
  let other: ThrowawayCluster;
  let sidecar: SidecarProcess;
  let dir: string | undefined;
  /** The cluster as its wrapper names it; its postmaster pid changes when it starts again. */
  let name: string;

  /** Through the cluster's own foreign table, on a new connection (the cluster may have restarted). */
  async function ask(): Promise<Outcome> {
    const start = performance.now();
    let client: pg.Client | undefined;
    try {
      client = await other.connect();
      const r = await client.query<{ n: number; postmaster: number }>(
        "SELECT count(*)::int AS n, count(*) FILTER (WHERE pid = pg_meminfo_postmaster_pid())::int AS postmaster " +
          "FROM lost_summary",
      );
      // The postmaster is among the rows whenever anything is: the sidecar knows the current one.
      expect(r.rows[0]?.postmaster).toBe(1);
      return { ok: true, rows: r.rows[0]?.n ?? 0 };
    } catch (error) {
      const e = error as pg.DatabaseError;
      return { ok: false, code: e.code ?? "none", message: e.message, ms: performance.now() - start };
    } finally {
      await client?.end().catch(() => {});
    }
  }

  /** Directly, signed as the cluster's wrapper, for while the cluster cannot run a query. */
  async function askDirectly(): Promise<Outcome> {
    const start = performance.now();
    const target = "/v1/summary?columns=pid";
    const headers = signedHeaders(secretOf(sidecar.socketPath), target, {
      "x-pg-meminfo-role": "10",
      "x-pg-meminfo-cluster": name,
    });
    const res = await get(sidecar.socketPath, target, headers);
    if (res.status === 200) return { ok: true, rows: res.body.split("\n").length - 1 };
    const body = JSON.parse(res.body) as { sqlstate: string; message: string };
    return { ok: false, code: body.sqlstate, message: body.message, ms: performance.now() - start };
  }

  /** Asks until an answer has rows; every failure on the way must be the clear, fast kind. */
  async function untilServed(timeoutMs: number): Promise<Outcome[]> {
    const seen: Outcome[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const outcome = await ask();
      seen.push(outcome);
      if (outcome.ok && outcome.rows > 0) return seen;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not served again within ${timeoutMs} ms: ${JSON.stringify(seen.slice(-3))}`);
  }

  function pgCtl(args: string[]) {
    const [cmd, full] = asClusterUser(join(other.binDir, "pg_ctl"), ["-D", other.dataDir, ...args]);
    return run(cmd, full, { cwd: other.baseDir, timeoutMs: 60_000 });
  }

  beforeAll(async () => {
    other = await ThrowawayCluster.create({ prefix: "pg-meminfo-dbloss-" });
    await other.start();
    dir = await privateDir("pg-meminfo-dbloss-sock-");
    sidecar = await startSidecarAt(join(dir, "sidecar.sock"), other);
    await other.sql("CREATE EXTENSION pg_meminfo");
    const client = await other.connect();
    try {
      await createTestServer(client, "lost", { socket: sidecar.socketPath, timeout: "10" });
    } finally {
      await client.end();
    }
    name = await other.name();
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
    await sidecar?.stop();
    await other?.destroy();
  });

  it("serves while its database is up", async () => {
    const outcome = await ask();
    expect(outcome).toMatchObject({ ok: true });
    if (outcome.ok) expect(outcome.rows).toBeGreaterThan(1);
  });

  it("database stopped: fails fast with 08006 and says it cannot reach the cluster; back when it starts", async () => {
    expect((await pgCtl(["-m", "fast", "-w", "stop"])).code).toBe(0);
    for (let i = 0; i < 3; i++) {
      const outcome = await askDirectly();
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.code).toBe("08006");
      expect(outcome.message).toMatch(/^could not reach the cluster to /);
      // Fast: no wait for the FDW's 10 s timeout (5 s of slack for a loaded machine).
      expect(outcome.ms).toBeLessThan(5_000);
    }
    expect(sidecar.running).toBe(true);
    const before = await other.postmasterPid().catch(() => 0);
    await other.start();
    expect(await other.postmasterPid()).not.toBe(before);
    const seen = await untilServed(20_000);
    for (const outcome of seen) if (!outcome.ok) expect(outcome.code).toBe("08006");
    name = await other.name();
  });

  it("database crash-restarted (immediate stop): reconnects by itself", async () => {
    expect((await ask()).ok).toBe(true);
    expect((await pgCtl(["-m", "immediate", "-w", "stop"])).code).toBe(0);
    await other.start();
    const seen = await untilServed(20_000);
    for (const outcome of seen)
      if (!outcome.ok) expect([outcome.code, outcome.message]).toEqual(["08006", expect.any(String)]);
    name = await other.name();
  });

  it("a backend killed (the postmaster's crash restart, same postmaster): served again, postmaster included", async () => {
    expect((await ask()).ok).toBe(true);
    const postmaster = await other.postmasterPid();
    const [victim] = await other.sql<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'",
    );
    expect(victim).toBeDefined();
    process.kill(victim?.pid as number, "SIGKILL");
    const seen = await untilServed(30_000);
    expect(seen.at(-1)).toMatchObject({ ok: true });
    expect(await other.postmasterPid()).toBe(postmaster);
  });

  it("database hung (every process stopped): fails with 08006 well before the FDW's timeout", async () => {
    expect((await ask()).ok).toBe(true);
    const postmaster = await other.postmasterPid();
    const children = (await run("pgrep", ["-P", String(postmaster)])).stdout.trim().split(/\s+/).map(Number);
    const stopped = [postmaster, ...children.filter((pid) => pid > 0)];
    for (const pid of stopped) process.kill(pid, "SIGSTOP");
    try {
      const outcome = await askDirectly();
      expect(outcome).toMatchObject({ ok: false, code: "08006" });
      if (outcome.ok) return;
      expect(outcome.message).toMatch(/^could not reach the cluster to /);
      // The sidecar gives up on a hung cluster after 3 s (connect) or 5 s (query); the FDW waits 10 s.
      expect(outcome.ms).toBeLessThan(9_000);
    } finally {
      for (const pid of stopped) process.kill(pid, "SIGCONT");
    }
    const seen = await untilServed(20_000);
    for (const outcome of seen) if (!outcome.ok) expect(outcome.code).toBe("08006");
  });

  it("its connections terminated while the database stays up: the next request is served", async () => {
    expect((await ask()).ok).toBe(true);
    const killed = await other.sql<{ n: number }>(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'pg_meminfo sidecar'",
    );
    expect(killed[0]?.n).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 200));
    const seen = await untilServed(10_000);
    // The pool drops a dead idle connection when it notices; at most one request may see it first.
    expect(seen.filter((o) => !o.ok).length).toBeLessThanOrEqual(1);
  });
});
