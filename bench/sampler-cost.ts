/**
 * What the history sampler costs: a sidecar that samples every second and does nothing else, its CPU
 * (user + system, all threads: reading a rollup is the kernel walking the process's mappings, which
 * counts as the reader's system time) over a number of rounds, per round; and how long a round takes.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { SidecarProcess } from "../harness/sidecar-process.js";
import { median } from "./measure.js";
import { cpuSplitMs } from "./sidecar-meter.js";

export interface SamplerCost {
  /** Rounds in the measured time. */
  rounds: number;
  /** Processes read per round (the latest round's). */
  processes: number;
  /** The sidecar's CPU per round, ms. */
  cpuMsPerRound: number;
  /** Of it, the part in the kernel (system time: the kernel walking each process's mappings), 0 to 1. */
  systemShare: number;
  /** Median wall time of a round, ms, from the sidecar's own log. */
  roundMs: number;
}

/** The interval of the measuring sidecar, s: short, so that the measurement takes seconds. */
export const SAMPLER_INTERVAL_S = 1;

/** Arguments of the measuring sidecar. */
export const SAMPLER_ARGS = ["--sample-interval", String(SAMPLER_INTERVAL_S), "--log-level", "debug"];

/**
 * Measures `sidecar` (started with SAMPLER_ARGS, otherwise idle) for about `seconds`; `client` is a
 * session of the cluster, for counting the rounds the history holds.
 */
export async function samplerCost(
  sidecar: SidecarProcess,
  client: pg.Client,
  seconds: number,
): Promise<SamplerCost> {
  const pid = sidecar.pid as number;
  // The first rounds start the read threads: not measured.
  await sleep(2_500);
  const since = Date.now();
  const before = cpuSplitMs(pid);
  await sleep(seconds * 1000);
  const after = cpuSplitMs(pid);
  const user = after.user - before.user;
  const system = after.system - before.system;
  const until = Date.now();
  // The postmaster is in every round, once.
  const { rows } = await client.query<{ rounds: number }>(
    `SELECT count(*)::int AS rounds FROM memory_history
      WHERE backend_type = 'postmaster' AND sampled_at > to_timestamp($1::float8 / 1000)
        AND sampled_at <= to_timestamp($2::float8 / 1000)`,
    [since, until],
  );
  const rounds = rows[0]?.rounds ?? 0;
  const logged = sidecar.log
    .split("\n")
    .filter((line) => line.includes('"msg":"sample round"'))
    .map((line) => JSON.parse(line) as { processes: number; durationMs: number; time: number })
    .filter((r) => r.time > since && r.time <= until);
  return {
    rounds,
    processes: logged[logged.length - 1]?.processes ?? 0,
    cpuMsPerRound: rounds > 0 ? (user + system) / rounds : 0,
    systemShare: user + system > 0 ? system / (user + system) : 0,
    roundMs: median(logged.map((r) => r.durationMs)),
  };
}
