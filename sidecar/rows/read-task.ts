/**
 * The work the read pool hands out: the rows of a batch of processes, the parents of some pids
 * (the check of pids that are not the cluster's), the memory limits of the cluster, or the figures
 * the sampler keeps of a batch of processes. Every /proc read of a request, and of the sampler, is one
 * of these, so the pool's threads are the one bound on them. Runs on a thread (read-worker.ts) or, without
 * threads, in the main thread; either way through one BatchReader per thread.
 */
import { findLimitColumn, type LimitColumn, limitsCopyText } from "../limits/limit-columns.js";
import { readMemoryLimits } from "../limits/memory-limits.js";
import type { Column, Source } from "../proc/columns.js";
import { ScratchBuffer } from "../proc/proc-file.js";
import type { Membership } from "../proc/process-stat.js";
import { readParents } from "../proc/process-stat.js";
import { readRollupRecords } from "../proc/rollup-figures.js";
import { BatchReader } from "./batch-reader.js";

export interface RowsTask {
  type: "rows";
  source: Source;
  /** The processes to read, in the order their rows must come. */
  pids: number[];
  columns: readonly Column[];
  procRoot: string | undefined;
  pageSize: number;
  /** Which processes are the cluster's (process-stat.ts), for the batch's pids. */
  membership?: BatchMembership | undefined;
}

/** A Membership as a task carries it to a thread: only the batch's pids, as pairs. */
export interface BatchMembership {
  postmaster: number;
  uid: number;
  /** [pid, latest start in clock ticks after boot]. */
  latestStart: [number, number][];
  procRoot?: string | undefined;
}

/** The part of `membership` a batch of pids needs, to send with its task. */
export function batchMembership(membership: Membership, batch: readonly number[]): BatchMembership {
  return {
    postmaster: membership.postmaster,
    uid: membership.uid,
    procRoot: membership.procRoot,
    latestStart: batch.flatMap((pid): [number, number][] => {
      const limit = membership.latestStart.get(pid);
      return limit === undefined ? [] : [[pid, limit]];
    }),
  };
}

function membershipOf(wire: BatchMembership | undefined): Membership | undefined {
  return wire === undefined ? undefined : { ...wire, latestStart: new Map(wire.latestStart) };
}

export interface ParentsTask {
  type: "parents";
  pids: number[];
  procRoot: string | undefined;
}

/** The one row of the limits source, for the cluster whose postmaster is `postmasterPid`. */
export interface LimitsTask {
  type: "limits";
  postmasterPid: number;
  /** Column names (limit-columns.ts), in the order of the row. */
  columns: string[];
}

/** The sampler's figures of a batch of processes (proc/rollup-figures.ts), one record per pid. */
export interface SamplesTask {
  type: "samples";
  pids: number[];
  procRoot: string | undefined;
  /** Which processes are the cluster's (process-stat.ts), for the batch's pids. */
  membership?: BatchMembership | undefined;
}

export type ReadTask = RowsTask | ParentsTask | LimitsTask | SamplesTask;

/** A thread's reader: its buffers live as long as the thread. */
export class TaskRunner {
  readonly #reader = new BatchReader();
  readonly #stat = new ScratchBuffer(1024);
  readonly #small = new ScratchBuffer(4096);
  readonly #plans = new Map<string, readonly Column[]>();

  /**
   * The rows of a RowsTask or LimitsTask; for a ParentsTask, one int32 per pid, the parent or -1; for
   * a SamplesTask, the records of rollup-figures.ts as float64s.
   */
  run(task: ReadTask): Buffer {
    if (task.type === "samples") {
      const records = readRollupRecords(task.pids, membershipOf(task.membership), this.#small, this.#stat, {
        procRoot: task.procRoot,
      });
      return Buffer.from(records.buffer, records.byteOffset, records.byteLength);
    }
    if (task.type === "limits") {
      const columns = task.columns.map((name) => findLimitColumn(name) as LimitColumn);
      const text = limitsCopyText(readMemoryLimits(task.postmasterPid, {}, this.#small), columns);
      const out = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
      out.write(text);
      return out;
    }
    if (task.type === "parents") {
      const parents = readParents(task.pids, this.#stat, { procRoot: task.procRoot });
      const out = Buffer.allocUnsafeSlow(parents.length * 4);
      parents.forEach((ppid, i) => {
        out.writeInt32LE(ppid ?? -1, i * 4);
      });
      return out;
    }
    return this.#reader.read(task.source, task.pids, this.#columnsOf(task), {
      procRoot: task.procRoot,
      pageSize: task.pageSize,
      membership: membershipOf(task.membership),
    });
  }

  /** The same array for the same column list, so the COPY writer's compiled plan is reused. */
  #columnsOf(task: RowsTask): readonly Column[] {
    const key = `${task.source}:${task.columns.map((c) => c.name).join(",")}`;
    let columns = this.#plans.get(key);
    if (columns === undefined) {
      columns = task.columns;
      this.#plans.set(key, columns);
    }
    return columns;
  }
}

/** The parents from a ParentsTask's result. */
export function parentsFrom(result: Buffer): (number | null)[] {
  const parents: (number | null)[] = [];
  for (let at = 0; at + 4 <= result.length; at += 4) {
    const ppid = result.readInt32LE(at);
    parents.push(ppid < 0 ? null : ppid);
  }
  return parents;
}
