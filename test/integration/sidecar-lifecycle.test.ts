/**
 * The sidecar missing, killed, stopped and shut down: the FDW fails at once or within its timeout,
 * with a connection-class SQLSTATE, and a restarted sidecar serves again.
 */
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SidecarProcess } from "../../harness/sidecar-process.js";
import { connect } from "../support/db.js";
import { startSidecarAt } from "../support/extra-sidecar.js";
import { useFakeServer } from "../support/fake-server-fixture.js";
import { OK_HEAD } from "../support/fake-sidecar.js";
import { createTestServer, dropTestServer, failure } from "../support/foreign-server.js";
import { privateDir } from "../support/private-dir.js";

function signal(pid: number | undefined, name: NodeJS.Signals): void {
  if (pid === undefined) throw new Error("no pid to signal");
  process.kill(pid, name);
}

/**
 * SIGCONT for a stopped process and its runuser wrapper: runuser stops itself when its child stops
 * (as su does) and would otherwise never report the child's exit.
 */
function resume(...pids: (number | undefined)[]): void {
  for (const pid of pids) if (pid !== undefined) process.kill(pid, "SIGCONT");
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

describe("the sidecar not running, killed, stopped, shut down", () => {
  let dir: string;
  let socket: string;
  let client: pg.Client;
  let sidecar: SidecarProcess | undefined;

  beforeAll(async () => {
    dir = await privateDir("pg-meminfo-life-");
    socket = join(dir, "run", "sidecar.sock");
    client = await connect();
    await createTestServer(client, "life", { socket, timeout: "1" });
  });

  afterAll(async () => {
    await sidecar?.stop();
    if (client) await dropTestServer(client, "life");
    await client?.end();
    await rm(dir, { recursive: true, force: true });
  });

  it("bin/pg-meminfo starts node with the memory settings the footprint figures are measured with", async () => {
    sidecar = await startSidecarAt(join(dir, "flags", "sidecar.sock"));
    const pid = sidecar.pid as number;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    expect(argv).toEqual(expect.arrayContaining(["--max-semi-space-size=1", "--expose-gc"]));
    const env = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    expect(env).toEqual(expect.arrayContaining(["MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=32768"]));
    await sidecar.stop();
    sidecar = undefined;
  });

  it("not running (no socket file): fails at once with 08001 and says how to start it", async () => {
    const { value: error, ms } = await timed(() => failure(client, "SELECT * FROM life_summary"));
    expect(error.code).toBe("08001");
    expect(error.message).toBe(
      `could not connect to pg_meminfo sidecar at "${socket}": No such file or directory`,
    );
    expect(error.hint).toContain('"pg-meminfo sidecar"');
    expect(error.hint).toContain('"socket"');
    // "At once": no wait for the 1 s timeout. 900 ms leaves room for a loaded machine.
    expect(ms).toBeLessThan(900);
  });

  it("killed with SIGKILL: the stale socket fails at once; a restarted sidecar cleans up and serves", async () => {
    sidecar = await startSidecarAt(socket);
    expect(Number((await client.query("SELECT count(*) FROM life_summary")).rows[0]?.count)).toBeGreaterThan(
      1,
    );
    const killed = sidecar;
    signal(killed.pid, "SIGKILL");
    for (let i = 0; i < 100 && killed.running; i++) await new Promise((r) => setTimeout(r, 50));
    expect(killed.running).toBe(false);
    expect(existsSync(socket), "the socket file outlives a SIGKILL").toBe(true);

    const { value: error, ms } = await timed(() => failure(client, "SELECT * FROM life_summary"));
    expect(error.code).toBe("08001");
    expect(error.message).toBe(`could not connect to pg_meminfo sidecar at "${socket}": Connection refused`);
    expect(error.hint).toContain('"pg-meminfo sidecar"');
    expect(ms).toBeLessThan(900);

    sidecar = await startSidecarAt(socket);
    expect(Number((await client.query("SELECT count(*) FROM life_summary")).rows[0]?.count)).toBeGreaterThan(
      1,
    );
  });

  it("stopped with SIGSTOP: fails when the timeout expires (timeout '1'), and serves again after SIGCONT", async () => {
    if (!sidecar?.running) sidecar = await startSidecarAt(socket);
    const stopped = sidecar;
    signal(stopped.pid, "SIGSTOP");
    try {
      const { value: error, ms } = await timed(() => failure(client, "SELECT * FROM life_summary"));
      expect(error.code).toBe("08006");
      expect(error.message).toBe(`pg_meminfo sidecar at "${socket}" did not answer within 1000 ms`);
      expect(error.hint).toContain('"timeout"');
      // Never before the timeout; the upper bound is far below the 10 s default, so the option counts.
      expect(ms).toBeGreaterThanOrEqual(990);
      expect(ms).toBeLessThan(6_000);
    } finally {
      resume(stopped.pid, stopped.wrapperPid);
    }
    expect(Number((await client.query("SELECT count(*) FROM life_summary")).rows[0]?.count)).toBeGreaterThan(
      1,
    );
  });

  it("SIGTERM while requests run: each finishes whole or fails with 08xxx; the socket and secret go", async () => {
    if (!sidecar?.running) sidecar = await startSidecarAt(socket);
    const terminated = sidecar;
    const sessions = await Promise.all([connect(), connect(), connect()]);
    const outcomes: string[] = [];
    let stop = false;
    const expected = Number(
      (await client.query("SELECT count(*) FROM life_smaps WHERE pid = pg_backend_pid()")).rows[0]?.count,
    );
    const loops = sessions.map(async (session) => {
      while (!stop) {
        try {
          // Every process's mappings: a long response, so some are cut by the shutdown.
          const r = await session.query<{ n: string; mine: string }>(
            "SELECT count(*) AS n, count(*) FILTER (WHERE pid = pg_backend_pid()) AS mine FROM life_smaps",
          );
          const mine = Number(r.rows[0]?.mine);
          // A whole answer has every mapping of the session's own backend.
          outcomes.push(mine > 0 && Math.abs(mine - expected) < 50 ? "ok" : `short ${mine}/${expected}`);
        } catch (error) {
          const code = (error as pg.DatabaseError).code ?? "none";
          outcomes.push(code);
          if (code.startsWith("08")) await new Promise((r) => setTimeout(r, 20));
        }
      }
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      signal(terminated.pid, "SIGTERM");
      for (let i = 0; i < 200 && terminated.running; i++) await new Promise((r) => setTimeout(r, 50));
      expect(terminated.running).toBe(false);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      stop = true;
      await Promise.all(loops);
      await Promise.all(sessions.map((s) => s.end()));
    }
    const bad = outcomes.filter((o) => o !== "ok" && !o.startsWith("08"));
    expect(bad, outcomes.join(",")).toEqual([]);
    expect(outcomes.filter((o) => o === "ok").length).toBeGreaterThan(0);
    expect(
      outcomes.some((o) => o.startsWith("08")),
      "requests after the shutdown fail",
    ).toBe(true);
    expect(terminated.log).toContain("shutting down");
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(`${socket}.secret`)).toBe(false);
    const after = await failure(client, "SELECT * FROM life_summary");
    expect(after.code).toBe("08001");
  });
});

describe("a sidecar stopped in the middle of a response", () => {
  const ctx = useFakeServer("midway", { timeout: "1" });

  it("fails with 08006 after the timeout, not before, and closes the connection", async () => {
    // Half the rows, then the fake is stopped with SIGSTOP before it can send the rest.
    await ctx.fake.script([
      { write: `${OK_HEAD}8\r\n1\t/a\t1\n` },
      { mark: "half" },
      { sleep: 5_000 },
      { write: "0\r\n\r\n" },
    ]);
    const from = ctx.fake.events.length;
    const pending = timed(() => failure(ctx.client, "SELECT * FROM midway_smaps"));
    await ctx.fake.waitFor((e) => e.event === "mark", 5_000, from);
    signal(ctx.fake.pid, "SIGSTOP");
    try {
      const { value: error, ms } = await pending;
      expect(error.code).toBe("08006");
      expect(error.message).toMatch(/did not answer within 1000 ms/);
      expect(ms).toBeGreaterThanOrEqual(990);
      expect(ms).toBeLessThan(6_000);
    } finally {
      resume(ctx.fake.pid, ctx.fake.wrapperPid);
    }
    const closed = await ctx.fake.waitFor<{ event: "closed"; byClient: boolean }>(
      (e) => e.event === "closed",
      5_000,
      from,
    );
    expect(closed.byClient, JSON.stringify(ctx.fake.events.slice(from))).toBe(true);
  });
});
