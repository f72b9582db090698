import type { ReadPool } from "../../sidecar/rows/read-pool.js";

// The threads run the compiled worker beside the compiled pool: `npm test` builds before vitest.
export const COMPILED_WORKER = new URL("../../dist/sidecar/rows/read-worker.js", import.meta.url);
const COMPILED_POOL = new URL("../../dist/sidecar/rows/read-pool.js", import.meta.url);

/** A read pool of the compiled sidecar with `size` threads (and a queue of `queue` requests). */
export async function compiledPool(size: number, queue?: number): Promise<ReadPool> {
  const compiled: typeof import("../../sidecar/rows/read-pool.js") = await import(
    /* @vite-ignore */ COMPILED_POOL.href
  );
  return new compiled.ReadPool({ size, queue });
}
