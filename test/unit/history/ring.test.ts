import { describe, expect, it } from "vitest";
import {
  BLOCK,
  BLOCK_BYTES,
  DEFAULT_HISTORY_BYTES,
  HistoryRing,
  MIN_HISTORY_BYTES,
  SAMPLE_BYTES,
} from "../../../sidecar/history/ring.js";
import { labels, round, sample, T0 } from "./synthetic.js";

const MB = 1024 * 1024;

describe("the history ring", () => {
  it("stays within its bound at 300 backends over thousands of rounds, full, evicting the oldest first", () => {
    const ring = new HistoryRing(2 * MB);
    let evictedUpTo = -1;
    for (let r = 0; r < 2000; r++) {
      const before = ring.oldest;
      ring.add(round(300, T0 + r * 10_000));
      expect(ring.bytes).toBeLessThanOrEqual(2 * MB);
      // What goes is always the oldest: the oldest held sample only moves forward.
      expect(ring.oldest).toBeGreaterThanOrEqual(before);
      if (ring.oldest > before) evictedUpTo = ring.oldest - 1;
    }
    expect(evictedUpTo).toBeGreaterThan(0);
    // Full: all but at most one block of the bound (and the labels) hold samples.
    expect(ring.size * SAMPLE_BYTES).toBeGreaterThan(2 * MB - 2 * BLOCK_BYTES - 300 * 400);
    // The newest round is all there, and the held samples are the newest ones, in order.
    const newest = ring.sample(ring.next - 1);
    expect(newest?.sampledAt).toBe(T0 + 1999 * 10_000 + (299 % 16));
    const oldest = ring.sample(ring.oldest);
    const evicted = ring.sample(ring.oldest - 1);
    expect(evicted).toBeNull();
    expect(oldest?.sampledAt).toBeGreaterThan(T0 + Math.floor((ring.oldest - 1) / 300) * 10_000 - 1);
    // 300 processes, one label set each.
    expect(ring.labelSets).toBe(300);
  });

  it("holds an hour of 500 processes sampled every 10 s in its default bound", () => {
    const ring = new HistoryRing();
    expect(ring.limit).toBe(DEFAULT_HISTORY_BYTES);
    for (let r = 0; r < 360; r++) ring.add(round(500, T0 + r * 10_000));
    expect(ring.oldest).toBe(0);
    expect(ring.size).toBe(180_000);
    expect(ring.bytes).toBeLessThanOrEqual(DEFAULT_HISTORY_BYTES);
  });

  it("stays within its bound when every round brings new processes with labels of their own", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    for (let r = 0; r < 3000; r++) {
      // 50 new sessions a round, with long application names: label sets churn.
      const processes = Array.from({ length: 50 }, (_, i) => {
        const pid = 10_000 + r * 50 + i;
        const l = {
          ...labels(pid, T0 + r),
          applicationName: `a-long-application-name-${"é".repeat(20)}-${pid}`,
        };
        return sample(pid, T0 + r * 1000, MB, pid, l);
      });
      ring.add(processes);
      expect(ring.bytes).toBeLessThanOrEqual(MIN_HISTORY_BYTES);
    }
    // Label sets go with the last sample that uses them.
    expect(ring.labelSets).toBe(ring.size);
    expect(ring.size).toBeGreaterThan(BLOCK);
  });

  it("keeps the figures exactly, in bytes, and unknown ones as null", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    const known = sample(42, T0, 123 * 1024);
    const tib = 4 * 1024 * MB * 1024;
    ring.add([known, { ...sample(43, T0, 0), pssAnon: Number.NaN, rss: tib - 1024, swap: tib - 2048 }]);
    expect(ring.sample(0)).toEqual({
      pid: 42,
      startTicks: 420,
      sampledAt: T0,
      labels: known.labels,
      figures: {
        rss: known.rss,
        pss: known.pss,
        pssAnon: 123 * 1024,
        pssShmem: known.pssShmem,
        uss: known.uss,
        anonymous: known.anonymous,
        swap: 0,
      },
    });
    const odd = ring.sample(1)?.figures;
    // No Pss_Anon from the kernel, and a figure of 2^32 - 1 kB or more: unknown, never a wrong number.
    expect(odd?.pssAnon).toBeNull();
    expect(odd?.rss).toBeNull();
    expect(odd?.swap).toBe(tib - 2048);
  });

  it("shares one label set between the samples of a process, and keeps a change of labels", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    const l = labels(42, T0);
    for (let r = 0; r < 10; r++) ring.add([sample(42, T0 + r * 1000, MB, 420, l)]);
    expect(ring.sample(0)?.labels).toEqual(l);
    expect(ring.labelSets).toBe(1);
    ring.add([sample(42, T0 + 10_000, MB, 420, { ...l, applicationName: "renamed" })]);
    expect(ring.labelSets).toBe(2);
    expect(ring.sample(9)?.labels.applicationName).toBe("api-worker-0");
    expect(ring.sample(10)?.labels.applicationName).toBe("renamed");
  });

  it("skips blocks outside a time range", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    for (let r = 0; r < 100; r++) ring.add(round(100, T0 + r * 1000));
    const seen: number[] = [];
    ring.forEach(T0 + 50_000, T0 + 50_015, (block, i) => seen.push(block.sampledAt[i] as number));
    expect(seen).toHaveLength(100);
    expect(new Set(seen.map((t) => Math.floor((t - T0) / 1000)))).toEqual(new Set([50]));
  });

  it("refuses a bound below the smallest", () => {
    expect(() => new HistoryRing(MIN_HISTORY_BYTES - 1)).toThrow(RangeError);
    expect(() => new HistoryRing(Number.NaN)).toThrow(RangeError);
  });
});
