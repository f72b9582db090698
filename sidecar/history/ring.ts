/**
 * The history ring: every sample the sampler took, oldest first, in at most `bytes` of memory. Samples
 * live in typed-array columns, in blocks of BLOCK samples, SAMPLE_BYTES each; the labels of the samples
 * (pg_stat_activity's, which rarely change) are kept once per distinct set and shared. When a new
 * sample would take the ring past its bound, the oldest block of samples goes, and with it the label
 * sets no sample uses any more. A process is a series of samples with the same pid and kernel start
 * time, so a pid the kernel gives to a new process starts a new series.
 */
import { FIGURES, type Figure } from "../proc/rollup-figures.js";
import type { ProcessLabels, ProcessSample } from "./sample.js";

/** Samples per block: the ring grows and evicts a block at a time. */
export const BLOCK = 1024;

/**
 * Bytes of one sample: pid (int32), start ticks and time (float64), label set (uint32), and the seven
 * figures in kB (uint32 each).
 */
export const SAMPLE_BYTES = 4 + 8 + 8 + 4 + FIGURES.length * 4;

/** Bytes of a block of samples. */
export const BLOCK_BYTES = BLOCK * SAMPLE_BYTES;

/**
 * What a label set is counted at beside its text: the JavaScript object, its strings' headers and its
 * entry in the map that shares it. Its text counts twice (the strings and the map's key).
 */
export const LABEL_SET_OVERHEAD = 160;

/** The default bound: an hour of 500 processes sampled every 10 s, with room for their labels. */
export const DEFAULT_HISTORY_BYTES = 10 * 1024 * 1024;

/** The smallest bound: room for the labels of a whole block of samples of distinct processes. */
export const MIN_HISTORY_BYTES = 1024 * 1024;

/** A figure stored as this is unknown: the kernel printed none, or it is 2^32 - 1 kB (4 TiB) or more. */
export const UNKNOWN_KB = 0xffffffff;

interface Block {
  /** Sequence number of its first sample. */
  first: number;
  count: number;
  /** Earliest and latest sampledAt in the block. */
  minAt: number;
  maxAt: number;
  readonly pid: Int32Array;
  readonly startTicks: Float64Array;
  readonly sampledAt: Float64Array;
  readonly labels: Uint32Array;
  /** FIGURES.length per sample, kB. */
  readonly figures: Uint32Array;
}

function newBlock(): Block {
  return {
    first: 0,
    count: 0,
    minAt: Number.POSITIVE_INFINITY,
    maxAt: Number.NEGATIVE_INFINITY,
    pid: new Int32Array(BLOCK),
    startTicks: new Float64Array(BLOCK),
    sampledAt: new Float64Array(BLOCK),
    labels: new Uint32Array(BLOCK),
    figures: new Uint32Array(BLOCK * FIGURES.length),
  };
}

function kbOf(value: number): number {
  return Number.isFinite(value) && value >= 0 && value < UNKNOWN_KB ? value : UNKNOWN_KB;
}

function textBytes(labels: ProcessLabels): number {
  let n = 0;
  for (const s of [labels.backendType, labels.datname, labels.usename, labels.applicationName]) {
    if (s !== null) n += Buffer.byteLength(s);
  }
  return n;
}

/** One sample as the ring holds it: figures in bytes, null when unknown. */
export interface StoredSample {
  pid: number;
  startTicks: number;
  sampledAt: number;
  labels: ProcessLabels;
  figures: Record<Figure, number | null>;
}

/** Where a sample is: its block and its index in it. */
export interface Slot {
  block: Block;
  index: number;
}

export class HistoryRing {
  /** The bound, in bytes. */
  readonly limit: number;
  readonly #blocks: Block[] = [];
  #next = 0;
  readonly #labelIds = new Map<string, number>();
  readonly #labelSets: (ProcessLabels | undefined)[] = [];
  readonly #labelKeys: string[] = [];
  readonly #labelRefs: number[] = [];
  readonly #freeIds: number[] = [];
  #labelBytes = 0;

  constructor(limit = DEFAULT_HISTORY_BYTES) {
    if (!Number.isSafeInteger(limit) || limit < MIN_HISTORY_BYTES) {
      throw new RangeError(`the history ring needs at least ${MIN_HISTORY_BYTES} bytes`);
    }
    this.limit = limit;
  }

  /** Bytes the ring takes now: its blocks and its label sets. */
  get bytes(): number {
    return this.#blocks.length * BLOCK_BYTES + this.#labelBytes;
  }

  /** Samples held. */
  get size(): number {
    return this.#next - this.oldest;
  }

  /** Sequence number of the oldest sample held (the next one when the ring is empty). */
  get oldest(): number {
    return this.#blocks[0]?.first ?? this.#next;
  }

  /** Sequence number the next sample gets. */
  get next(): number {
    return this.#next;
  }

  /** Label sets held. */
  get labelSets(): number {
    return this.#labelIds.size;
  }

