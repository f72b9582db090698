/// <reference lib="dom" />
/**
 * pg-meminfo report from a real run, opened in headless Chromium with the network cut off: every chart
 * drew its series (Chart.js's own account of its elements, and pixels on each canvas), the sessions of
 * the cluster are in them, and a screenshot is kept in .tmp/report/. And the report of an extension
 * without history: notes in place of the charts it cannot draw.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type GrowingSession, growSteadily, holdSort } from "../../harness/busy-sessions.js";
import { SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { openOffline } from "../support/browser.js";
import { pgMeminfo } from "../support/tool-cli.js";

interface DrawnChart {
  id: string;
  type: string;
  labels: string[];
  datasets: { label: string; points: number; drawn: number }[];
  /** Canvas pixels that are not transparent or white. */
  inked: number;
  pixels: number;
}

/** What Chart.js drew on each canvas of the page. */
async function drawnCharts(page: import("playwright-core").Page): Promise<DrawnChart[]> {
  await page.waitForFunction(() => document.documentElement.dataset.charts === "drawn", null, {
    timeout: 15_000,
  });
  return page.evaluate(() => {
    // biome-ignore lint/suspicious/noExplicitAny: Chart.js objects of the page
    const charts = (window as any).pgMeminfoCharts as Record<string, any>;
    return Object.entries(charts).map(([id, chart]) => {
      const canvas = chart.canvas as HTMLCanvasElement;
      const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let inked = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]] as number[];
        if ((a as number) > 0 && !((r as number) > 240 && (g as number) > 240 && (b as number) > 240))
          inked++;
      }
      return {
        id,
        type: chart.config.type,
        labels: (chart.data.labels ?? []).map(String),
        // biome-ignore lint/suspicious/noExplicitAny: Chart.js datasets
        datasets: chart.data.datasets.map((d: any, i: number) => ({
          label: String(d.label),
          points: d.data.length,
          drawn: chart
            .getDatasetMeta(i)
            .data.filter((e: { x: number; y: number }) => Number.isFinite(e.x) && Number.isFinite(e.y))
            .length,
        })),
        inked,
        pixels: canvas.width * canvas.height,
      };
    });
  });
}

