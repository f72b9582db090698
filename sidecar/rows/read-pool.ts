/**
 * The one bound on /proc reads: a pool of worker threads that read /proc files and write their rows
 * as COPY text, so that both cores work on a scan while the main thread only moves bytes to the
 * socket. Every /proc read of every request (rows, and the check of pids that are not the cluster's)
 * is a task of this pool: at most `size` run at once, whatever the number of requests, and the rest
 * wait in one queue, first come first served. A request's first task is refused with BUSY when too
 * many requests already wait for theirs.
 *
 * By default there is a thread per core: on the 2-core machine of `npm run bench` that is the fastest
 * for every full scan. With size 0 the tasks run one at a time in the main thread, through the same
 * reader: about 8 MB less memory per thread (each is a V8 isolate), and full scans take longer.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { BusyError, InternalError, ProcUnreadableError } from "../errors.js";
import { type ReadTask, TaskRunner } from "./read-task.js";

export interface TaskError {
  code: string;
  message: string;
  detail?: string | undefined;
  hint?: string | undefined;
}

export type TaskReply = { id: number; data: ArrayBuffer } | { id: number; error: TaskError };

export interface ReadPoolOptions {
  /** Threads; 0 runs the tasks in the calling thread. Default: the cores available to the process. */
  size?: number | undefined;
  /** Most requests waiting for their first task; one more is refused with BUSY. 64 by default. */
  queue?: number | undefined;
}

export interface RunOptions {
  /** The first task of a request: refused with BUSY when `queue` first tasks already wait. */
  admit?: boolean;
  /** Leaves the queue when aborted (the task is dropped if it has not started). */
  signal?: AbortSignal | undefined;
}

interface Pending {
  id: number;
  task: ReadTask;
  admit: boolean;
  resolve(rows: Buffer): void;
  reject(err: Error): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Thread {
  worker: Worker;
  running: Pending | null;
}

const WORKER_URL = new URL("./read-worker.js", import.meta.url);

function toError(error: TaskError): Error {
  const text = { detail: error.detail, hint: error.hint };
  if (error.code === "PROC_UNREADABLE") return new ProcUnreadableError(error.message, text);
  return new InternalError(error.message, text);
}

export class ReadPool {
  readonly size: number;
  readonly queueLimit: number;
  readonly #threads: Thread[] = [];
  readonly #queue: Pending[] = [];
  /** Runs the tasks in this thread when there are no threads. */
  readonly #inline: TaskRunner | null;
  #inlineBusy = false;
  #admitted = 0;
  #started = 0;
  #nextId = 1;
  #closed = false;

  constructor(options: ReadPoolOptions = {}) {
    this.size = Math.max(0, Math.floor(options.size ?? availableParallelism()));
    this.queueLimit = options.queue ?? 64;
    if (this.size > 0 && !existsSync(fileURLToPath(WORKER_URL))) {
      throw new InternalError("the sidecar's read thread script is missing", {
        detail: `${fileURLToPath(WORKER_URL)} does not exist.`,
        hint: 'Build the sidecar ("npm run build") and start it with bin/pg-meminfo, or use --read-threads 0.',
      });
    }
    this.#inline = this.size === 0 ? new TaskRunner() : null;
  }

  /** What reads /proc, for the start-up log line. */
  get description(): string {
    return this.size === 0 ? "the main thread" : `${this.size} worker thread${this.size === 1 ? "" : "s"}`;
  }

  /** Threads started so far (they start on first use). */
  get threads(): number {
    return this.#threads.length;
  }

  /** Tasks started since the pool was made: each one is a batch of /proc reads. */
  get tasksStarted(): number {
    return this.#started;
  }

  /** Tasks waiting for a thread. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Runs one task; resolves with its result (the rows of its processes, in order). */
  run(task: ReadTask, options: RunOptions = {}): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new InternalError("the read pool is closed"));
    const { admit = false, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (admit && this.#admitted >= this.queueLimit) {
      return Promise.reject(
        new BusyError("the pg_meminfo sidecar is too busy", {
          detail: `${this.#admitted} requests are waiting for their first read.`,
          hint: "Try again in a moment, or ask for fewer processes (WHERE pid = ...).",
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        id: this.#nextId++,
        task,
        admit,
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        pending.onAbort = () => {
          const at = this.#queue.indexOf(pending);
          if (at === -1) return;
          this.#queue.splice(at, 1);
          this.#left(pending);
          reject(signal.reason);
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      if (admit) this.#admitted++;
      this.#queue.push(pending);
      this.#dispatch();
    });
  }

  /** A task leaves the queue: it no longer counts as waiting, nor listens to its signal. */
  #left(pending: Pending): void {
    if (pending.admit) this.#admitted--;
    if (pending.onAbort) pending.signal?.removeEventListener("abort", pending.onAbort);
  }

  #dispatch(): void {
    if (this.#inline !== null) {
      this.#dispatchInline(this.#inline);
      return;
    }
    while (this.#queue.length > 0) {
      let thread = this.#threads.find((t) => t.running === null);
      if (thread === undefined) {
        if (this.#threads.length >= this.size) return;
        thread = this.#start();
      }
      const pending = this.#queue.shift() as Pending;
      this.#left(pending);
      this.#started++;
      thread.running = pending;
      thread.worker.ref();
      thread.worker.postMessage({ id: pending.id, task: pending.task });
    }
  }

  /** One task at a time, each in a turn of its own, so the event loop runs between them. */
  #dispatchInline(runner: TaskRunner): void {
    if (this.#inlineBusy || this.#queue.length === 0) return;
    this.#inlineBusy = true;
    setImmediate(() => {
      this.#inlineBusy = false;
      const pending = this.#queue.shift();
      if (pending === undefined) return;
      this.#left(pending);
      this.#started++;
      try {
        pending.resolve(runner.run(pending.task));
      } catch (err) {
        pending.reject(err as Error);
      }
      this.#dispatch();
    });
  }

  #start(): Thread {
    // A small young generation: a thread holds one file and its rows at a time.
    const worker = new Worker(WORKER_URL, {
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    const thread: Thread = { worker, running: null };
    worker.on("message", (reply: TaskReply) => {
      const pending = thread.running;
      thread.running = null;
      worker.unref();
      if (pending !== null && pending.id === reply.id) {
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

  /** A thread died: its task fails, and a new thread takes the queue. */
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

  /** Stops the threads; tasks still queued fail. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const pending of this.#queue.splice(0)) {
      this.#left(pending);
      pending.reject(new InternalError("the read pool is closed"));
    }
    const threads = this.#threads.splice(0);
    await Promise.all(threads.map((t) => t.worker.terminate()));
    for (const t of threads) t.running?.reject(new InternalError("the read pool is closed"));
  }
}
