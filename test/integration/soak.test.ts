/**
 * Soak: many sessions query smap_summary and get_all_smaps through one sidecar while backends come and
 * go. Zero wrong answers, zero hangs, the sidecar's memory bounded, the sessions' memory flat.
 * SOAK_SECONDS sets the length (`npm run soak`: 60); npm test runs a short variant. Loopback only.
 */
import { readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { SidecarProcess } from "../../harness/sidecar-process.js";
import { backendPid, connect } from "../support/db.js";
import { startSidecarAt } from "../support/extra-sidecar.js";
import { createTestServer, dropTestServer } from "../support/foreign-server.js";
import { privateDir } from "../support/private-dir.js";
import { parentPid, processExists } from "../support/proc.js";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 12);
const SESSIONS = 8;
/** A query slower than this is a hang: the FDW's own timeout is 10 s. */
const HANG_MS = 15_000;

/** Seconds since boot, as the kernel counts process start times. */
function uptime(): number {
  return Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
}

/** When a process started, in seconds since boot (field 22 of stat, in clock ticks of 1/100 s). */
function startedAt(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]) / 100;
  } catch {
    return undefined;
  }
}

function statusKb(pid: number, field: string): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const line = text.split("\n").find((l) => l.startsWith(`${field}:`));
  return Number(line?.replace(/\D+/g, ""));
}

