// The README's pg_cron recipe with pg_cron really running: a cluster of its own with
// shared_preload_libraries = 'pg_cron', its own sidecar, the snapshot and the drop scheduled, and the
// rows the scheduled job wrote read back.
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";

const SNAPSHOT = "SELECT public.pg_meminfo_snapshot()";
const DROP = "SELECT public.pg_meminfo_drop_snapshots('7 days')";
/** A minute-schedule job runs at the next minute boundary: at most 60 s from now, plus its run. */
const WAIT_MS = 100_000;

let cluster: ThrowawayCluster;
let sidecar: SidecarProcess | undefined;
let client: pg.Client;

beforeAll(async () => {
  cluster = await ThrowawayCluster.create({
    prefix: "pg-meminfo-cron-",
    settings: {
      shared_preload_libraries: "'pg_cron'",
      "cron.database_name": "'postgres'",
      // Jobs run in background workers of the server: no libpq connection, no password or host to set.
      "cron.use_background_workers": "on",
      max_worker_processes: "16",
    },
  });
  await cluster.start();
  client = await cluster.connect();
  const { rows } = await client.query("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron'");
  if (rows.length === 0) {
    throw new Error(
      `pg_cron is not installed in ${cluster.binDir}/..: scripts/setup.sh installs postgresql-15-cron`,
    );
  }
  await client.query("CREATE EXTENSION pg_cron");
  await client.query("CREATE EXTENSION pg_meminfo");
  sidecar = await SidecarProcess.start(cluster);
}, 120_000);

afterAll(async () => {
  await client?.end().catch(() => undefined);
  await sidecar?.stop();
  await cluster?.destroy();
});

/** pg_cron's version as [major, minor]: '1.4-1' is [1, 4]. */
async function cronVersion(): Promise<[number, number]> {
  const { rows } = await client.query("SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
  const [major, minor] = String(rows[0]?.extversion).split(/[.-]/).map(Number);
  return [major ?? 0, minor ?? 0];
}

describe("snapshots scheduled with pg_cron", () => {
  it("the scheduled job snapshots every process and the drop job drops old days", async () => {
    // A day long gone, for the drop job to find.
    await client.query("SELECT public.pg_meminfo_snapshot('2001-01-01 12:00:00+00')");
    const [major, minor] = await cronVersion();
    // Schedules in seconds came with pg_cron 1.5; before, a minute is the shortest.
    const every = major > 1 || minor >= 5 ? "5 seconds" : "* * * * *";
    const { rows: jobs } = await client.query<{ snapshot: string; drop: string }>(
      "SELECT cron.schedule('pg_meminfo snapshot', $1, $2) AS snapshot, cron.schedule('pg_meminfo drop snapshots', $1, $3) AS drop",
      [every, SNAPSHOT, DROP],
    );
    const snapshotJob = String(jobs[0]?.snapshot);
    const dropJob = String(jobs[0]?.drop);

    const deadline = Date.now() + WAIT_MS;
    let runs: { jobid: string; job_pid: number; status: string; start_time: Date; end_time: Date }[] = [];
    while (Date.now() < deadline) {
      runs = (
        await client.query(
          "SELECT jobid, job_pid, status, start_time, end_time FROM cron.job_run_details WHERE status <> 'running' ORDER BY runid",
        )
      ).rows;
      const done = new Set(runs.map((r) => r.jobid));
      if (done.has(snapshotJob) && done.has(dropJob)) break;
      await sleep(500);
    }
    const { rows: details } = await client.query(
      "SELECT jobid, status, return_message FROM cron.job_run_details ORDER BY runid",
    );
    const snapshotRun = runs.find((r) => r.jobid === snapshotJob);
    expect(snapshotRun, `no finished run within ${WAIT_MS} ms: ${JSON.stringify(details)}`).toBeDefined();
    expect(snapshotRun?.status, JSON.stringify(details)).toBe("succeeded");
    expect(runs.find((r) => r.jobid === dropJob)?.status, JSON.stringify(details)).toBe("succeeded");

    // The job's rows: one sampled_at within its run, every process, its own among them, running the job.
    const { rows } = await client.query(
      `SELECT count(*)::int AS processes, count(DISTINCT sampled_at)::int AS times,
              bool_or(backend_type = 'postmaster') AS postmaster,
              bool_or(pid = $1 AND query = $2) AS the_job,
              min(sampled_at) >= $3 AND max(sampled_at) <= $4 AS during_the_run
         FROM memory_snapshots
        WHERE sampled_at >= $3 AND sampled_at <= $4`,
      [snapshotRun?.job_pid, SNAPSHOT, snapshotRun?.start_time, snapshotRun?.end_time],
    );
    expect(rows[0]).toMatchObject({ times: 1, postmaster: true, the_job: true, during_the_run: true });
    expect(rows[0]?.processes).toBeGreaterThan(3);
    // The drop job took the day of 2001 and nothing newer.
    const { rows: left } = await client.query(
      "SELECT count(*) FILTER (WHERE sampled_at < '2002-01-01')::int AS old, count(*)::int AS all FROM memory_snapshots",
    );
    expect(left[0]?.old).toBe(0);
    expect(left[0]?.all).toBeGreaterThan(3);
    await client.query("SELECT cron.unschedule($1::bigint), cron.unschedule($2::bigint)", [
      snapshotJob,
      dropJob,
    ]);
  }, 150_000);
});
