/**
 * A pool of worker threads that read /proc files and parse them into COPY text, so that both cores
 * work on a scan while the main thread only moves bytes to the socket. Blocking reads in a thread
 * cost one system call per page of /proc output; the same reads through libuv's pool cost a trip
 * between threads per page, which doubles the time of a scan.
 *
 * The pool is also the bound on concurrent /proc reads of the whole sidecar: at most `size` files
 * are read at once, whatever the number of requests; the other batches wait in a queue, first come
 * first served.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { InternalError, ProcUnreadableError } from "../errors.js";
import type { Column } from "../proc/columns.js";
import type { BatchKind } from "./batch-reader.js";

/** One batch: the processes to read, in the order their rows must come. */
export interface ReadTask {
  id: number;
  kind: BatchKind;
  pids: number[];
  columns: readonly Column[];
  procRoot: string | undefined;
  pageSize: number;
  /** [pid, latest start in clock ticks] of the batch's processes (process-start.ts). */
  startLimits?: [number, number][] | undefined;
}

export interface TaskError {
  code: string;
  message: string;
  detail?: string | undefined;
  hint?: string | undefined;
}

export type TaskReply = { id: number; data: ArrayBuffer } | { id: number; error: TaskError };

export interface ReadPoolOptions {
  /** Threads; 0 reads in the calling thread. Default: the cores available to the process. */
  size?: number;
  /** The worker script; default read-worker.js beside this module. */
  workerUrl?: URL;
}

interface Pending {
  task: ReadTask;
  resolve(rows: Buffer): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  running: Pending | null;
}

/** The default number of threads: every core the process may use. */
export function defaultPoolSize(): number {
  return availableParallelism();
}

function toError(error: TaskError): Error {
  const text = { detail: error.detail, hint: error.hint };
  if (error.code === "PROC_UNREADABLE") return new ProcUnreadableError(error.message, text);
  return new InternalError(error.message, text);
}

export class ReadPool {
  readonly size: number;
  readonly #url: URL;
  readonly #threads: Thread[] = [];
  readonly #queue: Pending[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: ReadPoolOptions = {}) {
    this.#url = options.workerUrl ?? new URL("./read-worker.js", import.meta.url);
    // Run from the TypeScript sources (tests), there is no compiled worker: read in-process.
    const present = existsSync(fileURLToPath(this.#url));
    this.size = present ? Math.max(0, Math.floor(options.size ?? defaultPoolSize())) : 0;
  }

  /** Whether reads go to threads (size > 0); otherwise callers read in-process. */
  get threaded(): boolean {
    return this.size > 0 && !this.#closed;
  }

  /** Threads started so far (they start on first use). */
  get threads(): number {
    return this.#threads.length;
  }

  /** Reads one batch on a thread; resolves with the rows of its processes, in order. */
  run(task: Omit<ReadTask, "id">): Promise<Buffer> {
    if (!this.threaded) return Promise.reject(new InternalError("the read pool is closed"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ task: { ...task, id: this.#nextId++ }, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let thread = this.#threads.find((t) => t.running === null);
      if (thread === undefined) {
        if (this.#threads.length >= this.size) return;
        thread = this.#start();
      }
      const pending = this.#queue.shift() as Pending;
      thread.running = pending;
      thread.worker.ref();
      thread.worker.postMessage(pending.task);
    }
  }

  #start(): Thread {
    // A small young generation: a thread holds one file and its rows at a time.
    const worker = new Worker(this.#url, {
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    const thread: Thread = { worker, running: null };
    worker.on("message", (reply: TaskReply) => {
      const pending = thread.running;
      thread.running = null;
      worker.unref();
      if (pending !== null && pending.task.id === reply.id) {
        if ("error" in reply) pending.reject(toError(reply.error));
        else pending.resolve(Buffer.from(reply.data));
      }
      this.#dispatch();
    });
    const fail = (err: Error) => this.#lost(thread, err);
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
    worker.unref();
    this.#threads.push(thread);
    return thread;
  }

  /** A thread died: its batch fails, and a new thread takes the queue. */
  #lost(thread: Thread, err: Error): void {
    const at = this.#threads.indexOf(thread);
    if (at === -1) return;
    this.#threads.splice(at, 1);
    const pending = thread.running;
    thread.running = null;
    pending?.reject(
      new InternalError("a /proc reader thread of the sidecar stopped", {
        detail: `${err.message}.`,
        cause: err,
      }),
    );
    if (!this.#closed) this.#dispatch();
  }

  /** Stops the threads; batches still queued fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) pending.reject(new InternalError("the read pool is closed"));
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
    for (const t of threads) t.running?.reject(new InternalError("the read pool is closed"));
  }
}
