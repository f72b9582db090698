/** One benchmark run: grow the backends step by step and time every query against the kernel floor. */
import type pg from "pg";
import { SidecarProcess } from "../harness/sidecar-process.js";
import { catMs, procFiles } from "./floor.js";
import { median, statusKb, tempBytes, timeQuery } from "./measure.js";
import { installExtensions, progress, Workload } from "./workload.js";

export interface BenchOptions {
  /** Backends of the main comparison. */
  backends: number;
  /** Backend counts of the scaling curve (may be empty). */
  curve: number[];
  /** Timed runs of each query at each step (their median is reported). */
  runs: number;
  /** Build and install the extensions first. */
  install: boolean;
  /** Extra arguments for `pg-meminfo sidecar`. */
  sidecarArgs?: string[];
  /** --read-threads values measured too, at the main backend count, each with its own sidecar. */
  readThreads?: number[];
}

/** What is timed; floors name the /proc file `cat` reads for the same processes. */
export const QUERIES = {
  summary: { sql: "SELECT * FROM smap_summary", floor: "smaps_rollup" },
  summaryPid: { sql: "SELECT * FROM smap_summary WHERE pid = $PID", floor: "smaps_rollup:one" },
  smaps: { sql: "SELECT * FROM get_all_smaps", floor: "smaps" },
  originalSmaps: { sql: "SELECT * FROM original.get_all_smaps()", floor: "smaps" },
  originalSummary: { sql: "SELECT * FROM original.smap_summary", floor: "smaps" },
  originalSummaryPid: { sql: "SELECT * FROM original.smap_summary WHERE pid = $PID", floor: "smaps" },
} as const;

export type QueryName = keyof typeof QUERIES;

export interface StepResult {
  /** The sidecar's --read-threads, or undefined for its default. */
  readThreads?: number | undefined;
  backends: number;
  processes: number;
  /** Median milliseconds of each query. */
  ms: Record<QueryName, number>;
  rows: Record<QueryName, number>;
  /** Median milliseconds of `cat` over all smaps, all smaps_rollup, and one smaps_rollup. */
  floor: { smaps: number; rollup: number; rollupOne: number };
  /** Temporary file bytes written per call, largest over the runs. */
  tempBytes: Record<QueryName, number>;
  /** Largest growth of the querying backend's anonymous memory during a call, kB. */
  backendGrowthKb: Record<QueryName, number>;
  /** Largest sidecar resident size sampled during its queries, and its VmHWM after them, kB. */
  sidecarPeakKb: number;
  sidecarHwmKb: number;
}

const NAMES = Object.keys(QUERIES) as QueryName[];

function record<T>(make: () => T): Record<QueryName, T> {
  return Object.fromEntries(NAMES.map((n) => [n, make()])) as Record<QueryName, T>;
}

async function step(
  workload: Workload,
  client: pg.Client,
  backendPid: number,
  sidecarPid: number | undefined,
  runs: number,
): Promise<StepResult> {
  const pids = await workload.processPids();
  const samplePid = await workload.samplePid();
  const times = record<number[]>(() => []);
  const rows = record(() => 0);
  const temp = record(() => 0);
  const growth = record(() => 0);
  const floors = { smaps: [] as number[], rollup: [] as number[], rollupOne: [] as number[] };
  let sidecarPeakKb = 0;
  // One untimed round warms caches and the sidecar's code paths.
  for (let run = -1; run < runs; run++) {
    const timed = run >= 0;
    floors.smaps.push(await catMs(procFiles(pids, "smaps")));
    floors.rollup.push(await catMs(procFiles(pids, "smaps_rollup")));
    floors.rollupOne.push(await catMs(procFiles([samplePid], "smaps_rollup")));
    for (const name of NAMES) {
      const sql = QUERIES[name].sql.replace("$PID", String(samplePid));
      const ours = !name.startsWith("original");
      const before = timed ? await tempBytes(client) : 0;
      const result = await timeQuery(client, backendPid, sql, ours ? sidecarPid : undefined);
      if (!timed) continue;
      temp[name] = Math.max(temp[name], (await tempBytes(client)) - before);
      times[name].push(result.ms);
      rows[name] = result.rows;
      growth[name] = Math.max(growth[name], result.backendGrowthKb);
      sidecarPeakKb = Math.max(sidecarPeakKb, result.watchedPeakKb);
    }
    if (timed) progress(`  ${pids.length} processes: run ${run + 1}/${runs} done`);
  }
  if (runs > 0) for (const key of ["smaps", "rollup", "rollupOne"] as const) floors[key].shift();
  return {
    backends: workload.backends,
    processes: pids.length,
    ms: Object.fromEntries(NAMES.map((n) => [n, median(times[n])])) as Record<QueryName, number>,
    rows,
    floor: {
      smaps: median(floors.smaps),
      rollup: median(floors.rollup),
      rollupOne: median(floors.rollupOne),
    },
    tempBytes: temp,
    backendGrowthKb: growth,
    sidecarPeakKb,
    sidecarHwmKb: sidecarPid === undefined ? 0 : statusKb(sidecarPid, "VmHWM"),
  };
}

/** Runs the benchmark; the results come in ascending order of backends. */
export async function runBench(options: BenchOptions): Promise<StepResult[]> {
  const steps = [...new Set([...options.curve, options.backends])].sort((a, b) => a - b);
  if (options.install) await installExtensions();
  const max = steps[steps.length - 1] ?? options.backends;
  progress(`starting a cluster for up to ${max} backends`);
  const workload = await Workload.start(max);
  let sidecar: SidecarProcess | undefined;
  let client: pg.Client | undefined;
  try {
    sidecar = await SidecarProcess.start(workload.cluster, { extraArgs: options.sidecarArgs ?? [] });
    client = await workload.cluster.connect("postgres", undefined, "bench client");
    const backendPid =
      (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;
    const results: StepResult[] = [];
    const modes: StepResult[] = [];
    for (const n of steps) {
      progress(`opening backends: ${n}`);
      await workload.grow(n);
      progress(`measuring at ${n} backends, ${options.runs} runs`);
      results.push(await step(workload, client, backendPid, sidecar.pid, options.runs));
      if (n !== options.backends || (options.readThreads ?? []).length === 0) continue;
      // The other settings at the main count, each with a sidecar of its own; then the default again.
      for (const threads of options.readThreads ?? []) {
        await sidecar.stop();
        sidecar = await SidecarProcess.start(workload.cluster, {
          extraArgs: [...(options.sidecarArgs ?? []), "--read-threads", String(threads)],
        });
        progress(`measuring at ${n} backends with --read-threads ${threads}, ${options.runs} runs`);
        const result = await step(workload, client, backendPid, sidecar.pid, options.runs);
        modes.push({ ...result, readThreads: threads });
      }
      if (n === steps[steps.length - 1]) continue;
      await sidecar.stop();
      sidecar = await SidecarProcess.start(workload.cluster, { extraArgs: options.sidecarArgs ?? [] });
    }
    return [...results, ...modes];
  } finally {
    await client?.end().catch(() => {});
    await sidecar?.stop();
    await workload.stop();
  }
}
