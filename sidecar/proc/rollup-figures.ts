/**
 * The figures the sampler keeps of a process, from its /proc/PID/smaps_rollup (one cheap read: the
 * kernel sums the mappings), with its start time from /proc/PID/stat. Numbers, not text: the sampler
 * keeps them in its ring (history/ring.ts) rather than sending them on.
 */
import type { ProcOptions, ScratchBuffer } from "./proc-file.js";
import { readProcFileSync } from "./proc-file.js";
import { type Membership, memberStart, readStartTicks } from "./process-stat.js";
import { END, FIELD, KeyTable, SmapsTokenizer, VALUE } from "./smaps-tokenizer.js";

/** The figures of one process, in kB, in the order of a record (NaN when the kernel prints none). */
export const FIGURES = ["rss", "pss", "pssAnon", "pssShmem", "uss", "anonymous", "swap"] as const;
export type Figure = (typeof FIGURES)[number];

/** The rollup keys read; uss is Private_Clean + Private_Dirty. */
const KEYS = new KeyTable([
  "Rss",
  "Pss",
  "Pss_Anon",
  "Pss_Shmem",
  "Private_Clean",
  "Private_Dirty",
  "Anonymous",
  "Swap",
]);
const K_PRIVATE_CLEAN = 4;
const K_PRIVATE_DIRTY = 5;
const K_ANONYMOUS = 6;
const K_SWAP = 7;

/**
 * A record per process: start ticks (-1 when the process was not read: it exited, or its pid now
 * belongs to a later process), when it was read (ms since the epoch), then the figures.
 */
export const RECORD = 2 + FIGURES.length;
export const R_START_TICKS = 0;
export const R_SAMPLED_AT = 1;
export const R_FIGURES = 2;

const tokenizer = new SmapsTokenizer();
const found = new Float64Array(8);

/**
 * The figures of a smaps_rollup buffer into `out` at `at` (kB; NaN for a field the kernel does not
 * print, a value that is not a number, or a line cut short). A field that appears twice: the first counts.
 */
export function rollupFigures(buf: Buffer, out: Float64Array, at: number): void {
  found.fill(Number.NaN);
  const t = tokenizer.reset(buf);
  for (let line = t.next(); line !== END; line = t.next()) {
    if (line !== FIELD) continue;
    const key = KEYS.find(t);
    if (key < 0 || !Number.isNaN(found[key] as number)) continue;
    if (t.size() === VALUE) found[key] = t.sizeValue();
  }
  t.reset(Buffer.alloc(0));
  out[at] = found[0] as number;
  out[at + 1] = found[1] as number;
  out[at + 2] = found[2] as number;
  out[at + 3] = found[3] as number;
  out[at + 4] = (found[K_PRIVATE_CLEAN] as number) + (found[K_PRIVATE_DIRTY] as number);
  out[at + 5] = found[K_ANONYMOUS] as number;
  out[at + 6] = found[K_SWAP] as number;
}

/**
 * Records of the processes in the order given, in a Float64Array with its own ArrayBuffer (so it can
 * be transferred from a thread). With membership, a pid is read only while it holds the cluster's
 * process listed there, checked before and after the rollup (process-stat.ts); anything else at the
 * pid is skipped unopened, like a process that has exited. Any other read error is thrown.
 */
export function readRollupRecords(
  pids: readonly number[],
  membership: Membership | undefined,
  scratch: ScratchBuffer,
  stat: ScratchBuffer,
  options: ProcOptions = {},
): Float64Array {
  const out = new Float64Array(pids.length * RECORD);
  const statOptions = membership === undefined ? options : { procRoot: membership.procRoot };
  pids.forEach((pid, i) => {
    const at = i * RECORD;
    out[at + R_START_TICKS] = -1;
    const before = membership === undefined ? null : memberStart(pid, membership, stat);
    if (membership !== undefined && before === null) return;
    let buf: Buffer | null;
    try {
      buf = readProcFileSync(pid, "smaps_rollup", scratch, options);
    } catch (err) {
      if (membership === undefined || readStartTicks(pid, stat, statOptions) === before) throw err;
      return;
    }
    if (buf === null) return;
    const sampledAt = Date.now();
    rollupFigures(buf, out, at + R_FIGURES);
    const ticks = readStartTicks(pid, stat, statOptions);
    if (ticks === null || (before !== null && ticks !== before)) return;
    out[at + R_START_TICKS] = ticks;
    out[at + R_SAMPLED_AT] = sampledAt;
  });
  return out;
}
