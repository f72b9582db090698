import { describe, expect, it } from "vitest";
import { GC_EVERY_BYTES, GcPacer } from "../../sidecar/rows/gc-pacer.js";

describe("GcPacer", () => {
  it("collects the young generation once per GC_EVERY_BYTES of rows, not before", () => {
    const calls: string[] = [];
    const pacer = new GcPacer((options) => calls.push(options.type));
    pacer.handed(GC_EVERY_BYTES - 1);
    expect(calls).toEqual([]);
    pacer.handed(1);
    expect(calls).toEqual(["minor"]);
    for (let i = 0; i < 9; i++) pacer.handed(GC_EVERY_BYTES / 4);
    expect(calls).toEqual(["minor", "minor", "minor"]);
  });

  it("does nothing when node runs without --expose-gc", () => {
    const pacer = new GcPacer(undefined);
    expect(() => pacer.handed(10 * GC_EVERY_BYTES)).not.toThrow();
  });
});
