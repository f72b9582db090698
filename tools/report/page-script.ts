/**
 * The report's script, run by the browser that opens the file: it draws a Chart.js chart on each canvas
 * the page has, from the data embedded in the page. No animation, so a chart is complete when drawn;
 * the charts are left in window.pgMeminfoCharts and <html data-charts="drawn"> says they are done.
 */
import { formatBytes } from "../sizes.js";

export const PAGE_SCRIPT = `
"use strict";
const formatBytes = ${formatBytes.toString()};
const data = JSON.parse(document.getElementById("report-data").textContent);
const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const time = (ms) => new Date(ms).toISOString().slice(11, 19);
const bytesAxis = { beginAtZero: true, ticks: { callback: (v) => formatBytes(v) } };
const timeAxis = (h) => ({ type: "linear", min: h.from, max: h.to, title: { display: true, text: "UTC" },
  ticks: { callback: (v) => time(v), maxTicksLimit: 8 } });
const tooltip = (fmt) => ({ callbacks: { label: (c) => c.dataset.label + ": " + fmt(c.parsed) } });
const base = { animation: false, responsive: true, maintainAspectRatio: false };
const charts = {};

function draw(id, config) {
  const canvas = document.getElementById(id);
  if (canvas) charts[id] = new Chart(canvas, config);
}

if (data.history.rounds) {
  const h = data.history;
  draw("chart-cluster", {
    type: "line",
    data: {
      datasets: [
        { label: "PSS (all processes)", data: h.rounds.map((r) => ({ x: r.at, y: r.pssBytes })) },
        { label: "own memory, USS (all processes)", data: h.rounds.map((r) => ({ x: r.at, y: r.ussBytes })) },
      ].map((d, i) => ({ ...d, borderColor: palette[i], backgroundColor: palette[i], pointRadius: 0, borderWidth: 2 })),
    },
    options: { ...base, scales: { x: timeAxis(h), y: bytesAxis },
      plugins: { tooltip: { callbacks: { title: (items) => time(items[0].parsed.x), label: (c) => c.dataset.label + ": " + formatBytes(c.parsed.y) } } } },
  });
  draw("chart-sessions", {
    type: "line",
    data: {
      datasets: h.sessions.map((s, i) => ({
        label: s.label, data: s.points.map(([x, y]) => ({ x, y })),
        borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: 0, borderWidth: 2,
      })),
    },
    options: { ...base, scales: { x: timeAxis(h), y: bytesAxis },
      plugins: { tooltip: { callbacks: { title: (items) => time(items[0].parsed.x), label: (c) => c.dataset.label + ": " + formatBytes(c.parsed.y) } } } },
  });
}

draw("chart-kinds", {
  type: "bar",
  data: {
    labels: data.kinds.processes.map((p) => p.label),
    datasets: data.kinds.kinds.map((kind, i) => ({
      label: kind, data: data.kinds.pssBytes[i], backgroundColor: palette[i % palette.length], maxBarThickness: 64,
    })),
  },
  options: { ...base, scales: { x: { stacked: true }, y: { ...bytesAxis, stacked: true } },
    plugins: { tooltip: tooltip((p) => formatBytes(p.y)) } },
});

if (data.growth.processes) {
  const g = data.growth.processes;
  draw("chart-growth", {
    type: "bar",
    data: {
      labels: g.map((p) => p.label + (p.growing ? "" : " (not steady)")),
      datasets: [{ label: "own memory per minute", data: g.map((p) => p.bytesPerMinute), maxBarThickness: 28,
        backgroundColor: g.map((p) => (p.growing ? palette[3] : palette[7])) }],
    },
    options: { ...base, indexAxis: "y", scales: { x: bytesAxis },
      plugins: { legend: { display: false }, tooltip: tooltip((p) => formatBytes(p.x) + "/min") } },
  });
}

window.pgMeminfoCharts = charts;
document.documentElement.dataset.charts = "drawn";
`;
