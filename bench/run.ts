/** One benchmark run: grow the backends step by step and time every query against its floors. */
import type pg from "pg";
import { SidecarProcess } from "../harness/sidecar-process.js";
import { type ConcurrencyResult, measureConcurrency } from "./concurrency.js";
import { catMs, procFiles } from "./floor.js";
import { median, statusKb, tempBytes } from "./measure.js";
import { PsqlSession } from "./psql.js";
import { SAMPLER_ARGS, type SamplerCost, samplerCost } from "./sampler-cost.js";
import { type ScrapeResult, scrapeCost, sidecarScrapeCost } from "./scrape.js";
import { cpuMs, sampleUss, ussKb } from "./sidecar-meter.js";
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
  /** Distinct full scans run at once at the main backend count (0: none). */
  concurrentScans?: number;
  /** Seconds the history sampler is measured, at the main backend count (default 10; 0 skips it). */
  samplerSeconds?: number;
}

/** What is timed; `ours` queries go through the sidecar. */
export const QUERIES = {
  summary: { sql: "SELECT * FROM smap_summary", ours: true },
  summaryPid: { sql: "SELECT * FROM smap_summary WHERE pid = $PID", ours: true },
  smaps: { sql: "SELECT * FROM get_all_smaps", ours: true },
  byKind: { sql: "SELECT * FROM backend_memory_by_kind", ours: true },
  memory: { sql: "SELECT * FROM backend_memory", ours: true },
  memoryPid: { sql: "SELECT * FROM backend_memory WHERE pid = $PID", ours: true },
  heap: { sql: "SELECT * FROM bench_smaps_copy", ours: false },
  originalSmaps: { sql: "SELECT * FROM original.get_all_smaps()", ours: false },
  originalSummary: { sql: "SELECT * FROM original.smap_summary", ours: false },
  originalSummaryPid: { sql: "SELECT * FROM original.smap_summary WHERE pid = $PID", ours: false },
} as const;

export type QueryName = keyof typeof QUERIES;

export interface StepResult {
  /** The sidecar's --read-threads, or undefined for its default. */
  readThreads?: number | undefined;
  backends: number;
  processes: number;
  /** Median milliseconds of each query, as psql timed it with every row sent to it. */
  ms: Record<QueryName, number>;
  rows: Record<QueryName, number>;
  /** Median sidecar CPU (user + system, all threads) per query, ms. */
  sidecarCpuMs: Record<QueryName, number>;
  /** Median milliseconds of `cat` over all smaps, all smaps_rollup, and one smaps_rollup. */
  floor: { smaps: number; rollup: number; rollupOne: number };
  /** Temporary file bytes written per call, largest over the runs. */
  tempBytes: Record<QueryName, number>;
  /** Largest growth of the querying backend's anonymous memory during a call, kB. */
  backendGrowthKb: Record<QueryName, number>;
  /** The sidecar's USS: idle before the step, and the largest sampled during full get_all_smaps scans, kB. */
  sidecarIdleUssKb: number;
  sidecarPeakUssKb: number;
  /** The sidecar's largest resident size (VmHWM) so far, kB. */
  sidecarHwmKb: number;
  /** GET /metrics of a sidecar sampling this step's processes (the main count only). */
  scrape?: ScrapeResult | undefined;
  /** Many distinct scans at once (the main step of the default setting only). */
  concurrency?: ConcurrencyResult | undefined;
  /** The history sampler's cost, at the main backend count (bench/sampler-cost.ts). */
  sampler?: SamplerCost | undefined;
  /** GET /metrics of a round of fixtures as large, every process with labels of its own (the main count only). */
  scrapeFixture?: ScrapeResult | undefined;
}

const NAMES = Object.keys(QUERIES) as QueryName[];

function record<T>(make: () => T): Record<QueryName, T> {
  return Object.fromEntries(NAMES.map((n) => [n, make()])) as Record<QueryName, T>;
}

/** Timed scrapes of GET /metrics (their median is reported). */
const SCRAPES = 200;

/** Scans while the sidecar's USS is sampled, apart from the timed runs (the sampling costs CPU). */
const USS_SCANS = 3;

