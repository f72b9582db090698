/**
 * The rows of the history source (memory_history): the samples of the ring as COPY text, in the order
 * they were taken, filtered by pid and time, in chunks of about CHUNK_BYTES so that a long history
 * streams rather than piles up.
 */
import { escapeCopyText } from "../proc/copy-text.js";
import { FIGURES, type Figure } from "../proc/rollup-figures.js";
import type { Block, HistoryRing } from "./ring.js";
import type { ProcessLabels } from "./sample.js";

type HistoryValue =
  | { kind: "pid" }
  | { kind: "sampled_at" }
  | { kind: "figure"; figure: number }
  | { kind: "label"; label: Exclude<keyof ProcessLabels, "backendStart"> }
  | { kind: "backend_start" };

export interface HistoryColumn {
  readonly name: string;
  readonly value: HistoryValue;
}

const figure = (name: string, f: Figure): HistoryColumn => ({
  name,
  value: { kind: "figure", figure: FIGURES.indexOf(f) },
});

/** The columns of the history source, in the order of docs/protocol.md. */
export const HISTORY_COLUMNS: readonly HistoryColumn[] = [
  { name: "pid", value: { kind: "pid" } },
  { name: "sampled_at", value: { kind: "sampled_at" } },
  figure("rss_bytes", "rss"),
  figure("pss_bytes", "pss"),
  figure("pss_anon_bytes", "pssAnon"),
  figure("pss_shmem_bytes", "pssShmem"),
  figure("uss_bytes", "uss"),
  figure("anon_bytes", "anonymous"),
  figure("swap_bytes", "swap"),
  { name: "backend_type", value: { kind: "label", label: "backendType" } },
  { name: "datname", value: { kind: "label", label: "datname" } },
  { name: "usename", value: { kind: "label", label: "usename" } },
  { name: "application_name", value: { kind: "label", label: "applicationName" } },
  { name: "backend_start", value: { kind: "backend_start" } },
];

export function findHistoryColumn(name: string): HistoryColumn | undefined {
  return HISTORY_COLUMNS.find((c) => c.name === name);
}

/** Which samples a request wants: pids (all when null), taken from fromMs to toMs, both included. */
export interface HistoryFilter {
  pids: ReadonlySet<number> | null;
  fromMs: number;
  toMs: number;
}

const CHUNK_BYTES = 64 * 1024;

/** A time as timestamptz text PostgreSQL reads whatever its DateStyle: ISO 8601 in UTC, to the µs. */
export function timestamptzText(ms: number): string {
  const us = Math.round(ms * 1000);
  const wholeMs = Math.floor(us / 1000);
  const iso = new Date(wholeMs).toISOString();
  const micro = us - wholeMs * 1000;
  return micro === 0 ? iso : `${iso.slice(0, -1)}${String(micro).padStart(3, "0")}Z`;
}

function valueText(ring: HistoryRing, block: Block, i: number, value: HistoryValue): string {
  switch (value.kind) {
    case "pid":
      return String(block.pid[i]);
    case "sampled_at":
      return timestamptzText(block.sampledAt[i] as number);
    case "figure": {
      const bytes = ring.figureOf(block, i, value.figure);
      return bytes === null ? "\\N" : String(bytes);
    }
    case "label": {
      const text = ring.labelsOf(block, i)[value.label];
      // An empty backend_type is one pg_stat_activity hid from the sidecar's role: unknown.
      return escapeCopyText(text === "" && value.label === "backendType" ? null : text);
    }
    case "backend_start": {
      const start = ring.labelsOf(block, i).backendStart;
      return start === null ? "\\N" : timestamptzText(start);
    }
  }
}

/**
 * The COPY text of the samples the filter wants, in chunks. The range of samples is fixed when the
 * generator starts: samples taken after it are not sent, and one evicted while the stream waits for
 * its reader (it fell out of the history in the meantime) is not sent either.
 */
export function* historyRows(
  ring: HistoryRing,
  columns: readonly HistoryColumn[],
  filter: HistoryFilter,
): Generator<Buffer, void, undefined> {
  const end = ring.next;
  let seq = ring.oldest;
  let lines: string[] = [];
  let bytes = 0;
  for (;;) {
    // Samples evicted while the last chunk waited for its reader are gone: go on from the oldest.
    seq = Math.max(seq, ring.oldest);
    const slot = seq < end ? ring.slot(seq) : null;
    if (slot === null) break;
    const { block } = slot;
    const stop = Math.min(block.count, end - block.first);
    let i = slot.index;
    if (block.maxAt < filter.fromMs || block.minAt > filter.toMs) i = stop;
    for (; i < stop && bytes < CHUNK_BYTES; i++) {
      const at = block.sampledAt[i] as number;
      if (at < filter.fromMs || at > filter.toMs) continue;
      if (filter.pids !== null && !filter.pids.has(block.pid[i] as number)) continue;
      const line = `${columns.map((c) => valueText(ring, block, i, c.value)).join("\t")}\n`;
      lines.push(line);
      bytes += line.length;
    }
    // Where to go on, fixed before the yield: the block may be reused for new samples meanwhile.
    seq = block.first + i;
    if (bytes >= CHUNK_BYTES) {
      yield Buffer.from(lines.join(""));
      lines = [];
      bytes = 0;
    }
  }
  if (lines.length > 0) yield Buffer.from(lines.join(""));
}
