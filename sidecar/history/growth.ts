/**
 * How a process's own memory moved over a window, and whether it keeps growing. The memory_growth view
 * of the extension (sql/pg_meminfo--1.1.sql) computes the same, in SQL, by the same rule.
 *
 * A process is a series of samples: a pid and the kernel's start time of the process (the ring's key),
 * so a pid the kernel gave to a new process starts a new series and never continues the old one.
 *
 * Own memory is pss_anon: the process's share of the anonymous pages it maps, heap and malloc'd
 * memory, sorts and hashes, its caches. Not RSS, which grows by itself as a backend touches more of
 * shared_buffers; not USS (Private_*), which counts the shared_buffers pages only this backend has
 * touched; and rather than Anonymous, because the pages a backend inherits from the postmaster at fork
 * count only in part until it writes to them, and the copy the kernel then makes is new memory of its
 * own. On kernels without Pss_Anon (before 5.7) Anonymous stands in.
 *
 * The slope is the least-squares line through the samples, in bytes per minute; r2 is how well that
 * line fits. A process is `growing` only when all of these hold:
 * - at least MIN_SAMPLES samples in the window;
 * - r2 of at least MIN_R2: the samples follow a line rather than jump around it;
 * - a slope of at least MIN_BYTES_PER_MINUTE;
 * - the rise is spread over time, not one step. The time from the first sample to the last is cut
 *   into four quarters; each must hold a sample, and of the rise from the first quarter's mean to the
 *   last's, at most MAX_STEP_SHARE may lie between two neighbouring quarters. A steady leak rises a
 *   third of the way between each pair; a big sort that jumps once and then stays puts all of it
 *   between two, and a ramp that takes a quarter of the time or less at least half.
 */

import { FIGURES } from "../proc/rollup-figures.js";
import type { HistoryRing } from "./ring.js";
import type { Growth, ProcessLabels, ProcessSample } from "./sample.js";

/** The fewest samples that can say "growing". */
export const MIN_SAMPLES = 6;
/** The worst fit of the line that can say "growing". */
export const MIN_R2 = 0.8;
/** The slowest growth that counts: 64 kB per minute (about 90 MB a day). */
export const MIN_BYTES_PER_MINUTE = 65536;
/** The largest part of the rise that may lie between two neighbouring quarters of the time. */
export const MAX_STEP_SHARE = 0.4;

export const MS_PER_MINUTE = 60_000;

/** The fit of one process's samples: what memory_growth shows besides the process and its labels. */
export type Fit = Omit<Growth, "pid" | "startTicks" | "labels">;

/**
 * The fit of samples taken at `at` (ms since the epoch, ascending) with own memory `bytes`. At least
 * one sample; with one, or all taken at the same time, the slope is 0.
 */
export function fitGrowth(at: ArrayLike<number>, bytes: ArrayLike<number>): Fit {
  const n = at.length;
  const t0 = at[0] as number;
  const t1 = at[n - 1] as number;
  let sx = 0;
  let sy = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    sx += ((at[i] as number) - t0) / MS_PER_MINUTE;
    const y = bytes[i] as number;
    sy += y;
    min = Math.min(min, y);
    max = Math.max(max, y);
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = ((at[i] as number) - t0) / MS_PER_MINUTE - mx;
    const dy = (bytes[i] as number) - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  const bytesPerMinute = sxx > 0 ? sxy / sxx : 0;
  const r2 = n < 3 || sxx === 0 || min === max ? null : (sxy * sxy) / (sxx * syy);
  const growing =
    n >= MIN_SAMPLES &&
    r2 !== null &&
    r2 >= MIN_R2 &&
    bytesPerMinute >= MIN_BYTES_PER_MINUTE &&
    spreadOut(at, bytes);
  return {
    samples: n,
    firstSampledAt: t0,
    lastSampledAt: t1,
    firstBytes: bytes[0] as number,
    lastBytes: bytes[n - 1] as number,
    bytesPerMinute,
    r2,
    growing,
  };
}

/**
 * Whether the rise is spread over the four quarters of the time (see the top of the file). The
 * quarter of a sample is ⌊4 (t − t0) / (t1 − t0)⌋, the last sample's counted in the fourth: integer
 * arithmetic in SQL, and the same here (the quotient of two integers below 2^53 never rounds onto the
 * next integer).
 */
function spreadOut(at: ArrayLike<number>, bytes: ArrayLike<number>): boolean {
  const n = at.length;
  const t0 = at[0] as number;
  const span = (at[n - 1] as number) - t0;
  if (span <= 0) return false;
  const sums = [0, 0, 0, 0];
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const q = Math.min(Math.floor((4 * ((at[i] as number) - t0)) / span), 3);
    sums[q] = (sums[q] as number) + (bytes[i] as number);
    counts[q] = (counts[q] as number) + 1;
  }
  if (counts.some((c) => c === 0)) return false;
  const means = sums.map((s, q) => s / (counts[q] as number)) as [number, number, number, number];
  const rise = means[3] - means[0];
  const step = Math.max(means[1] - means[0], means[2] - means[1], means[3] - means[2]);
  return rise > 0 && step <= MAX_STEP_SHARE * rise;
}

/** Own memory of a sample: pss_anon, or Anonymous where the kernel has no Pss_Anon; null when neither. */
export function ownBytes(pssAnon: number | null, anonymous: number | null): number | null {
  return pssAnon ?? anonymous;
}

const PSS_ANON = FIGURES.indexOf("pssAnon");
const ANONYMOUS = FIGURES.indexOf("anonymous");

/**
 * The growth of each of `processes` (the latest round's) from its samples in the ring taken after
 * fromMs and up to toMs: those with its pid and its start time, whatever an earlier process of the
 * same pid left in the ring.
 */
export function growthOf(
  ring: HistoryRing,
  processes: readonly ProcessSample[],
  fromMs: number,
  toMs: number,
): Growth[] {
  type Series = { ticks: number; labels: ProcessLabels; at: number[]; bytes: number[] };
  const series = new Map<number, Series>();
  for (const p of processes) series.set(p.pid, { ticks: p.startTicks, labels: p.labels, at: [], bytes: [] });
  ring.forEach(fromMs, toMs, (block, i) => {
    const at = block.sampledAt[i] as number;
    if (at <= fromMs) return;
    const s = series.get(block.pid[i] as number);
    if (s === undefined || s.ticks !== block.startTicks[i]) return;
    const own = ownBytes(ring.figureOf(block, i, PSS_ANON), ring.figureOf(block, i, ANONYMOUS));
    if (own === null) return;
    s.at.push(at);
    s.bytes.push(own);
  });
  const growth: Growth[] = [];
  for (const [pid, s] of series) {
    if (s.at.length > 0)
      growth.push({ pid, startTicks: s.ticks, labels: s.labels, ...fitGrowth(s.at, s.bytes) });
  }
  return growth;
}
