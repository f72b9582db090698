import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fitGrowth, growthOf, MIN_BYTES_PER_MINUTE, MIN_SAMPLES } from "../../../sidecar/history/growth.js";
import { HistoryRing, MIN_HISTORY_BYTES } from "../../../sidecar/history/ring.js";
import { sample, T0 } from "./synthetic.js";

const MB = 1024 * 1024;

/** Samples every `everyMs` for `n` samples, own memory f(i). */
function series(n: number, f: (i: number) => number, everyMs = 10_000): { at: number[]; bytes: number[] } {
  const at = Array.from({ length: n }, (_, i) => T0 + i * everyMs);
  return { at, bytes: at.map((_, i) => Math.round(f(i) / 1024) * 1024) };
}

function fitOf(s: { at: number[]; bytes: number[] }) {
  return fitGrowth(s.at, s.bytes);
}

/** A small deterministic noise, in [-1, 1). */
function noise(i: number): number {
  const x = Math.sin(i * 12.9898) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
}

describe("fitGrowth", () => {
  it("finds a steady leak: its slope, a perfect fit, growing", () => {
    // 1 MB a minute, sampled every 10 s, for 10 minutes.
    const g = fitOf(series(60, (i) => 50 * MB + (i * MB) / 6));
    expect(g.samples).toBe(60);
    expect(g.bytesPerMinute).toBeCloseTo(MB, -2);
    expect(g.r2).toBeCloseTo(1, 6);
    expect(g.firstBytes).toBe(50 * MB);
    expect(g.lastSampledAt).toBe(T0 + 59 * 10_000);
    expect(g.growing).toBe(true);
  });

  it("finds a noisy leak, and one that grows a step a minute (a staircase)", () => {
    expect(fitOf(series(60, (i) => 50 * MB + (i * MB) / 6 + 300 * 1024 * noise(i))).growing).toBe(true);
    expect(fitOf(series(60, (i) => 50 * MB + Math.floor(i / 6) * 2 * MB)).growing).toBe(true);
  });

  it("finds a fast leak within a minute at one sample a second", () => {
    // A session that appends 200 kB a second, seen for 30 s.
    expect(fitOf(series(30, (i) => 5 * MB + i * 200 * 1024, 1000)).growing).toBe(true);
  });

  it("does not call one step growth, wherever in the window it comes (a big sort that stays)", () => {
    for (let at = 1; at < 59; at++) {
      const g = fitOf(series(60, (i) => (i < at ? 10 * MB : 130 * MB)));
      expect(g.growing, `step at sample ${at}`).toBe(false);
      expect(g.bytesPerMinute).toBeGreaterThanOrEqual(0);
    }
  });

  it("does not call a ramp shorter than a quarter of the time growth, nor a sort that took a while", () => {
    for (const length of [2, 5, 10, 15]) {
      for (let start = 0; start + length <= 60; start++) {
        const g = fitOf(
          series(60, (i) => 10 * MB + (Math.min(Math.max(i - start, 0), length) * 120 * MB) / length),
        );
        expect(g.growing, `ramp of ${length} samples from sample ${start}`).toBe(false);
      }
    }
  });

  it("does not call growth what jumps around, falls, stays flat, or grows too slowly", () => {
    expect(fitOf(series(60, (i) => 50 * MB + 20 * MB * noise(i))).growing).toBe(false);
    expect(fitOf(series(60, (i) => 50 * MB - (i * MB) / 6)).growing).toBe(false);
    const flat = fitOf(series(60, () => 50 * MB));
    expect(flat).toMatchObject({ bytesPerMinute: 0, r2: null, growing: false });
    const slow = fitOf(series(60, (i) => 50 * MB + (i * (MIN_BYTES_PER_MINUTE / 2)) / 6));
    expect(slow.r2).toBeGreaterThan(0.99);
    expect(slow.growing).toBe(false);
  });

  it("needs enough samples, and one in every quarter of the time", () => {
    const few = fitOf(series(MIN_SAMPLES - 1, (i) => i * 10 * MB));
    expect(few.r2).toBeCloseTo(1, 6);
    expect(few.growing).toBe(false);
    expect(fitOf(series(MIN_SAMPLES, (i) => i * 10 * MB)).growing).toBe(true);
    // A steady leak with a gap in the samples (rounds that failed) across a whole quarter.
    const s = series(60, (i) => 50 * MB + (i * MB) / 6);
    const gap = {
      at: s.at.filter((_, i) => i < 20 || i >= 36),
      bytes: s.bytes.filter((_, i) => i < 20 || i >= 36),
    };
    expect(fitOf(gap).growing).toBe(false);
  });

  it("has a slope of 0 and no r2 for one sample, and no r2 for two", () => {
    expect(fitGrowth([T0], [MB])).toMatchObject({ samples: 1, bytesPerMinute: 0, r2: null, growing: false });
    const two = fitGrowth([T0, T0 + 60_000], [MB, 2 * MB]);
    expect(two.bytesPerMinute).toBe(MB);
    expect(two.r2).toBeNull();
  });

  it("gives the least-squares slope of any series (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 0, max: 2 ** 40 })), {
          minLength: 2,
          maxLength: 80,
        }),
        (steps) => {
          let t = T0;
          const at = steps.map(([dt]) => {
            t += dt;
            return t;
          });
          const bytes = steps.map(([, y]) => y * 1024);
          const g = fitGrowth(at, bytes);
          // The slope through the means: the residuals sum to zero and are uncorrelated with x.
          const xs = at.map((a) => (a - (at[0] as number)) / 60_000);
          const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
          const my = bytes.reduce((a, b) => a + b, 0) / bytes.length;
          const residualX = xs.reduce(
            (s, x, i) => s + (x - mx) * ((bytes[i] as number) - my - g.bytesPerMinute * (x - mx)),
            0,
          );
          const scale = xs.reduce((s, x) => s + Math.abs(x - mx), 0) * Math.max(...bytes, 1);
          expect(Math.abs(residualX)).toBeLessThanOrEqual(scale * 1e-9);
          if (g.r2 !== null) {
            expect(g.r2).toBeGreaterThanOrEqual(-1e-9);
            expect(g.r2).toBeLessThanOrEqual(1 + 1e-9);
          }
          if (g.growing) expect(g.bytesPerMinute).toBeGreaterThanOrEqual(MIN_BYTES_PER_MINUTE);
        },
      ),
    );
  });
});

