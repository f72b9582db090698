/**
 * The sampler: every interval, one round that lists the cluster's processes with their labels
 * (pg_stat_activity) and reads each one's smaps_rollup through the read pool, the sidecar's one bound
 * on /proc reads, in batches like a query's but one batch at a time; the samples go to the history
 * ring. With an interval of 0
 * it never runs, and reads nothing. A round that fails is counted by reason in the health and logged;
 * it never stops the sidecar, and the next round comes at its time.
 */
import type { Cluster } from "../cluster/cluster.js";
import type { Queryable } from "../cluster/queryable.js";
import { BusyError, DatabaseUnavailableError } from "../errors.js";
import { R_FIGURES, R_SAMPLED_AT, R_START_TICKS, RECORD } from "../proc/rollup-figures.js";
import type { ReadPool } from "../rows/read-pool.js";
import { batchMembership } from "../rows/read-task.js";
import { growthOf } from "./growth.js";
import { labelledProcesses } from "./process-labels.js";
import { HistoryRing } from "./ring.js";
import type {
  Growth,
  ProcessLabels,
  ProcessSample,
  SampleFailure,
  SampleRound,
  SamplerHealth,
  SampleSource,
} from "./sample.js";

/** The default interval between the starts of two rounds. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;

/** Processes per task of the read pool: a rollup is about 1 kB, so several go at once. */
const BATCH = 16;

/** The part of a pino logger the sampler uses. */
export interface SamplerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface SamplerOptions {
  /** The sidecar's connection to the cluster, for pg_stat_activity. */
  db: Queryable;
  /** The one bound on /proc reads. */
  pool: ReadPool;
  /** Which processes are the cluster's: the postmaster, and when each started (pid reuse). */
  cluster: Cluster;
  /** Milliseconds between the starts of two rounds; 0 turns sampling off. */
  intervalMs: number;
  /** Where the samples go; a ring of the default size when absent. */
  ring?: HistoryRing | undefined;
  log?: SamplerLog | undefined;
  /** Root of the proc tree the rollups are read from; "/proc" unless tests point it elsewhere. */
  procRoot?: string | undefined;
  now?: () => number;
}

const SILENT: SamplerLog = { info() {}, warn() {}, debug() {} };

function failureOf(err: unknown): SampleFailure {
  if (err instanceof DatabaseUnavailableError) return "database";
  if (err instanceof BusyError) return "busy";
  return "proc";
}

export class Sampler implements SampleSource {
  readonly intervalMs: number;
  readonly ring: HistoryRing;
  readonly #db: Queryable;
  readonly #pool: ReadPool;
  readonly #cluster: Cluster;
  readonly #log: SamplerLog;
  readonly #procRoot: string | undefined;
  readonly #now: () => number;
  #latest: SampleRound | null = null;
  #rounds = 0;
  readonly #failures: Record<SampleFailure, number> = { database: 0, proc: 0, busy: 0 };
  #lastFailure: SamplerHealth["lastFailure"] = null;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<unknown> | null = null;
  #started = false;
  #stopped = false;
  #warnedHidden = false;

