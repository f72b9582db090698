/**
 * Many scans at once that cannot share a read: every session asks get_all_smaps for another column
 * list, so each one is its own request to the sidecar. A waiting request must cost almost nothing:
 * the sidecar's peak USS is compared with its peak during one scan alone, and its USS after them
 * with its USS before.
 */
import type pg from "pg";
import type { ThrowawayCluster } from "../harness/throwaway-cluster.js";
import { sampleUss, ussKb } from "./sidecar-meter.js";
import { progress } from "./workload.js";

/** Columns of get_all_smaps that vary per session (with pid, always asked for). */
const VARYING = [
  "rss",
  "pss",
  "private_dirty",
  "shared_clean",
  "swap",
  "anonymous",
  "referenced",
  "mem_size",
];

/** The i-th distinct column list: a different subset of VARYING for each i below 2^8. */
function columnsFor(i: number): string {
  const picked = VARYING.filter((_, bit) => ((i + 1) >> bit) & 1);
  return ["pid", ...picked].join(", ");
}

export interface ConcurrencyResult {
  scans: number;
  /** Scans that failed, by SQLSTATE. */
  failed: Record<string, number>;
  /** Rows each scan returned, smallest and largest (every scan reads every process). */
  rows: { min: number; max: number };
  seconds: number;
  idleUssKb: number;
  singlePeakUssKb: number;
  concurrentPeakUssKb: number;
  /** USS a second and ten seconds after the scans ended (V8 gives pages back once idle). */
  afterUssKb: number;
  settledUssKb: number;
}

/** Runs `scans` distinct full scans at once, each on its own connection, against `sidecarPid`. */
export async function measureConcurrency(
  cluster: ThrowawayCluster,
  sidecarPid: number,
  scans: number,
): Promise<ConcurrencyResult> {
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < scans; i++)
      clients.push(await cluster.connect("postgres", undefined, `bench scan ${i}`));
    const count = (client: pg.Client, i: number) =>
      // count(ROW(...)) reads every column of the list: the planner cannot drop them.
      client.query<{ n: string }>(`SELECT count(ROW(${columnsFor(i)})) AS n FROM get_all_smaps`);
    const idleUssKb = ussKb(sidecarPid);
    const single = sampleUss(sidecarPid);
    await count(clients[0] as pg.Client, 0);
    const singlePeakUssKb = single.stop();
    progress(`${scans} distinct get_all_smaps scans at once`);
    const concurrent = sampleUss(sidecarPid);
    const started = performance.now();
    const outcomes = await Promise.allSettled(clients.map((client, i) => count(client, i)));
    const seconds = (performance.now() - started) / 1000;
    const concurrentPeakUssKb = concurrent.stop();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const afterUssKb = ussKb(sidecarPid);
    await new Promise((resolve) => setTimeout(resolve, 9000));
    const failed: Record<string, number> = {};
    const counts: number[] = [];
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") counts.push(Number(outcome.value.rows[0]?.n ?? 0));
      else {
        const code = (outcome.reason as pg.DatabaseError).code ?? "none";
        failed[code] = (failed[code] ?? 0) + 1;
      }
    }
    return {
      scans,
      failed,
      rows: { min: Math.min(...counts), max: Math.max(...counts) },
      seconds,
      idleUssKb,
      singlePeakUssKb,
      concurrentPeakUssKb,
      afterUssKb,
      settledUssKb: ussKb(sidecarPid),
    };
  } finally {
    for (const client of clients) await client.end().catch(() => {});
  }
}
