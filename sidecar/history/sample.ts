/**
 * What the sampler knows: one reading of a cluster process's smaps_rollup, the rounds of readings, the
 * sampler's health and the growth of a process over a window. The history ring, the memory_history and
 * memory_growth rows and the Prometheus metrics are all made from these.
 */

/** The cluster's labels of a process, from pg_stat_activity at the time of the round. */
export interface ProcessLabels {
  /**
   * pg_stat_activity.backend_type, "postmaster" for the postmaster; "" when pg_stat_activity hides it
   * from the sidecar's role (a session of another role, the sidecar's role without pg_read_all_stats).
   */
  backendType: string;
  datname: string | null;
  usename: string | null;
  applicationName: string | null;
  /** backend_start (pg_postmaster_start_time() for the postmaster), ms since the epoch. */
  backendStart: number | null;
}

/** One process read in one round. Figures in bytes; NaN for one the kernel does not print (Pss_Anon before 5.7). */
export interface ProcessSample {
  pid: number;
  /** Kernel start time, clock ticks after boot (/proc/PID/stat field 22): with pid, the process's identity. */
  startTicks: number;
  /** When it was read, ms since the epoch. */
  sampledAt: number;
  rss: number;
  pss: number;
  pssAnon: number;
  pssShmem: number;
  /** Private_Clean + Private_Dirty: what the kernel frees when the process exits. */
  uss: number;
  anonymous: number;
  swap: number;
  labels: ProcessLabels;
}

/** One round: every cluster process read once. */
export interface SampleRound {
  /** When the round started, ms since the epoch. */
  startedAt: number;
  durationMs: number;
  processes: ProcessSample[];
  /**
   * The cluster's shared_memory_size setting at the round, bytes (pg_size_bytes(current_setting(
   * 'shared_memory_size'))); absent or null when the sampler did not read it.
   */
  sharedMemoryBytes?: number | null;
}

/** Why a round failed: the cluster could not be asked, /proc could not be read, the read bound was full. */
export type SampleFailure = "database" | "proc" | "busy";

export interface SamplerHealth {
  /** The sample interval in ms; 0 when sampling is off. */
  intervalMs: number;
  /** The latest round that succeeded, or null. */
  latest: SampleRound | null;
  /** Rounds that succeeded since start. */
  rounds: number;
  /** Rounds that failed since start, by reason. */
  failures: Record<SampleFailure, number>;
  /** The latest failure, when it is newer than the latest success. */
  lastFailure: { at: number; reason: SampleFailure; message: string } | null;
}

/** How a process's own memory moved over a window (least squares over its samples). */
export interface Growth {
  pid: number;
  startTicks: number;
  labels: ProcessLabels;
  samples: number;
  firstSampledAt: number;
  lastSampledAt: number;
  /** Own memory (pss_anon, or anonymous without it: see history/growth.ts) at the first and last sample, bytes. */
  firstBytes: number;
  lastBytes: number;
  /** Slope of the least-squares line, bytes per minute. */
  bytesPerMinute: number;
  /** Coefficient of determination of that line, 0 to 1 (null with fewer than 3 samples or a flat series). */
  r2: number | null;
  /** True only for steady growth: see history/growth.ts. */
  growing: boolean;
}

/** What the metrics listener and the history route read from the sampler. */
export interface SampleSource {
  health(): SamplerHealth;
  /** The growth of every process sampled in the latest round, over the last windowMs (none with sampling off). */
  growth(windowMs: number): Growth[];
}
