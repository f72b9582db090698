/**
 * Identical concurrent requests share one read: the rows of a request are read once for every
 * identical request (same source, columns and pids) that runs meanwhile, and the read stops when
 * every caller has gone. The bound on reads and the refusal of requests past the queue (BUSY) are the
 * read pool's (read-pool.ts).
 */

export interface SharingOptions {
  /** How long a finished result still serves identical requests, in ms (at most 1000; 0 by default: only while it is read). */
  cacheMs?: number;
  /**
   * Most bytes kept for requests that may arrive later, over all results together (2 MB by default):
   * a result that would take the total past it is no longer offered, and what its readers have passed
   * is dropped. However many requests run, the rows kept for sharing stay within this.
   */
  maxSharedBytes?: number;
}

const MAX_CACHE_MS = 1000;

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
  done: boolean;
  error: { value: unknown } | null;
  pulling: Promise<void> | null;
}

/** Shares identical concurrent requests' rows. */
export class SharedReads {
  readonly #cacheMs: number;
  readonly #maxSharedBytes: number;
  readonly #entries = new Map<string, Entry>();
  /** Bytes of the chunks of the results still offered (shared), all together. */
  #sharedBytes = 0;

  constructor(options: SharingOptions = {}) {
    this.#cacheMs = Math.min(Math.max(options.cacheMs ?? 0, 0), MAX_CACHE_MS);
    this.#maxSharedBytes = options.maxSharedBytes ?? 2 * 1024 * 1024;
  }

  /** Results being read or still cached. */
  get shared(): number {
    return this.#entries.size;
  }

  /**
   * The rows of `start()`, read once for every identical request (same `key`) that runs meanwhile.
   * Closing the generator, or aborting `signal`, leaves; the read stops when every reader has left
   * (the signal given to start() aborts then).
   */
  async *rows(
    key: string,
    start: (signal: AbortSignal) => AsyncGenerator<Buffer, void, undefined>,
    signal?: AbortSignal,
  ): AsyncGenerator<Buffer, void, undefined> {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      const abort = new AbortController();
      entry = {
        key,
        source: start(abort.signal),
        abort,
        chunks: [],
        base: 0,
        bytes: 0,
        readers: new Set(),
        shared: true,
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
      const step = await entry.source.next();
      if (step.done) {
        entry.done = true;
        this.#finish(entry);
      } else {
        entry.chunks.push(step.value);
        entry.bytes += step.value.length;
        if (entry.shared) this.#sharedBytes += step.value.length;
        if (this.#sharedBytes > this.#maxSharedBytes) this.#unshare(entry);
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
    if (entry.shared) this.#sharedBytes -= entry.bytes;
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
