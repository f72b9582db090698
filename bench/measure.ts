/** Measures around a query: medians, a process's memory, the cluster's temporary files. */
import { readFileSync } from "node:fs";
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

/**
 * temp_bytes of the cluster's databases so far, with the counters of the backend that ran the queries
 * flushed first (`flush` runs SQL on that backend's session): a backend otherwise reports them up to
 * a second later, into whichever query is measured then.
 */
export async function tempBytes(
  client: pg.Client,
  flush: (sql: string) => Promise<unknown>,
): Promise<number> {
  await flush("SELECT pg_stat_force_next_flush()");
  // The flush happens when the backend goes idle after the statement above.
  await flush("SELECT 1");
  const { rows } = await client.query<{ bytes: string }>(
    "SELECT pg_stat_clear_snapshot(), coalesce(sum(temp_bytes), 0)::text AS bytes FROM pg_stat_database",
  );
  return Number(rows[0]?.bytes ?? 0);
}