  constructor(options: SamplerOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs < 0) {
      throw new RangeError("the sample interval is a number of ms, 0 or more");
    }
    this.intervalMs = options.intervalMs;
    this.ring = options.ring ?? new HistoryRing();
    this.#db = options.db;
    this.#pool = options.pool;
    this.#cluster = options.cluster;
    this.#log = options.log ?? SILENT;
    this.#procRoot = options.procRoot;
    this.#now = options.now ?? Date.now;
  }

  /** Starts the rounds: the first at once, then one every interval. Nothing with an interval of 0. */
  start(): void {
    if (this.intervalMs === 0 || this.#started || this.#stopped) return;
    this.#started = true;
    this.#schedule(this.#now(), 0);
  }

  /** Stops the rounds; resolves when the one under way (if any) has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /**
   * Rounds start at first + k × interval; a round that overruns skips the starts it missed. The wait
   * is never longer than an interval, whatever the clock does.
   */
  #schedule(first: number, delay: number): void {
    const timer = setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      this.#running = this.round().finally(() => {
        this.#running = null;
        if (this.#stopped) return;
        const now = this.#now();
        const next = first + (Math.floor((now - first) / this.intervalMs) + 1) * this.intervalMs;
        this.#schedule(first, Math.min(Math.max(next - now, 0), this.intervalMs));
      });
    }, delay);
    // Rounds never keep the process alive.
    timer.unref();
    this.#timer = timer;
  }

  /**
   * One round: the samples of every cluster process, added to the ring. Resolves with the round, or
   * with null when it failed (counted in the health and logged); never rejects.
   */
  async round(): Promise<SampleRound | null> {
    const startedAt = this.#now();
    try {
      const { processes, sharedMemoryBytes } = await this.#sample();
      const round: SampleRound = {
        startedAt,
        durationMs: this.#now() - startedAt,
        processes,
        sharedMemoryBytes,
      };
      this.ring.add(processes);
      const failure = this.#lastFailure;
      if (failure !== null && (this.#latest === null || failure.at >= this.#latest.startedAt))
        this.#log.info({ processes: processes.length }, "sampling works again");
      this.#latest = round;
      this.#rounds++;
      this.#log.debug(
        { processes: processes.length, durationMs: round.durationMs, ringBytes: this.ring.bytes },
        "sample round",
      );
      return round;
    } catch (err) {
      this.#failed(startedAt, err);
      return null;
    }
  }

  #failed(at: number, err: unknown): void {
    const reason = failureOf(err);
    const message = err instanceof Error ? err.message : String(err);
    // The first failure of a run of them is a warning; the rest would only repeat it.
    const first =
      this.#lastFailure === null || (this.#latest !== null && this.#latest.startedAt > this.#lastFailure.at);
    this.#failures[reason]++;
    this.#lastFailure = { at, reason, message };
    (first ? this.#log.warn : this.#log.debug).call(
      this.#log,
      { reason, err: message },
      "a sample round failed",
    );
  }

  async #sample(): Promise<{ processes: ProcessSample[]; sharedMemoryBytes: number | null }> {
    const postmaster = await this.#cluster.postmasterPid();
    const { labels, hidden, sharedMemoryBytes } = await labelledProcesses(this.#db, postmaster);
    if (hidden > 0 && !this.#warnedHidden) {
      this.#warnedHidden = true;
      this.#log.warn(
        { sessions: hidden },
        "pg_stat_activity hides backend_type and backend_start of other roles' sessions from the sidecar's " +
          "role: memory_history has no labels for them and memory_growth leaves them out; " +
          "GRANT pg_read_all_stats to the sidecar's role",
      );
    }
    const started = new Map<number, number>();
    for (const [pid, l] of labels) started.set(pid, l.backendStart ?? Number.NaN);
    // The postmaster as of now (the cluster may have restarted since the last request).
    await this.#cluster.identity();
    const membership = await this.#cluster.membership(started);
    const pids = [...labels.keys()];
    const samples: ProcessSample[] = [];
    // One batch at a time: the sampler takes one read thread at most and leaves the others to
    // queries. The first batch is admitted like a request's: a busy pool refuses the round whole.
    for (let at = 0; at < pids.length; at += BATCH) {
      const batch = pids.slice(at, at + BATCH);
      const task = {
        type: "samples" as const,
        pids: batch,
        procRoot: this.#procRoot,
        membership: batchMembership(membership, batch),
      };
      const buf = await this.#pool.run(task, { admit: at === 0 });
      const records = new Float64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8);
      collect(records, batch, labels, samples);
    }
    return { processes: samples, sharedMemoryBytes };
  }

  health(): SamplerHealth {
    const latest = this.#latest;
    const failure = this.#lastFailure;
    return {
      intervalMs: this.intervalMs,
      latest,
      rounds: this.#rounds,
      failures: { ...this.#failures },
      lastFailure:
        failure !== null && (latest === null || failure.at >= latest.startedAt) ? { ...failure } : null,
    };
  }

  /** The growth of every process of the latest round over the last windowMs (history/growth.ts). */
  growth(windowMs: number): Growth[] {
    const latest = this.#latest;
    if (latest === null) return [];
    const now = this.#now();
    return growthOf(this.ring, latest.processes, now - windowMs, now);
  }
}

/** The samples of a batch's records; processes that were not read (exited, pid reused) are left out. */
function collect(
  records: Float64Array,
  pids: readonly number[],
  labels: ReadonlyMap<number, ProcessLabels>,
  out: ProcessSample[],
): void {
  pids.forEach((pid, i) => {
    const at = i * RECORD;
    const startTicks = records[at + R_START_TICKS] as number;
    if (startTicks < 0) return;
    const kb = (f: number) => (records[at + R_FIGURES + f] as number) * 1024;
    out.push({
      pid,
      startTicks,
      sampledAt: records[at + R_SAMPLED_AT] as number,
      rss: kb(0),
      pss: kb(1),
      pssAnon: kb(2),
      pssShmem: kb(3),
      uss: kb(4),
      anonymous: kb(5),
      swap: kb(6),
      labels: labels.get(pid) as ProcessLabels,
    });
  });
}