describe("growthOf", () => {
  it("never continues a series across two processes that had the same pid", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    // pid 42 grows to 500 MB and exits; a new process gets pid 42 (another start time) and stays small.
    for (let i = 0; i < 30; i++) ring.add([sample(42, T0 + i * 10_000, (10 + i * 16) * MB, 1000)]);
    const reborn = [];
    for (let i = 30; i < 40; i++) {
      const s = sample(42, T0 + i * 10_000, 2 * MB, 9000);
      reborn.push(s);
      ring.add([s]);
    }
    const [g, ...rest] = growthOf(
      ring,
      [reborn[reborn.length - 1] as (typeof reborn)[number]],
      T0 - 1,
      T0 + 400_000,
    );
    expect(rest).toEqual([]);
    expect(g).toMatchObject({ pid: 42, startTicks: 9000, samples: 10, firstBytes: 2 * MB, growing: false });
    expect(g?.firstSampledAt).toBe(T0 + 300_000);
    expect(g?.bytesPerMinute).toBe(0);
  });

  it("takes the samples after the start of the window, up to its end", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    const all = Array.from({ length: 20 }, (_, i) => sample(7, T0 + i * 1000, (1 + i) * MB));
    for (const s of all) ring.add([s]);
    const [g] = growthOf(ring, [all[19] as (typeof all)[number]], T0 + 4000, T0 + 9000);
    expect(g).toMatchObject({ samples: 5, firstSampledAt: T0 + 5000, lastSampledAt: T0 + 9000 });
  });
});
