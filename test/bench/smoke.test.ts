import { describe, expect, it } from "vitest";
import { formatReport, linearFit } from "../../bench/report.js";
import { runBench } from "../../bench/run.js";
import { isRoot } from "../../harness/run-as.js";

describe("npm run bench", () => {
  it("fits a straight line", () => {
    const fit = linearFit([10, 100, 300], [12, 102, 302]);
    expect(fit.slope).toBeCloseTo(1, 6);
    expect(fit.r2).toBeCloseTo(1, 6);
  });

  // Keeps the benchmark from rotting: 5 backends, one timed run.
  it("runs end to end with 5 backends and prints its report", { timeout: 90_000 }, async () => {
    const results = await runBench({
      backends: 5,
      curve: [],
      runs: 1,
      install: isRoot(),
      readThreads: [0],
      concurrentScans: 3,
      samplerSeconds: 3,
    });
    expect(results).toHaveLength(2);
    const [step, inThread] = results;
    expect(inThread?.readThreads).toBe(0);
    expect(inThread?.rows.smaps).toBeGreaterThan(100);
    expect(step?.backends).toBe(5);
    expect(step?.rows.smaps).toBeGreaterThan(100);
    // The heap-table floor holds the same rows as get_all_smaps.
    expect(Math.abs((step?.rows.heap ?? 0) - (step?.rows.smaps ?? 0))).toBeLessThan(50);
    expect(step?.rows.summary).toBe(step?.processes);
    expect(step?.rows.summaryPid).toBe(1);
    expect(step?.rows.memoryPid).toBe(1);
    expect(step?.rows.memory).toBe(step?.processes);
    expect(step?.tempBytes.smaps).toBe(0);
    expect(step?.floor.smaps).toBeGreaterThan(0);
    expect(step?.sidecarCpuMs.smaps).toBeGreaterThan(0);
    // USS of a node process: more than a few MB, less than its RSS.
    expect(step?.sidecarPeakUssKb).toBeGreaterThan(4096);
    expect(step?.sidecarPeakUssKb).toBeLessThan(step?.sidecarHwmKb ?? 0);
    // Three distinct scans at once, each of every process's mappings.
    expect(step?.concurrency?.failed).toEqual({});
    expect(step?.concurrency?.rows.min).toBeGreaterThan(100);
    expect(step?.concurrency?.concurrentPeakUssKb).toBeGreaterThan(4096);
    // The sampler, measured alone: a round a second, every process, some CPU.
    expect(step?.sampler?.rounds).toBeGreaterThanOrEqual(2);
    expect(step?.sampler?.processes).toBe(step?.processes);
    expect(step?.sampler?.cpuMsPerRound).toBeGreaterThan(0);
    expect(step?.sampler?.roundMs).toBeGreaterThan(0);
    // The scrape's cost: a sidecar sampling the cluster (its own sidecar and the bench's connections
    // come and go, so about the step's processes), and fixtures of as many processes.
    expect(Math.abs((step?.scrape?.processes ?? 0) - (step?.processes ?? 0))).toBeLessThanOrEqual(3);
    expect(step?.scrapeFixture?.processes).toBe(step?.processes);
    for (const scrape of [step?.scrape, step?.scrapeFixture]) {
      expect(scrape?.series).toBeGreaterThan(6 * 6);
      expect(scrape?.medianMs).toBeGreaterThan(0);
      expect(scrape?.gzipBytes).toBeLessThan(scrape?.bytes ?? 0);
    }
    const report = formatReport(results, 5, 1);
    expect(report).toContain("history sampler");
    expect(report).toContain("3 distinct get_all_smaps scans at once");
    expect(report).toMatch(
      /\[(met|NOT MET)\] GET \/metrics under 5 ms at 5 backends \(a sidecar sampling every second\): /,
    );
    expect(report).toMatch(
      /\[(met|NOT MET)\] GET \/metrics under 5 ms at 5 backends \(fixtures, every process its own labels\): /,
    );
    expect(report).toContain("original get_all_smaps()");
    expect(report).toContain("targets:");
    expect(report).toContain("targets with --read-threads 0:");
  });
});
