/**
 * Keeps the sidecar from overloading the host when many sessions ask at once: a bound on how many
 * requests read /proc at the same moment, a bounded queue past which a request is refused (BUSY, 503)
 * rather than left waiting, identical concurrent requests sharing one read, and reads that stop when
 * every caller has gone.
 */
import { availableParallelism } from "node:os";
import { BusyError } from "../errors.js";

export interface GuardOptions {
  /** Most reads (steps of a request's rows, one or a few processes each) at once; 2 × cores by default. */
  concurrency?: number;
  /** Most requests waiting for their first read; one more is refused with BUSY. 64 by default. */
  queue?: number;
  /** How long a finished result still serves identical requests, in ms (at most 1000; 0 by default: only while it is read). */
  cacheMs?: number;
  /** A result larger than this is no longer offered to requests that arrive later (2 MB by default). */
  maxSharedBytes?: number;
}

const MAX_CACHE_MS = 1000;

/** A counting semaphore with a bounded queue for newcomers. */
export class Limiter {
  readonly concurrency: number;
  readonly queue: number;
  #active = 0;
  readonly #waiting: { grant: () => void }[] = [];

  constructor(concurrency: number, queue: number) {
    if (!(concurrency >= 1) || !(queue >= 0)) throw new RangeError("concurrency must be >= 1, queue >= 0");
    this.concurrency = concurrency;
    this.queue = queue;
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves with a release function once a slot is free. A newcomer (`admit`) is refused with BUSY when
   * the queue is full; a request already being served always waits its turn. Rejects with the
   * signal's reason when it aborts first.
   */
  acquire(options: { admit?: boolean; signal?: AbortSignal } = {}): Promise<() => void> {
    const { admit = false, signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.concurrency && this.#waiting.length === 0) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    if (admit && this.#waiting.length >= this.queue) {
      return Promise.reject(
        new BusyError("the pg_meminfo sidecar is too busy", {
          detail: `${this.#active} reads are running and ${this.#waiting.length} requests are waiting.`,
          hint: "Try again in a moment, or ask for fewer processes (WHERE pid = ...).",
        }),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.#releaser());
        },
      };
      const onAbort = () => {
        const at = this.#waiting.indexOf(waiter);
        if (at !== -1) this.#waiting.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next.grant();
      else this.#active--;
    };
  }
}

interface Entry {
  readonly key: string;
  readonly source: AsyncGenerator<Buffer, void, undefined>;
  readonly abort: AbortController;
  /** Chunks not yet dropped; chunks[0] is chunk number `base` of the result. */
  chunks: Buffer[];
  base: number;
  bytes: number;
  readers: Set<{ at: number }>;
  /** Still in the map, offered to identical requests (which start at chunk 0, so nothing is dropped). */
  shared: boolean;
  started: boolean;
  done: boolean;
  error: { value: unknown } | null;
  pulling: Promise<void> | null;
}

/** Shares identical concurrent requests' rows and runs every read under the limiter. */
export class RowGuard {
  readonly limiter: Limiter;
  readonly #cacheMs: number;
  readonly #maxSharedBytes: number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: GuardOptions = {}) {
    this.limiter = new Limiter(options.concurrency ?? 2 * availableParallelism(), options.queue ?? 64);
    this.#cacheMs = Math.min(Math.max(options.cacheMs ?? 0, 0), MAX_CACHE_MS);
    this.#maxSharedBytes = options.maxSharedBytes ?? 2 * 1024 * 1024;
  }

  /** Results being read or still cached. */
  get shared(): number {
    return this.#entries.size;
  }

  /**
   * The rows of `start()`, read once for every identical request (same `key`) that runs meanwhile.
   * Closing the generator, or aborting `signal`, leaves; the read stops when every reader has left.
   */
  async *rows(
    key: string,
    start: () => AsyncGenerator<Buffer, void, undefined>,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer, void, undefined> {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = {
        key,
        source: start(),
        abort: new AbortController(),
        chunks: [],
        base: 0,
        bytes: 0,
        readers: new Set(),
        shared: true,
        started: false,
        done: false,
        error: null,
        pulling: null,
      };
      this.#entries.set(key, entry);
    }
    const reader = { at: 0 };
    entry.readers.add(reader);
    const left = new Promise<void>((resolve) => {
      if (signal?.aborted) resolve();
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      for (;;) {
        if (signal?.aborted) return;
        if (reader.at < entry.base + entry.chunks.length) {
          const chunk = entry.chunks[reader.at - entry.base] as Buffer;
          reader.at++;
          this.#trim(entry);
          yield chunk;
          continue;
        }
        if (entry.error) throw entry.error.value;
        if (entry.done) return;
        await Promise.race([this.#pull(entry), left]);
      }
    } finally {
      entry.readers.delete(reader);
      if (entry.readers.size === 0 && !entry.done) this.#cancel(entry);
      else this.#trim(entry);
    }
  }

  /** Reads the next chunk of the entry's rows, once for all its readers. */
  #pull(entry: Entry): Promise<void> {
    entry.pulling ??= (async () => {
      const release = await this.limiter.acquire({ admit: !entry.started, signal: entry.abort.signal });
      entry.started = true;
      try {
        const step = await entry.source.next();
        if (step.done) {
          entry.done = true;
          this.#finish(entry);
        } else {
          entry.chunks.push(step.value);
          entry.bytes += step.value.length;
          if (entry.bytes > this.#maxSharedBytes) this.#unshare(entry);
        }
      } finally {
        release();
      }
    })()
      .catch((err: unknown) => {
        entry.error = { value: err };
        entry.done = true;
        this.#unshare(entry);
      })
      .finally(() => {
        entry.pulling = null;
      });
    return entry.pulling;
  }

  /** A finished result serves identical requests for cacheMs more, then goes. */
  #finish(entry: Entry): void {
    if (!entry.shared) return;
    if (this.#cacheMs === 0) {
      this.#unshare(entry);
      return;
    }
    setTimeout(() => this.#unshare(entry), this.#cacheMs).unref();
  }

  #unshare(entry: Entry): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
    entry.shared = false;
    this.#trim(entry);
  }

  /** Drops the chunks every reader has passed, once no newcomer can need them. */
  #trim(entry: Entry): void {
    if (entry.shared) return;
    let lowest = entry.base + entry.chunks.length;
    for (const reader of entry.readers) lowest = Math.min(lowest, reader.at);
    if (lowest > entry.base) {
      entry.chunks.splice(0, lowest - entry.base);
      entry.base = lowest;
    }
  }

  /** Every reader left before the end: stop reading. */
  #cancel(entry: Entry): void {
    entry.done = true;
    this.#unshare(entry);
    entry.abort.abort(new Error("every reader has gone"));
    const close = () => {
      entry.source.return(undefined).catch(() => {});
    };
    if (entry.pulling) entry.pulling.finally(close);
    else close();
  }
}
