/**
 * Row buffers live outside V8's heap and are freed only when V8 collects the small objects that hold
 * them. A scan allocates little else, so V8 would see no reason to collect for many megabytes: every
 * buffer already written to the socket would stay in memory until much later. Worse, a buffer still in
 * flight when V8's own young-generation collections run is promoted to the old generation, and only a
 * full collection frees it. With the gc function exposed (bin/pg-meminfo starts node with
 * --expose-gc), a young-generation collection every GC_EVERY_BYTES of rows (about a millisecond) frees
 * the buffers that died young, and a full one every FULL_GC_EVERY_BYTES (a few milliseconds on the
 * sidecar's small heap) those that were promoted: the sidecar's memory stays flat during a scan and
 * returns to its idle size after it. Without it, nothing is done and V8's own schedule applies.
 */

/** Bytes of rows between young-generation collections. */
export const GC_EVERY_BYTES = 2 * 1024 * 1024;
/** Bytes of rows between full collections. */
export const FULL_GC_EVERY_BYTES = 8 * 1024 * 1024;

/** V8's gc(): with { type: "minor" } the young generation; without options, everything. */
type Collect = (options?: { type: "minor" }) => void;

export class GcPacer {
  #pending = 0;
  #sinceFull = 0;
  readonly #collect: Collect | undefined;

  constructor(collect: Collect | undefined = (globalThis as { gc?: Collect }).gc) {
    this.#collect = collect;
  }

  /** Counts rows handed on; collects once GC_EVERY_BYTES have gone by since the last collection. */
  handed(bytes: number): void {
    this.#pending += bytes;
    if (this.#pending < GC_EVERY_BYTES || this.#collect === undefined) return;
    this.#sinceFull += this.#pending;
    this.#pending = 0;
    if (this.#sinceFull >= FULL_GC_EVERY_BYTES) {
      this.#sinceFull = 0;
      this.#collect();
    } else {
      this.#collect({ type: "minor" });
    }
  }

  /**
   * A stream of rows has ended: collects everything once, when rows went by since the last full
   * collection, so that the buffers of a burst of scans do not wait for the next one to be freed.
   */
  ended(): void {
    if (this.#collect === undefined || this.#pending + this.#sinceFull === 0) return;
    this.#pending = 0;
    this.#sinceFull = 0;
    this.#collect();
  }
}

/** The sidecar's pacer: one for all requests, since the collection is of the whole heap. */
export const rowsPacer = new GcPacer();