async function step(
  workload: Workload,
  client: pg.Client,
  psql: PsqlSession,
  psqlPid: number,
  sidecarPid: number,
  runs: number,
): Promise<StepResult> {
  const pids = await workload.processPids();
  const samplePid = await workload.samplePid();
  // The heap-table floor: the same rows get_all_smaps sends, from a plain table.
  await client.query("DROP TABLE IF EXISTS bench_smaps_copy");
  await client.query("CREATE TABLE bench_smaps_copy AS SELECT * FROM get_all_smaps");
  await client.query("VACUUM ANALYZE bench_smaps_copy");
  const times = record<number[]>(() => []);
  const cpu = record<number[]>(() => []);
  const temp = record(() => 0);
  const growth = record(() => 0);
  const floors = { smaps: [] as number[], rollup: [] as number[], rollupOne: [] as number[] };
  const sidecarIdleUssKb = ussKb(sidecarPid);
  // One untimed round warms caches and the sidecar's code paths.
  for (let run = -1; run < runs; run++) {
    const timed = run >= 0;
    floors.smaps.push(await catMs(procFiles(pids, "smaps")));
    floors.rollup.push(await catMs(procFiles(pids, "smaps_rollup")));
    floors.rollupOne.push(await catMs(procFiles([samplePid], "smaps_rollup")));
    for (const name of NAMES) {
      const sql = QUERIES[name].sql.replace("$PID", String(samplePid));
      const flush = (statement: string) => psql.time(statement);
      const before = timed ? await tempBytes(client, flush) : 0;
      const anonBefore = statusKb(psqlPid, "RssAnon");
      let anonPeak = anonBefore;
      const watch = setInterval(() => {
        anonPeak = Math.max(anonPeak, statusKb(psqlPid, "RssAnon"));
      }, 5);
      const cpuBefore = cpuMs(sidecarPid);
      const ms = await psql.time(sql).finally(() => clearInterval(watch));
      const cpuAfter = cpuMs(sidecarPid);
      const anonAfter = Math.max(anonPeak, statusKb(psqlPid, "RssAnon"));
      if (!timed) continue;
      temp[name] = Math.max(temp[name], (await tempBytes(client, flush)) - before);
      times[name].push(ms);
      cpu[name].push(QUERIES[name].ours ? cpuAfter - cpuBefore : 0);
      growth[name] = Math.max(growth[name], anonAfter - anonBefore);
    }
    if (timed) progress(`  ${pids.length} processes: run ${run + 1}/${runs} done`);
  }
  if (runs > 0) for (const key of ["smaps", "rollup", "rollupOne"] as const) floors[key].shift();
  const rows = record(() => 0);
  for (const name of NAMES) {
    const sql = QUERIES[name].sql.replace("$PID", String(samplePid));
    const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM (${sql}) q`);
    rows[name] = Number(counted[0]?.n ?? 0);
  }
  const sampler = sampleUss(sidecarPid);
  for (let scan = 0; scan < USS_SCANS; scan++) await psql.time(QUERIES.smaps.sql);
  const sidecarPeakUssKb = sampler.stop();
  return {
    backends: workload.backends,
    processes: pids.length,
    ms: Object.fromEntries(NAMES.map((n) => [n, median(times[n])])) as Record<QueryName, number>,
    rows,
    sidecarCpuMs: Object.fromEntries(NAMES.map((n) => [n, median(cpu[n])])) as Record<QueryName, number>,
    floor: {
      smaps: median(floors.smaps),
      rollup: median(floors.rollup),
      rollupOne: median(floors.rollupOne),
    },
    tempBytes: temp,
    backendGrowthKb: growth,
    sidecarIdleUssKb,
    sidecarPeakUssKb,
    sidecarHwmKb: statusKb(sidecarPid, "VmHWM"),
  };
}

/** The pid of the backend serving psql. */
async function psqlBackend(client: pg.Client, applicationName: string): Promise<number> {
  const { rows } = await client.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
    [applicationName],
  );
  const pid = rows[0]?.pid;
  if (pid === undefined) throw new Error("the bench's psql session has no backend");
  return pid;
}

/** Runs the benchmark; the results come in ascending order of backends. */
export async function runBench(options: BenchOptions): Promise<StepResult[]> {
  const steps = [...new Set([...options.curve, options.backends])].sort((a, b) => a - b);
  if (options.install) await installExtensions();
  const max = steps[steps.length - 1] ?? options.backends;
  progress(`starting a cluster for up to ${max} backends`);
  const concurrentScans = options.concurrentScans ?? 0;
  const workload = await Workload.start(max + concurrentScans);
  // The queries are timed without the sampler; it is measured on its own (samplerCost).
  const start = (extra: string[] = []) =>
    SidecarProcess.start(workload.cluster, {
      extraArgs: ["--sample-interval", "0", ...(options.sidecarArgs ?? []), ...extra],
    });
  let sidecar: SidecarProcess | undefined;
  let client: pg.Client | undefined;
  let psql: PsqlSession | undefined;
  try {
    sidecar = await start();
    client = await workload.cluster.connect("postgres", undefined, "bench client");
    psql = await PsqlSession.open(workload.cluster, "bench psql");
    const psqlPid = await psqlBackend(client, "bench psql");
    const results: StepResult[] = [];
    const modes: StepResult[] = [];
    for (const n of steps) {
      progress(`opening backends: ${n}`);
      await workload.grow(n);
      progress(`measuring at ${n} backends, ${options.runs} runs`);
      const result = await step(workload, client, psql, psqlPid, sidecar.pid as number, options.runs);
      if (n === options.backends) {
        progress(`timing ${SCRAPES} scrapes of GET /metrics of a sidecar sampling every second`);
        result.scrape = await sidecarScrapeCost(workload.cluster, SCRAPES);
        progress(`timing ${SCRAPES} scrapes of GET /metrics over fixtures of ${result.processes} processes`);
        result.scrapeFixture = await scrapeCost(result.processes, SCRAPES);
      }
      if (n === options.backends && concurrentScans > 0)
        result.concurrency = await measureConcurrency(
          workload.cluster,
          sidecar.pid as number,
          concurrentScans,
        );
      results.push(result);
      const seconds = options.samplerSeconds ?? 10;
      if (n === options.backends && seconds > 0) {
        progress(`measuring the history sampler at ${n} backends for ${seconds} s`);
        await sidecar.stop();
        sidecar = await start(SAMPLER_ARGS);
        result.sampler = await samplerCost(sidecar, client, seconds);
        await sidecar.stop();
        sidecar = await start();
      }
      if (n !== options.backends || (options.readThreads ?? []).length === 0) continue;
      // The other settings at the main count, each with a sidecar of its own; then the default again.
      for (const threads of options.readThreads ?? []) {
        await sidecar.stop();
        sidecar = await start(["--read-threads", String(threads)]);
        progress(`measuring at ${n} backends with --read-threads ${threads}, ${options.runs} runs`);
        const result = await step(workload, client, psql, psqlPid, sidecar.pid as number, options.runs);
        modes.push({ ...result, readThreads: threads });
      }
      if (n === steps[steps.length - 1]) continue;
      await sidecar.stop();
      sidecar = await start();
    }
    return [...results, ...modes];
  } finally {
    await psql?.close().catch(() => {});
    await client?.end().catch(() => {});
    await sidecar?.stop();
    await workload.stop();
  }
}
