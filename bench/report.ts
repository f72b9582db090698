/** The benchmark's report: figures, ratios to the kernel floor and the original, and the targets. */
import Table from "cli-table3";
import type { QueryName, StepResult } from "./run.js";

const LABELS: Record<QueryName, string> = {
  summary: "smap_summary",
  summaryPid: "smap_summary WHERE pid = X",
  smaps: "get_all_smaps (every row to the client)",
  originalSmaps: "original get_all_smaps()",
  originalSummary: "original smap_summary",
  originalSummaryPid: "original smap_summary WHERE pid = X",
};

/** The floor each query is compared with. */
const FLOOR: Record<QueryName, (r: StepResult) => number> = {
  summary: (r) => r.floor.rollup,
  summaryPid: (r) => r.floor.rollupOne,
  smaps: (r) => r.floor.smaps,
  originalSmaps: (r) => r.floor.smaps,
  originalSummary: (r) => r.floor.rollup,
  originalSummaryPid: (r) => r.floor.rollupOne,
};

const ORIGINAL: Partial<Record<QueryName, QueryName>> = {
  summary: "originalSummary",
  summaryPid: "originalSummaryPid",
  smaps: "originalSmaps",
};

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (v: number) => `${v.toFixed(2)}x`;
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

/** Least-squares fit of y = a + b x; returns b and R². */
export function linearFit(xs: readonly number[], ys: readonly number[]): { slope: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] ?? 0) - mx;
    const dy = (ys[i] ?? 0) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const r2 = sxx === 0 || syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, r2 };
}

export interface Target {
  name: string;
  met: boolean;
  figure: string;
}

export function targets(main: StepResult, curve: readonly StepResult[]): Target[] {
  const list: Target[] = [
    {
      name: "smap_summary at most 1.3x the smaps_rollup floor",
      met: main.ms.summary <= 1.3 * main.floor.rollup,
      figure: `${ms(main.ms.summary)} ms vs ${ms(main.floor.rollup)} ms = ${ratio(main.ms.summary / main.floor.rollup)}`,
    },
    {
      name: "smap_summary WHERE pid = X under 10 ms",
      met: main.ms.summaryPid < 10,
      figure: `${ms(main.ms.summaryPid)} ms`,
    },
    {
      name: "get_all_smaps at most 0.8x the original",
      met: main.ms.smaps <= 0.8 * main.ms.originalSmaps,
      figure: `${ms(main.ms.smaps)} ms vs ${ms(main.ms.originalSmaps)} ms = ${ratio(main.ms.smaps / main.ms.originalSmaps)}`,
    },
    {
      name: "no temporary files",
      met: main.tempBytes.summary + main.tempBytes.summaryPid + main.tempBytes.smaps === 0,
      figure: `${main.tempBytes.smaps} bytes (original: ${main.tempBytes.originalSmaps} bytes)`,
    },
    {
      name: "backend memory flat during the scan",
      met: main.backendGrowthKb.smaps < 4096,
      figure: `+${mb(main.backendGrowthKb.smaps)} (original: +${mb(main.backendGrowthKb.originalSmaps)})`,
    },
    {
      name: "sidecar peak RSS under 80 MB",
      met: Math.max(main.sidecarPeakKb, main.sidecarHwmKb) < 80 * 1024,
      figure: `${mb(main.sidecarPeakKb)} sampled, VmHWM ${mb(main.sidecarHwmKb)}`,
    },
  ];
  // Linear: a straight line fits the times, and the time stays the same multiple of the kernel's own
  // cost for the same files (whose cost per process also moves with the machine's load).
  const big = curve.filter((r) => r.processes >= 100);
  if (big.length >= 2) {
    for (const name of ["smaps", "summary"] as const) {
      const fit = linearFit(
        curve.map((r) => r.processes),
        curve.map((r) => r.ms[name]),
      );
      const toFloor = big.map((r) => r.ms[name] / FLOOR[name](r));
      const spread = Math.max(...toFloor) / Math.min(...toFloor);
      list.push({
        name: `${LABELS[name]} linear in backends`,
        met: fit.r2 >= 0.98 && spread <= 1.5,
        figure:
          `R² ${fit.r2.toFixed(4)}, ${(fit.slope * 1000).toFixed(0)} µs per process; x floor from 100 ` +
          `processes up: ${toFloor.map(ratio).join(", ")}`,
      });
    }
  }
  return list;
}

