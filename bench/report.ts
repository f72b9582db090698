/** The benchmark's report: figures, ratios to the floors and the original, and the targets. */
import Table from "cli-table3";
import { DEFAULT_SAMPLE_INTERVAL_MS } from "../sidecar/history/sampler.js";
import type { QueryName, StepResult } from "./run.js";
import { SAMPLER_INTERVAL_S } from "./sampler-cost.js";

const LABELS: Record<QueryName, string> = {
  summary: "smap_summary",
  summaryPid: "smap_summary WHERE pid = X",
  smaps: "get_all_smaps",
  byKind: "backend_memory_by_kind",
  memory: "backend_memory",
  memoryPid: "backend_memory WHERE pid = X",
  heap: "floor: get_all_smaps's rows from a heap table",
  originalSmaps: "original get_all_smaps()",
  originalSummary: "original smap_summary",
  originalSummaryPid: "original smap_summary WHERE pid = X",
};

/** The floor each query is compared with: `cat` of the files it reads, or the same rows from a table. */
const FLOOR: Record<QueryName, { label: string; of: (r: StepResult) => number }> = {
  summary: { label: "cat rollups", of: (r) => r.floor.rollup },
  summaryPid: { label: "cat rollup", of: (r) => r.floor.rollupOne },
  smaps: { label: "heap table", of: (r) => r.ms.heap },
  byKind: { label: "cat smaps", of: (r) => r.floor.smaps },
  memory: { label: "cat smaps", of: (r) => r.floor.smaps },
  memoryPid: { label: "cat rollup", of: (r) => r.floor.rollupOne },
  heap: { label: "cat smaps", of: (r) => r.floor.smaps },
  originalSmaps: { label: "heap table", of: (r) => r.ms.heap },
  originalSummary: { label: "cat rollups", of: (r) => r.floor.rollup },
  originalSummaryPid: { label: "cat rollup", of: (r) => r.floor.rollupOne },
};

const ORIGINAL: Partial<Record<QueryName, QueryName>> = {
  summary: "originalSummary",
  summaryPid: "originalSummaryPid",
  smaps: "originalSmaps",
};

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** CPU per round as a share of one core at the default sample interval. */
const percentOfCore = (cpuMs: number) => `${((100 * cpuMs) / DEFAULT_SAMPLE_INTERVAL_MS).toFixed(2)} %`;
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

/** A query at most `factor` times its floor. */
function toFloor(main: StepResult, name: QueryName, factor: number): Target {
  const floor = FLOOR[name];
  const value = main.ms[name];
  const of = floor.of(main);
  return {
    name: `${LABELS[name]} at most ${factor}x ${floor.label}`,
    met: value <= factor * of,
    figure: `${ms(value)} ms vs ${ms(of)} ms = ${ratio(value / of)}`,
  };
}

function under(main: StepResult, name: QueryName, limit: number): Target {
  return {
    name: `${LABELS[name]} under ${limit} ms`,
    met: main.ms[name] < limit,
    figure: `${ms(main.ms[name])} ms`,
  };
}

const OURS: QueryName[] = ["summary", "summaryPid", "smaps", "byKind", "memory", "memoryPid"];

