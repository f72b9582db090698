/**
 * The report as one HTML file that needs nothing else: the figures as tables, the charts drawn by
 * Chart.js, whose code is inlined from node_modules with the data, so that it opens without a network.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { formatBytes, formatRate } from "../sizes.js";
import type { ContextEntry, Note, ReportData } from "./data.js";
import { PAGE_SCRIPT } from "./page-script.js";

/** Chart.js's browser build (UMD), without its source map comment (nothing to fetch). */
export function chartLibrary(): string {
  const main = createRequire(import.meta.url).resolve("chart.js");
  const code = readFileSync(join(dirname(main), "chart.umd.min.js"), "utf8");
  return code.replace(/\/\/# sourceMappingURL=\S+\s*$/, "");
}

const html = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/** JSON inside <script>: "<" escaped, so no "</script>" in the data ends the element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replaceAll("<", "\\u003c");
/** Code inside <script>: the same for "</script" in the library. */
const scriptCode = (code: string) => code.replaceAll("</script", "<\\/script");

const isNote = (v: unknown): v is Note => typeof v === "object" && v !== null && "note" in v;
const when = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, " UTC");

function table(head: string[], rows: string[][], numeric: boolean[]): string {
  const th = head.map((h, i) => `<th${numeric[i] ? ' class="n"' : ""}>${html(h)}</th>`).join("");
  const body = rows
    .map(
      (r) => `<tr>${r.map((c, i) => `<td${numeric[i] ? ' class="n"' : ""}>${html(c)}</td>`).join("")}</tr>`,
    )
    .join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function chart(id: string, title: string, heightPx = 320): string {
  return `<div class="chart" style="height: ${heightPx}px"><canvas id="${id}" aria-label="${html(title)}" role="img"></canvas></div>`;
}

const note = (text: string) => `<p class="note">${html(text)}</p>`;

function historySection(d: ReportData): string {
  const h = d.history;
  if (isNote(h)) {
    return `<section><h2>Cluster memory over time</h2>${note(h.note)}</section>
<section><h2>Top sessions' own memory over time</h2>${note(h.note)}</section>`;
  }
  const span = `${when(h.from)} to ${when(h.to)}, ${h.rounds.length} rounds${
    h.intervalMs === null ? "" : ` every ${Math.round(h.intervalMs / 100) / 10} s`
  }`;
  return `<section><h2>Cluster memory over time</h2>
<p>PSS (each process's share of every page it maps, so the sum is what the cluster costs the host) and
own memory (USS, what the kernel frees when a process exits) of all processes, per sampling round: ${html(span)}.</p>
${chart("chart-cluster", "cluster PSS and own memory over time")}</section>
<section><h2>Top sessions' own memory over time</h2>
<p>The ${h.sessions.length} processes with the most memory of their own in the latest round.</p>
${chart("chart-sessions", "own memory of the top sessions over time")}</section>`;
}

function contextsCell(c: ContextEntry[] | Note | null): string {
  if (c === null) return "";
  if (isNote(c)) return c.note;
  if (c.length === 0) return "none grew";
  return c
    .map(
      (e) => `${e.name} ${e.growthBytes === null ? formatBytes(e.bytes) : `+${formatBytes(e.growthBytes)}`}`,
    )
    .join(", ");
}

function growthSection(d: ReportData): string {
  const g = d.growth;
  if (isNote(g)) return `<section><h2>Growing processes</h2>${note(g.note)}</section>`;
  if (g.processes.length === 0) {
    return `<section><h2>Growing processes</h2>${note(`No process's own memory grew by 64 kB a minute or more over the last ${g.windowMinutes} minutes.`)}</section>`;
  }
  const steady = g.processes.some((p) => p.growing);
  const rows = g.processes.map((p) => [
    p.label,
    formatRate(p.bytesPerMinute),
    p.r2 === null ? "" : p.r2.toFixed(2),
    String(p.samples),
    `${formatBytes(p.firstBytes)} → ${formatBytes(p.lastBytes)}`,
    p.growing ? "yes" : "no",
    contextsCell(p.contexts),
  ]);
  return `<section><h2>Growing processes</h2>
<p>Own memory (anonymous PSS) per minute over the last ${g.windowMinutes} minutes (memory_growth, least squares);
steady growth in red, other growth of 64 kB a minute or more in grey. ${steady ? "" : "No process grew steadily."}
Contexts: ${html(g.contextsHow)}.</p>
${chart("chart-growth", "growth of own memory per minute", 70 + 40 * g.processes.length)}
${table(["process", "growth", "r²", "samples", "first → last", "steady", "growing memory contexts"], rows, [false, true, true, true, true, false, false])}
</section>`;
}

export function reportHtml(d: ReportData): string {
  const c = d.cluster;
  const summary = [
    ["processes", String(c.processes)],
    ["total PSS", formatBytes(c.totalPssBytes)],
    ["total own memory (USS)", formatBytes(c.totalUssBytes)],
    ["sum of RSS (counts shared pages once per process)", formatBytes(c.totalRssBytes)],
    ["shared memory (shared_memory_size)", formatBytes(c.sharedMemoryBytes)],
    ...(c.memoryLimitBytes === null
      ? []
      : [
          ["memory limit", formatBytes(c.memoryLimitBytes)],
          ["headroom", formatBytes(c.headroomBytes)],
        ]),
  ];
  const top = d.top
    .slice(0, 15)
    .map((p) => [
      String(p.pid),
      p.label.slice(String(p.pid).length + 1),
      p.state,
      formatBytes(p.ussBytes),
      formatBytes(p.pssBytes),
      formatBytes(p.sharedBuffersBytes),
    ]);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>pg_meminfo report, ${html(d.database)}, ${html(when(d.takenAt))}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 28px 0 6px; }
.meta, .note { color: #555; } .note { font-style: italic; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart { position: relative; }
</style>
</head>
<body>
<h1>pg_meminfo report</h1>
<p class="meta">Snapshot taken ${html(when(d.takenAt))} from ${html(d.server)}, database ${html(d.database)}, pg_meminfo ${html(d.extensionVersion)}.</p>
<section><h2>The cluster now</h2>
${table(
  ["", ""],
  summary.map(([k, v]) => [k as string, v as string]),
  [false, true],
)}
${table(["pid", "process", "state", "own (USS)", "PSS", "shared_buffers"], top, [true, false, false, true, true, true])}
</section>
${historySection(d)}
<section><h2>Memory by kind, top processes</h2>
<p>Each process's PSS by kind of memory (backend_memory_by_kind): its private memory (heap, anonymous, stack)
and its share of shared_buffers, libraries and the postgres binary.</p>
${chart("chart-kinds", "memory by kind of the top processes")}</section>
${growthSection(d)}
<script type="application/json" id="report-data">${scriptJson(d)}</script>
<script>${scriptCode(chartLibrary())}</script>
<script>${scriptCode(PAGE_SCRIPT)}</script>
</body>
</html>
`;
}