describe("soak", () => {
  let sidecar: SidecarProcess;
  let admin: pg.Client;
  let postmaster: number;
  let dir: string | undefined;

  beforeAll(async () => {
    dir = await privateDir("pg-meminfo-soak-");
    sidecar = await startSidecarAt(join(dir, "sidecar.sock"));
    admin = await connect();
    await createTestServer(admin, "soak", { socket: sidecar.socketPath, timeout: "10" });
    const text = readFileSync(join(inject("dataDir"), "postmaster.pid"), "utf8");
    postmaster = Number.parseInt(text.split("\n")[0] ?? "", 10);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true }).catch(() => {});
    if (admin) await dropTestServer(admin, "soak");
    await admin?.end();
    await sidecar?.stop();
  });

  it(`${SESSIONS} sessions for ${SECONDS} s with backends coming and going`, {
    timeout: (SECONDS + 120) * 1000,
  }, async () => {
    const sidecarPid = sidecar.pid;
    if (sidecarPid === undefined) throw new Error("no sidecar pid");
    const wrong: string[] = [];
    const errors = new Map<string, number>();
    let queries = 0;
    let slowest = 0;
    let sidecarPeakRss = 0;
    /** Rows for a pid taken over by another process while the query ran: not decidable from outside. */
    let reusedDuringQuery = 0;
    const deadline = Date.now() + SECONDS * 1000;

    /** A pid the FDW reported: the postmaster, one of its children, or a process that has exited. */
    const belongs = (pid: number) =>
      pid === postmaster || !processExists(pid) || parentPid(pid) === postmaster;

    async function timed<T>(work: Promise<T>): Promise<T> {
      const start = performance.now();
      const value = await work;
      const ms = performance.now() - start;
      slowest = Math.max(slowest, ms);
      if (ms > HANG_MS) wrong.push(`a query took ${Math.round(ms)} ms`);
      queries++;
      return value;
    }

    async function session(index: number): Promise<{ first: number; last: number }> {
      const client = await connect(undefined, `pg-meminfo-soak-${index}`);
      const me = await backendPid(client);
      const own = async () =>
        Number(
          (
            await client.query<{ a: string }>("SELECT anonymous AS a FROM soak_summary_all WHERE pid = $1", [
              me,
            ])
          ).rows[0]?.a,
        );
      try {
        let round = 0;
        let first = 0;
        while (Date.now() < deadline) {
          try {
            const mine = await timed(
              client.query<{ pid: number }>("SELECT pid FROM soak_summary WHERE pid = pg_backend_pid()"),
            );
            if (mine.rows.length !== 1 || mine.rows[0]?.pid !== me)
              wrong.push(`own summary: ${JSON.stringify(mine.rows)}`);
            const asked = uptime();
            const all = await timed(
              client.query<{ pid: number; pss: string | null }>("SELECT pid, pss FROM soak_summary"),
            );
            const pids = all.rows.map((r) => r.pid);
            if (!pids.includes(me) || !pids.includes(postmaster))
              wrong.push(`summary misses ${me} or the postmaster`);
            if (new Set(pids).size !== pids.length) wrong.push("a pid twice in the summary");
            for (const pid of pids) {
              if (belongs(pid)) continue;
              // A process outside the cluster that already ran when the query started: a wrong row.
              const started = startedAt(pid);
              if (started !== undefined && started < asked - 0.02) {
                wrong.push(`summary row for ${pid}, not a cluster process`);
              } else {
                reusedDuringQuery++;
              }
            }
            if (round % 3 === 0) {
              const maps = await timed(
                client.query<{ n: number; bad: number }>(
                  "SELECT count(*)::int AS n, count(*) FILTER (WHERE pid <> pg_backend_pid())::int AS bad " +
                    "FROM soak_smaps WHERE pid = pg_backend_pid()",
                ),
              );
              if (!(maps.rows[0]?.n && maps.rows[0].n > 10) || maps.rows[0]?.bad !== 0)
                wrong.push(`own mappings: ${JSON.stringify(maps.rows)}`);
            }
            if (round === 20) first = await own();
          } catch (error) {
            const code = (error as pg.DatabaseError).code ?? "none";
            errors.set(code, (errors.get(code) ?? 0) + 1);
            // BUSY is the sidecar protecting itself; anything else is wrong.
            if (code !== "53300") wrong.push(`error ${code}: ${(error as Error).message}`);
          }
          round++;
        }
        return { first, last: await own() };
      } finally {
        await client.end();
      }
    }

    async function churn(): Promise<number> {
      let started = 0;
      while (Date.now() < deadline) {
        const clients = await Promise.all([connect(), connect()]);
        started += clients.length;
        await clients[0]?.query("SELECT count(*) FROM soak_summary");
        await Promise.all(clients.map((c) => c.end()));
      }
      return started;
    }

    async function watchSidecar(): Promise<void> {
      while (Date.now() < deadline) {
        sidecarPeakRss = Math.max(sidecarPeakRss, statusKb(sidecarPid as number, "VmRSS"));
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    await admin.query(
      "CREATE FOREIGN TABLE soak_summary_all (pid integer, anonymous bigint) SERVER soak OPTIONS (source 'summary')",
    );
    const [memory, churned] = await Promise.all([
      Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(i))),
      churn(),
      watchSidecar(),
    ]);
    const peak = statusKb(sidecarPid, "VmHWM");
    const growth = memory.filter((m) => m.first > 0).map((m) => m.last - m.first);
    const report = {
      seconds: SECONDS,
      sessions: SESSIONS,
      queries,
      backendsChurned: churned,
      slowestMs: Math.round(slowest),
      errors: Object.fromEntries(errors),
      sidecarPeakRssKb: Math.max(peak, sidecarPeakRss),
      reusedDuringQuery,
      sessionAnonGrowthKb: growth,
    };
    await mkdir(join(inject("repoRoot"), ".tmp"), { recursive: true });
    await writeFile(join(inject("repoRoot"), ".tmp", "soak.json"), `${JSON.stringify(report, null, 2)}\n`);
    console.log(`soak: ${JSON.stringify(report)}`);

    expect(wrong.slice(0, 20)).toEqual([]);
    expect(queries).toBeGreaterThan(SECONDS * 10);
    // Node and fastify take ~60-80 MB; 256 MB leaves room and still catches a response held whole.
    expect(report.sidecarPeakRssKb).toBeLessThan(256 * 1024);
    // Flat: a session's anonymous memory moves by well under 2 MB over the run.
    for (const kb of growth) expect(kb).toBeLessThan(2_048);
  });
});