export function targets(main: StepResult, curve: readonly StepResult[]): Target[] {
  const temp = OURS.reduce((sum, n) => sum + main.tempBytes[n], 0);
  const growth = Math.max(...OURS.map((n) => main.backendGrowthKb[n]));
  const list: Target[] = [
    toFloor(main, "memory", 1.3),
    toFloor(main, "byKind", 1.3),
    under(main, "memoryPid", 15),
    toFloor(main, "smaps", 1.5),
    {
      name: "get_all_smaps faster than the original",
      met: main.ms.smaps < main.ms.originalSmaps,
      figure: `${ms(main.ms.smaps)} ms vs ${ms(main.ms.originalSmaps)} ms = ${ratio(main.ms.smaps / main.ms.originalSmaps)}`,
    },
    toFloor(main, "summary", 1.1),
    under(main, "summaryPid", 10),
    {
      name: "no temporary files",
      met: temp === 0,
      figure: `${temp} bytes (original get_all_smaps(): ${main.tempBytes.originalSmaps} bytes)`,
    },
    {
      name: "backend memory flat during the scans",
      met: growth < 4096,
      figure: `+${mb(growth)} at most (original get_all_smaps(): +${mb(main.backendGrowthKb.originalSmaps)})`,
    },
    // The sampler reads what smap_summary reads (every smaps_rollup, and each stat): its CPU per round
    // is compared with the sidecar's CPU for that query in the same run, which moves with the machine.
    ...(main.sampler === undefined
      ? []
      : [
          {
            name: "history sampler CPU per round at most 1.25x the sidecar's CPU for smap_summary",
            met: main.sampler.rounds > 0 && main.sampler.cpuMsPerRound <= 1.25 * main.sidecarCpuMs.summary,
            figure:
              `${ms(main.sampler.cpuMsPerRound)} ms vs ${ms(main.sidecarCpuMs.summary)} ms per round of ${main.sampler.processes} processes; ` +
              `${percentOfCore(main.sampler.cpuMsPerRound)} of a core at the default interval`,
          },
        ]),
    {
      name: "sidecar peak USS at most 40 MB during get_all_smaps",
      met: main.sidecarPeakUssKb <= 40 * 1024,
      figure: `${mb(main.sidecarPeakUssKb)} (idle ${mb(main.sidecarIdleUssKb)}; VmHWM ${mb(main.sidecarHwmKb)}, RSS counts the shared node binary)`,
    },
  ];
  for (const [scrape, of] of [
    [main.scrape, "a sidecar sampling every second"],
    [main.scrapeFixture, "fixtures, every process its own labels"],
  ] as const) {
    if (scrape === undefined) continue;
    const render =
      scrape.renderMs === undefined
        ? ""
        : `; set and formatted once per round in ${scrape.renderMs.toFixed(1)} ms`;
    list.push({
      name: `GET /metrics under 5 ms at ${main.backends} backends (${of})`,
      met: scrape.medianMs < 5,
      figure:
        `${scrape.medianMs.toFixed(2)} ms median of ${scrape.runs} (max ${scrape.maxMs.toFixed(1)} ms), ` +
        `${scrape.processes} processes, ${scrape.series} series, ${(scrape.bytes / 1024).toFixed(0)} kB ` +
        `(${(scrape.gzipBytes / 1024).toFixed(0)} kB gzipped)${render}`,
    });
  }
  const c = main.concurrency;
  if (c !== undefined) {
    list.push(
      {
        name: `${c.scans} concurrent distinct scans: all answered`,
        met: Object.keys(c.failed).length === 0,
        figure: Object.keys(c.failed).length === 0 ? "none failed" : JSON.stringify(c.failed),
      },
      {
        name: `${c.scans} concurrent distinct scans: sidecar peak USS at most 2x its single-scan peak`,
        met: c.concurrentPeakUssKb <= 2 * c.singlePeakUssKb,
        figure: `${mb(c.concurrentPeakUssKb)} vs ${mb(c.singlePeakUssKb)} = ${ratio(c.concurrentPeakUssKb / c.singlePeakUssKb)}`,
      },
      {
        name: "and back to at most 1.2x its single-scan peak 10 s after",
        met: c.settledUssKb <= 1.2 * c.singlePeakUssKb,
        figure: `${mb(c.settledUssKb)} = ${ratio(c.settledUssKb / c.singlePeakUssKb)}`,
      },
    );
  }
  // Linear: a straight line fits the times, and the time stays the same multiple of the kernel's own
  // cost for the same files (whose cost per process also moves with the machine's load).
  const big = curve.filter((r) => r.processes >= 100);
  if (big.length >= 2) {
    for (const name of ["smaps", "summary", "memory"] as const) {
      const fit = linearFit(
        curve.map((r) => r.processes),
        curve.map((r) => r.ms[name]),
      );
      const spread = big.map((r) => r.ms[name] / FLOOR[name].of(r));
      const range = Math.max(...spread) / Math.min(...spread);
      list.push({
        name: `${LABELS[name]} linear in backends`,
        met: fit.r2 >= 0.98 && range <= 1.5,
        figure:
          `R² ${fit.r2.toFixed(4)}, ${(fit.slope * 1000).toFixed(0)} µs per process; x floor from 100 ` +
          `processes up: ${spread.map(ratio).join(", ")}`,
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
    `pg_meminfo benchmark: ${main.backends} client backends (${main.processes} processes read), median of ${runs} runs, every row sent to psql`,
  );
  const table = new Table({
    head: [
      "query",
      "ms",
      "floor",
      "floor ms",
      "x floor",
      "x original",
      "rows",
      "sidecar CPU ms",
      "temp bytes",
    ],
    style: { head: [], border: [] },
  });
  for (const name of Object.keys(LABELS) as QueryName[]) {
    const floor = FLOOR[name];
    const original = ORIGINAL[name];
    table.push([
      LABELS[name],
      ms(main.ms[name]),
      floor.label,
      ms(floor.of(main)),
      ratio(main.ms[name] / floor.of(main)),
      original === undefined ? "" : ratio(main.ms[name] / main.ms[original]),
      String(main.rows[name]),
      main.sidecarCpuMs[name] > 0 ? ms(main.sidecarCpuMs[name]) : "",
      String(main.tempBytes[name]),
    ]);
  }
  out.push(table.toString());
  out.push(
    `floors (cat of the same files, one process): smaps ${ms(main.floor.smaps)} ms, smaps_rollup ${ms(main.floor.rollup)} ms, ` +
      `one smaps_rollup ${ms(main.floor.rollupOne)} ms`,
  );
  out.push(
    `sidecar: USS idle ${mb(main.sidecarIdleUssKb)}, peak during get_all_smaps ${mb(main.sidecarPeakUssKb)}; VmHWM ${mb(main.sidecarHwmKb)}`,
  );
  const sampler = main.sampler;
  if (sampler !== undefined) {
    out.push(
      `history sampler (a sidecar sampling every ${SAMPLER_INTERVAL_S} s, nothing else): ${ms(sampler.cpuMsPerRound)} ms CPU per round ` +
        `of ${sampler.processes} processes (${sampler.rounds} rounds, ${(100 * sampler.systemShare).toFixed(0)} % of it in the kernel), a round takes ${ms(sampler.roundMs)} ms; ` +
        `at the default interval of ${DEFAULT_SAMPLE_INTERVAL_MS / 1000} s, ${percentOfCore(sampler.cpuMsPerRound)} of a core`,
    );
  }
  if (results.length > 1) {
    out.push("", "scaling:");
    const curve = new Table({
      head: [
        "backends",
        "processes",
        "get_all_smaps ms",
        "heap floor ms",
        "original ms",
        "backend_memory ms",
        "smaps floor ms",
        "smap_summary ms",
        "rollup floor ms",
        "WHERE pid ms",
        "sidecar peak USS",
      ],
      style: { head: [], border: [] },
    });
    for (const r of results) {
      curve.push([
        String(r.backends),
        String(r.processes),
        ms(r.ms.smaps),
        ms(r.ms.heap),
        ms(r.ms.originalSmaps),
        ms(r.ms.memory),
        ms(r.floor.smaps),
        ms(r.ms.summary),
        ms(r.floor.rollup),
        ms(r.ms.summaryPid),
        mb(r.sidecarPeakUssKb),
      ]);
    }
    out.push(curve.toString());
  }
  if (modes.length > 0) out.push("", `read threads, at ${main.backends} backends:`, modesTable(main, modes));
  const c = main.concurrency;
  if (c !== undefined) {
    const failed = Object.entries(c.failed).map(([code, n]) => `${n} with ${code}`);
    out.push(
      "",
      `${c.scans} distinct get_all_smaps scans at once, at ${main.backends} backends: ${c.seconds.toFixed(1)} s, ` +
        `${c.rows.min === c.rows.max ? c.rows.min : `${c.rows.min}-${c.rows.max}`} rows each, ` +
        `${failed.length === 0 ? "none failed" : `failed: ${failed.join(", ")}`}; sidecar USS idle ${mb(c.idleUssKb)}, ` +
        `one scan ${mb(c.singlePeakUssKb)}, all at once ${mb(c.concurrentPeakUssKb)}, ` +
        `1 s after ${mb(c.afterUssKb)}, 10 s after ${mb(c.settledUssKb)}`,
    );
  }
  out.push("", "targets:");
  for (const t of targets(main, results)) out.push(`  [${t.met ? "met" : "NOT MET"}] ${t.name}: ${t.figure}`);
  for (const mode of modes) {
    out.push("", `targets with --read-threads ${mode.readThreads}:`);
    for (const t of targets(mode, [])) out.push(`  [${t.met ? "met" : "NOT MET"}] ${t.name}: ${t.figure}`);
  }
  return `${out.join("\n")}\n`;
}

/** The sidecar's default against other --read-threads settings, each against its own run's floors. */
function modesTable(main: StepResult, modes: readonly StepResult[]): string {
  const table = new Table({
    head: [
      "--read-threads",
      "get_all_smaps ms",
      "x heap floor",
      "backend_memory ms",
      "x smaps floor",
      "smap_summary ms",
      "sidecar peak USS",
    ],
    style: { head: [], border: [] },
  });
  for (const r of [main, ...modes]) {
    table.push([
      r.readThreads === undefined ? "default" : String(r.readThreads),
      ms(r.ms.smaps),
      ratio(r.ms.smaps / r.ms.heap),
      ms(r.ms.memory),
      ratio(r.ms.memory / r.floor.smaps),
      ms(r.ms.summary),
      mb(r.sidecarPeakUssKb),
    ]);
  }
  return table.toString();
}