  /** Adds the samples of a round, evicting the oldest samples as needed to stay within the bound. */
  add(samples: readonly ProcessSample[]): void {
    for (const sample of samples) this.#add(sample);
    // New label sets may have taken the ring past its bound: the oldest samples make room.
    while (this.bytes > this.limit && this.#blocks.length > 1) this.#evict();
  }

  #add(sample: ProcessSample): void {
    let block = this.#blocks[this.#blocks.length - 1];
    if (block === undefined || block.count === BLOCK) block = this.#newBlock();
    const i = block.count++;
    block.pid[i] = sample.pid;
    block.startTicks[i] = sample.startTicks;
    block.sampledAt[i] = sample.sampledAt;
    block.minAt = Math.min(block.minAt, sample.sampledAt);
    block.maxAt = Math.max(block.maxAt, sample.sampledAt);
    block.labels[i] = this.#intern(sample.labels);
    const at = i * FIGURES.length;
    FIGURES.forEach((figure, f) => {
      block.figures[at + f] = kbOf(sample[figure] / 1024);
    });
    this.#next++;
  }

  /** A block for new samples: a new one while the bound allows, else the oldest, emptied. */
  #newBlock(): Block {
    const full = this.bytes + BLOCK_BYTES > this.limit && this.#blocks.length > 0;
    const block = (full ? this.#evict() : undefined) ?? newBlock();
    block.first = this.#next;
    block.count = 0;
    block.minAt = Number.POSITIVE_INFINITY;
    block.maxAt = Number.NEGATIVE_INFINITY;
    this.#blocks.push(block);
    return block;
  }

  /** Drops the oldest block and the label sets only its samples used; returns it for reuse. */
  #evict(): Block | undefined {
    const block = this.#blocks.shift();
    if (block === undefined) return undefined;
    for (let i = 0; i < block.count; i++) this.#release(block.labels[i] as number);
    block.count = 0;
    return block;
  }

  #intern(labels: ProcessLabels): number {
    const key = JSON.stringify([
      labels.backendType,
      labels.datname,
      labels.usename,
      labels.applicationName,
      labels.backendStart,
    ]);
    let id = this.#labelIds.get(key);
    if (id === undefined) {
      id = this.#freeIds.pop() ?? this.#labelSets.length;
      this.#labelIds.set(key, id);
      this.#labelSets[id] = { ...labels };
      this.#labelKeys[id] = key;
      this.#labelRefs[id] = 0;
      this.#labelBytes += LABEL_SET_OVERHEAD + 2 * textBytes(labels);
    }
    this.#labelRefs[id] = (this.#labelRefs[id] as number) + 1;
    return id;
  }

  #release(id: number): void {
    const refs = (this.#labelRefs[id] as number) - 1;
    this.#labelRefs[id] = refs;
    if (refs > 0) return;
    const labels = this.#labelSets[id] as ProcessLabels;
    this.#labelBytes -= LABEL_SET_OVERHEAD + 2 * textBytes(labels);
    this.#labelIds.delete(this.#labelKeys[id] as string);
    this.#labelSets[id] = undefined;
    this.#freeIds.push(id);
  }

  /**
   * The slot of a sample by sequence number, or null when it is not held (evicted, or not yet taken).
   * Valid until the next add().
   */
  slot(seq: number): Slot | null {
    const first = this.#blocks[0];
    if (first === undefined || seq < first.first || seq >= this.#next) return null;
    const block = this.#blocks[Math.floor((seq - first.first) / BLOCK)] as Block;
    return { block, index: seq - block.first };
  }

  /**
   * Calls `visit` with every held sample taken in [fromMs, toMs], oldest first; blocks wholly outside
   * the range are skipped.
   */
  forEach(fromMs: number, toMs: number, visit: (block: Block, index: number) => void): void {
    for (const block of this.#blocks) {
      if (block.maxAt < fromMs || block.minAt > toMs) continue;
      for (let i = 0; i < block.count; i++) {
        const at = block.sampledAt[i] as number;
        if (at >= fromMs && at <= toMs) visit(block, i);
      }
    }
  }

  /** The label set of a sample. */
  labelsOf(block: Block, index: number): ProcessLabels {
    return this.#labelSets[block.labels[index] as number] as ProcessLabels;
  }

  /** A figure of a sample in bytes, or null when unknown. */
  figureOf(block: Block, index: number, figure: number): number | null {
    const kb = block.figures[index * FIGURES.length + figure] as number;
    return kb === UNKNOWN_KB ? null : kb * 1024;
  }

  /** A sample by sequence number, as an object (for tests and small readers). */
  sample(seq: number): StoredSample | null {
    const slot = this.slot(seq);
    if (slot === null) return null;
    const { block, index } = slot;
    const figures = Object.fromEntries(
      FIGURES.map((figure, f) => [figure, this.figureOf(block, index, f)]),
    ) as Record<Figure, number | null>;
    return {
      pid: block.pid[index] as number,
      startTicks: block.startTicks[index] as number,
      sampledAt: block.sampledAt[index] as number,
      labels: this.labelsOf(block, index),
      figures,
    };
  }
}

export type { Block };