describe("pg-meminfo report", () => {
  let cluster: ThrowawayCluster;
  let sidecar: SidecarProcess | undefined;
  const sessions: pg.Client[] = [];
  let growing: GrowingSession | undefined;
  let history = false;
  let bigPid: number;
  const out = join(inject("repoRoot"), ".tmp", "report");

  beforeAll(async () => {
    await mkdir(out, { recursive: true });
    cluster = await ThrowawayCluster.create({ prefix: "pg-meminfo-report-" });
    await cluster.start();
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    await cluster.sql("CREATE DATABASE old_extension");
    await cluster.sql("CREATE EXTENSION pg_meminfo VERSION '1.0'", [], "old_extension");
    // The extension and the sidecar come from one tree: with memory_history, the sidecar samples.
    history =
      (await cluster.sql<{ h: string | null }>("SELECT to_regclass('memory_history')::text AS h"))[0]?.h !=
      null;
    sidecar = await SidecarProcess.start(cluster, { extraArgs: history ? ["--sample-interval", "1"] : [] });

    const big = await holdSort(cluster, "report-test-big-sort", 200_000);
    sessions.push(big);
    bigPid = (await big.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid as number;
    growing = await growSteadily(cluster, "report-test-growing", 10);
    // Enough samples for memory_growth's rule (6 at least, over quarters of the window).
    if (history) await sleep(14_000);
  });

  afterAll(async () => {
    await growing?.stop();
    for (const s of sessions) await s.end().catch(() => {});
    await sidecar?.stop();
    await cluster?.destroy();
  });

  it("answers --help with every part of the report and --context-seconds", async () => {
    const help = await pgMeminfo(["report", "--help"]);
    expect(help.code).toBe(0);
    for (const word of [
      "--html",
      "--context-seconds",
      "memory_history",
      "memory_growth",
      "backend_memory_by_kind",
    ])
      expect(help.stdout).toContain(word);
  });

  it("writes one self-contained file that draws every chart offline, with the cluster's sessions", async () => {
    const file = join(out, "report.html");
    const result = await pgMeminfo([
      "report",
      cluster.connectionString(),
      "--html",
      file,
      "--context-seconds",
      "2",
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^pg-meminfo: wrote .*report\.html \(\d+ kB\)$/m);
    const html = await readFile(file, "utf8");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src="?http/i);
    expect(html).toContain("Content-Security-Policy");

    const view = await openOffline(file);
    try {
      const charts = await drawnCharts(view.page);
      await view.page.screenshot({ path: join(out, "report.png"), fullPage: true });
      expect(view.errors).toEqual([]);
      expect(view.blocked).toEqual([]);
      const text = await view.page.locator("body").innerText();
      expect(text).toMatch(/Snapshot taken \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC from PostgreSQL 15/);
      expect(text).toContain("report-test-big-sort");

      const ids = charts.map((c) => c.id).sort();
      expect(ids).toEqual(
        history ? ["chart-cluster", "chart-growth", "chart-kinds", "chart-sessions"] : ["chart-kinds"],
      );
      for (const chart of charts) {
        expect(chart.datasets.length, chart.id).toBeGreaterThan(0);
        for (const d of chart.datasets) {
          expect(d.points, `${chart.id} ${d.label}`).toBeGreaterThan(0);
          expect(d.drawn, `${chart.id} ${d.label}`).toBe(d.points);
        }
        expect(chart.inked / chart.pixels, chart.id).toBeGreaterThan(0.005);
      }
      const kinds = charts.find((c) => c.id === "chart-kinds") as DrawnChart;
      expect(kinds.type).toBe("bar");
      expect(kinds.labels).toContain(`${bigPid} report-test-big-sort`);
      expect(kinds.datasets.map((d) => d.label)).toEqual(
        expect.arrayContaining(["anonymous", "shared_buffers", "heap"]),
      );
      if (history) {
        const cluster = charts.find((c) => c.id === "chart-cluster") as DrawnChart;
        expect(cluster.datasets.map((d) => d.label)).toEqual([
          "PSS (all processes)",
          "own memory, USS (all processes)",
        ]);
        expect(cluster.datasets[0]?.points).toBeGreaterThanOrEqual(6);
        const sessions = charts.find((c) => c.id === "chart-sessions") as DrawnChart;
        expect(sessions.datasets.map((d) => d.label)).toContain(`${bigPid} report-test-big-sort`);
        const growth = charts.find((c) => c.id === "chart-growth") as DrawnChart;
        expect(growth.labels.some((l) => l.endsWith("report-test-growing"))).toBe(true);
        expect(text).toMatch(/report-test-growing\s.*\+\d+ (kB|MB)\/min/);
        // memory_context_growth watched the steady grower: its row names contexts that grew.
        const row = await view.page.locator("tr", { hasText: "report-test-growing" }).last().innerText();
        expect(row).toMatch(/\syes\s+.*\S+ \+\d+ (bytes|kB|MB)/);
      } else {
        expect(text).toContain("history not available: pg_meminfo 1.1 has no memory_history");
        expect(text).toContain("growth not available: pg_meminfo 1.1 has no memory_growth");
      }
    } finally {
      await view.close();
    }
  });

  it("on an extension without history: notes where the history and growth charts would be", async () => {
    const file = join(out, "report-1.0.html");
    const result = await pgMeminfo(["report", cluster.connectionString("old_extension"), "--html", file]);
    expect(result.code, result.stderr).toBe(0);
    const view = await openOffline(file);
    try {
      const charts = await drawnCharts(view.page);
      expect(charts.map((c) => c.id)).toEqual(["chart-kinds"]);
      expect(charts[0]?.datasets.every((d) => d.drawn === d.points && d.points > 0)).toBe(true);
      const text = await view.page.locator("body").innerText();
      expect(text).toContain(
        "history not available: pg_meminfo 1.0 has no memory_history; it needs ALTER EXTENSION pg_meminfo UPDATE",
      );
      expect(text).toContain("growth not available: pg_meminfo 1.0 has no memory_growth");
      expect(view.errors).toEqual([]);
    } finally {
      await view.close();
    }
  });

  it("fails with a message and no file for a database without the extension", async () => {
    await cluster.sql("CREATE DATABASE no_extension");
    const file = join(out, "never.html");
    const result = await pgMeminfo(["report", cluster.connectionString("no_extension"), "--html", file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "pg_meminfo is not created in this database: CREATE EXTENSION pg_meminfo;",
    );
    await expect(readFile(file)).rejects.toThrow(/ENOENT/);
  });
});