export function formatReport(all: readonly StepResult[], backends: number, runs: number): string {
  const results = all.filter((r) => r.readThreads === undefined);
  const modes = all.filter((r) => r.readThreads !== undefined);
  const main = results.find((r) => r.backends === backends) ?? results[results.length - 1];
  if (main === undefined) return "no results\n";
  const out: string[] = [];
  out.push(
    `pg_meminfo benchmark: ${main.backends} client backends (${main.processes} processes read), median of ${runs} runs`,
  );
  const table = new Table({
    head: ["query", "ms", "floor ms", "x floor", "x original", "rows", "temp bytes", "backend +anon"],
    style: { head: [], border: [] },
  });
  for (const name of Object.keys(LABELS) as QueryName[]) {
    const floor = FLOOR[name](main);
    const original = ORIGINAL[name];
    table.push([
      LABELS[name],
      ms(main.ms[name]),
      ms(floor),
      ratio(main.ms[name] / floor),
      original === undefined ? "" : ratio(main.ms[name] / main.ms[original]),
      String(main.rows[name]),
      String(main.tempBytes[name]),
      mb(main.backendGrowthKb[name]),
    ]);
  }
  out.push(table.toString());
  out.push(
    `floors (cat of the same files): smaps ${ms(main.floor.smaps)} ms, smaps_rollup ${ms(main.floor.rollup)} ms, ` +
      `one smaps_rollup ${ms(main.floor.rollupOne)} ms`,
  );
  out.push(`sidecar: peak RSS sampled ${mb(main.sidecarPeakKb)}, VmHWM ${mb(main.sidecarHwmKb)}`);
  if (results.length > 1) {
    out.push("", "scaling:");
    const curve = new Table({
      head: [
        "backends",
        "processes",
        "get_all_smaps ms",
        "µs/process",
        "smaps floor ms",
        "original ms",
        "smap_summary ms",
        "µs/process",
        "rollup floor ms",
        "WHERE pid ms",
        "sidecar VmHWM",
      ],
      style: { head: [], border: [] },
    });
    for (const r of results) {
      curve.push([
        String(r.backends),
        String(r.processes),
        ms(r.ms.smaps),
        ((r.ms.smaps / r.processes) * 1000).toFixed(0),
        ms(r.floor.smaps),
        ms(r.ms.originalSmaps),
        ms(r.ms.summary),
        ((r.ms.summary / r.processes) * 1000).toFixed(0),
        ms(r.floor.rollup),
        ms(r.ms.summaryPid),
        mb(r.sidecarHwmKb),
      ]);
    }
    out.push(curve.toString());
  }
  if (modes.length > 0) out.push("", `read threads, at ${main.backends} backends:`, modesTable(main, modes));
  out.push("", "targets:");
  for (const t of targets(main, results)) out.push(`  [${t.met ? "met" : "NOT MET"}] ${t.name}: ${t.figure}`);
  for (const mode of modes) {
    out.push("", `targets with --read-threads ${mode.readThreads}:`);
    for (const t of targets(mode, [])) out.push(`  [${t.met ? "met" : "NOT MET"}] ${t.name}: ${t.figure}`);
  }
  return `${out.join("\n")}\n`;
}

/** The sidecar's default against other --read-threads: speed, each against its own run's original. */
function modesTable(main: StepResult, modes: readonly StepResult[]): string {
  const table = new Table({
    head: [
      "--read-threads",
      "get_all_smaps ms",
      "x original",
      "smap_summary ms",
      "x rollup floor",
      "WHERE pid ms",
      "sidecar peak RSS",
    ],
    style: { head: [], border: [] },
  });
  for (const r of [main, ...modes]) {
    table.push([
      r.readThreads === undefined ? "default (cores)" : String(r.readThreads),
      ms(r.ms.smaps),
      ratio(r.ms.smaps / r.ms.originalSmaps),
      ms(r.ms.summary),
      ratio(r.ms.summary / r.floor.rollup),
      ms(r.ms.summaryPid),
      mb(Math.max(r.sidecarPeakKb, r.sidecarHwmKb)),
    ]);
  }
  return table.toString();
}
