/** Sampling rounds from samples each taken at its own instant: sums per round, not per timestamp. */
import { describe, expect, it } from "vitest";
import { roundTotals, samplingInterval } from "../../tools/report/rounds.js";

const sample = (pid: number, at: number, pss = 10, uss = 1) => ({ pid, at, pssBytes: pss, ussBytes: uss });

describe("rounds of the sampler", () => {
  it("groups the samples of one round even across a second boundary, and sums them", () => {
    const samples = [
      sample(1, 9_990),
      sample(2, 10_004),
      sample(3, 10_020),
      sample(1, 20_001),
      sample(2, 20_010),
      sample(3, 20_030, 30, 3),
    ];
    expect(samplingInterval(samples)).toBe(10_010);
    expect(roundTotals(samples)).toEqual([
      { at: 9_990, processes: 3, pssBytes: 30, ussBytes: 3 },
      { at: 20_001, processes: 3, pssBytes: 50, ussBytes: 5 },
    ]);
  });

  it("a process seen twice starts a new round, whatever the gap; a lone round is one round", () => {
    expect(roundTotals([sample(1, 0), sample(1, 5), sample(2, 6)]).map((r) => r.processes)).toEqual([1, 2]);
    expect(roundTotals([sample(1, 0), sample(2, 1)])).toEqual([
      { at: 0, processes: 2, pssBytes: 20, ussBytes: 2 },
    ]);
    expect(roundTotals([])).toEqual([]);
    expect(samplingInterval([sample(1, 0)])).toBeNull();
  });

  it("processes that come and go: each round counts those it has", () => {
    const samples = [sample(1, 0), sample(2, 2), sample(1, 1000), sample(3, 1003), sample(1, 2000)];
    expect(roundTotals(samples).map((r) => [r.at, r.processes])).toEqual([
      [0, 2],
      [1000, 2],
      [2000, 1],
    ]);
  });
});
