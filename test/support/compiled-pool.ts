import type { build } from "../../sidecar/http/app.js";
import type { ReadPool } from "../../sidecar/rows/read-pool.js";

// Threads run the compiled worker beside the compiled pool: `npm test` builds before vitest. Errors
// from a compiled pool are the compiled classes, so the app that maps them must be compiled too.
export const COMPILED_WORKER = new URL("../../dist/sidecar/rows/read-worker.js", import.meta.url);
const COMPILED = new URL("../../dist/sidecar/", import.meta.url);

/** A read pool of the compiled sidecar with `size` threads (and a queue of `queue` requests). */
export async function compiledPool(size: number, queue?: number): Promise<ReadPool> {
  const compiled: typeof import("../../sidecar/rows/read-pool.js") = await import(
    /* @vite-ignore */ new URL("rows/read-pool.js", COMPILED).href
  );
  return new compiled.ReadPool({ size, queue });
}

/** build() of the compiled sidecar, for an app whose read pool has threads. */
export async function compiledBuild(): Promise<typeof build> {
  const compiled: typeof import("../../sidecar/http/app.js") = await import(
    /* @vite-ignore */ new URL("http/app.js", COMPILED).href
  );
  return compiled.build;
}
