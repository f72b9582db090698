import { describe, expect, it } from "vitest";
import { FULL_GC_EVERY_BYTES, GC_EVERY_BYTES, GcPacer } from "../../sidecar/rows/gc-pacer.js";

describe("GcPacer", () => {
  it("collects the young generation once per GC_EVERY_BYTES of rows, not before", () => {
    const calls: string[] = [];
    const pacer = new GcPacer((options) => calls.push(options?.type ?? "full"));
    pacer.handed(GC_EVERY_BYTES - 1);
    expect(calls).toEqual([]);
    pacer.handed(1);
    expect(calls).toEqual(["minor"]);
    for (let i = 0; i < 9; i++) pacer.handed(GC_EVERY_BYTES / 4);
    expect(calls).toEqual(["minor", "minor", "minor"]);
  });

  it("collects everything once per FULL_GC_EVERY_BYTES, instead of the young generation", () => {
    const calls: string[] = [];
    const pacer = new GcPacer((options) => calls.push(options?.type ?? "full"));
    for (let sent = 0; sent < 2 * FULL_GC_EVERY_BYTES; sent += GC_EVERY_BYTES) pacer.handed(GC_EVERY_BYTES);
    const perFull = FULL_GC_EVERY_BYTES / GC_EVERY_BYTES;
    expect(calls).toEqual([
      ...Array(perFull - 1).fill("minor"),
      "full",
      ...Array(perFull - 1).fill("minor"),
      "full",
    ]);
  });

  it("collects everything once when a stream ends after rows went by, and not again until more do", () => {
    const calls: string[] = [];
    const pacer = new GcPacer((options) => calls.push(options?.type ?? "full"));
    pacer.ended();
    expect(calls).toEqual([]);
    pacer.handed(100);
    pacer.ended();
    pacer.ended();
    expect(calls).toEqual(["full"]);
    pacer.handed(GC_EVERY_BYTES);
    pacer.ended();
    expect(calls).toEqual(["full", "minor", "full"]);
  });

  it("frees promoted row buffers with a full collection, where a young-generation one does not", () => {
    const gc = (globalThis as { gc?: (options?: { type: "minor" }) => void }).gc;
    if (gc === undefined) throw new Error("vitest runs node with --expose-gc (vitest.config.ts)");
    let rows: Buffer[] | null = Array.from({ length: 40 }, () => Buffer.allocUnsafeSlow(200 * 1024));
    // Alive through two young-generation collections: promoted, as a buffer in flight is.
    gc({ type: "minor" });
    gc({ type: "minor" });
    expect(rows.length).toBe(40);
    rows = null;
    const before = process.memoryUsage().arrayBuffers;
    new GcPacer(gc).handed(FULL_GC_EVERY_BYTES);
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThan(6 * 1024 * 1024);
  });

  it("does nothing when node runs without --expose-gc", () => {
    const pacer = new GcPacer(undefined);
    expect(() => pacer.handed(10 * GC_EVERY_BYTES)).not.toThrow();
  });
});
