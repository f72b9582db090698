/** Timing of one query from a client, with the memory of the processes involved sampled meanwhile. */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type pg from "pg";

/** A field of /proc/PID/status in kB ("VmHWM", "RssAnon", ...); 0 when the process is gone. */
export function statusKb(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "latin1");
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(text);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export interface QueryRun {
  ms: number;
  rows: number;
  /** Largest growth of the querying backend's anonymous memory during the query, kB. */
  backendGrowthKb: number;
  /** Largest resident size of the watched process during the query, kB (0 when none is watched). */
  watchedPeakKb: number;
}

/** Runs `sql` once with every row sent to the client as an array, sampling memory every few ms. */
export async function timeQuery(
  client: pg.Client,
  backendPid: number,
  sql: string,
  watchedPid?: number,
): Promise<QueryRun> {
  const baseline = statusKb(backendPid, "RssAnon");
  let backendPeak = baseline;
  let watchedPeak = 0;
  const sample = () => {
    backendPeak = Math.max(backendPeak, statusKb(backendPid, "RssAnon"));
    if (watchedPid !== undefined) watchedPeak = Math.max(watchedPeak, statusKb(watchedPid, "VmRSS"));
  };
  const timer = setInterval(sample, 5);
  const started = performance.now();
  try {
    const result = await client.query({ text: sql, rowMode: "array" });
    const ms = performance.now() - started;
    sample();
    return {
      ms,
      rows: result.rowCount ?? 0,
      backendGrowthKb: backendPeak - baseline,
      watchedPeakKb: watchedPeak,
    };
  } finally {
    clearInterval(timer);
  }
}

/** temp_bytes of the cluster's databases so far, with the querying backend's counters flushed. */
export async function tempBytes(client: pg.Client): Promise<number> {
  await client.query("SELECT pg_stat_force_next_flush()");
  // The flush happens when the backend goes idle after the statement above.
  await client.query("SELECT 1");
  const { rows } = await client.query<{ bytes: string }>(
    "SELECT pg_stat_clear_snapshot(), coalesce(sum(temp_bytes), 0)::text AS bytes FROM pg_stat_database",
  );
  return Number(rows[0]?.bytes ?? 0);
}
