/**
 * Row buffers live outside V8's heap and are freed only when V8 collects the small objects that hold
 * them. A scan allocates little else, so V8 would see no reason to collect for many megabytes: every
 * buffer already written to the socket would stay in memory until much later. With the gc function
 * exposed (bin/pg-meminfo starts node with --expose-gc), a young-generation collection every few
 * megabytes of rows (about a millisecond each) frees them, and the sidecar's memory stays flat during
 * a scan. Without it, nothing is done and V8's own schedule applies.
 */

/** Bytes of rows between collections. */
export const GC_EVERY_BYTES = 2 * 1024 * 1024;

type Collect = (options: { type: "minor" }) => void;

export class GcPacer {
  #pending = 0;
  readonly #collect: Collect | undefined;

  constructor(collect: Collect | undefined = (globalThis as { gc?: Collect }).gc) {
    this.#collect = collect;
  }

  /** Counts rows handed on; collects once GC_EVERY_BYTES have gone by since the last collection. */
  handed(bytes: number): void {
    this.#pending += bytes;
    if (this.#pending < GC_EVERY_BYTES || this.#collect === undefined) return;
    this.#pending = 0;
    this.#collect({ type: "minor" });
  }
}

/** The sidecar's pacer: one for all requests, since the collection is of the whole heap. */
export const rowsPacer = new GcPacer();
