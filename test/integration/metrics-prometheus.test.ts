/**
 * The metrics with the real engine: a cluster of this file's own (it is stopped at the end), its
 * sidecar sampling every second with --metrics-listen, and Debian's Prometheus scraping it every second.
 * The figures Prometheus has are checked against backend_memory taken at the same time, the
 * exposition with promtool, every query of the dashboard, and what a scrape shows while the cluster
 * is down.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PrometheusServer, type VectorSample } from "../../harness/prometheus-server.js";
import { REPO_ROOT, SidecarProcess } from "../../harness/sidecar-process.js";
import { freePort, ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { dashboardQueries, substitute } from "../support/dashboard.js";
import { parseExposition, samplesOf, sumOf } from "../support/exposition-text.js";
import { checkMetrics } from "../support/promtool.js";

const MB = 1024 * 1024;
/** A hostile application_name: quotes, a backslash, braces (PostgreSQL keeps only printable ASCII). */
const HOSTILE = 'metrics-test "q" \\ {x="y"}';
const APPS = ["metrics-test-a", "metrics-test-a", "metrics-test-b", HOSTILE];
const MEMTYPE_COLUMNS = {
  pss: "pss_bytes",
  rss: "rss_bytes",
  anon: "anon_bytes",
  swap: "swap_bytes",
  shared_buffers: "pss_shmem_bytes",
} as const;

describe("a real Prometheus scraping the sidecar's metrics", () => {
  let cluster: ThrowawayCluster;
  let sidecar: SidecarProcess;
  let prometheus: PrometheusServer;
  let client: pg.Client;
  const sessions: pg.Client[] = [];
  let target = "";

  const scrape = async () => {
    const res = await fetch(`http://${target}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };
  const values = (samples: VectorSample[]) =>
    new Map(samples.map((s) => [JSON.stringify(s.metric), Number(s.value[1])]));

  beforeAll(async () => {
    cluster = await ThrowawayCluster.create({ prefix: "pg-meminfo-metrics-" });
    await cluster.start();
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    const port = await freePort();
    target = `127.0.0.1:${port}`;
    sidecar = await SidecarProcess.start(cluster, {
      extraArgs: ["--sample-interval", "1", "--metrics-listen", target, "--metrics-top-pids", "5"],
    });
    client = await cluster.connect("postgres", undefined, "metrics-test-observer");
    for (const app of APPS) sessions.push(await cluster.connect("postgres", undefined, app));
    // One session holds a sort of its own: tens of MB that are its alone.
    const big = sessions[2] as pg.Client;
    await big.query("SET work_mem = '128MB'");
    await big.query("BEGIN");
    await big.query(
      "DECLARE c CURSOR FOR SELECT g, md5(g::text) FROM generate_series(1, 300000) g ORDER BY 2",
    );
    await big.query("FETCH 1 FROM c");
    prometheus = await PrometheusServer.start({ targets: [target], scrapeIntervalSeconds: 1 });
    // Two scrapes of rounds that saw every session: rounds are 1 s apart, scrapes too.
    await sleep(2_500);
    await prometheus.waitForScrapes(2);
  }, 120_000);

  afterAll(async () => {
    for (const session of sessions) await session.end().catch(() => {});
    await client?.end().catch(() => {});
    await prometheus?.stop();
    await sidecar?.stop();
    await cluster?.destroy();
  });

  it("has pg_meminfo_memory_bytes that match backend_memory taken at the same time", async () => {
    const { rows } = await client.query<Record<string, string>>(
      `SELECT application_name, count(*)::text AS processes,
              sum(uss_bytes)::text AS uss_bytes, sum(pss_bytes)::text AS pss_bytes,
              sum(rss_bytes)::text AS rss_bytes, sum(anon_bytes)::text AS anon_bytes,
              sum(swap_bytes)::text AS swap_bytes, sum(pss_shmem_bytes)::text AS pss_shmem_bytes
         FROM backend_memory WHERE application_name LIKE 'metrics-test%' AND application_name <> 'metrics-test-observer'
        GROUP BY application_name`,
    );
    const at = Date.now() / 1000;
    expect(rows.map((r) => r.application_name).sort()).toEqual([...new Set(APPS)].sort());
    for (const row of rows) {
      const app = row.application_name as string;
      const selector = `application_name=${JSON.stringify(app)}`;
      const processes = await prometheus.query(`sum(pg_meminfo_processes{${selector}})`, at);
      expect(Number(processes[0]?.value[1]), app).toBe(Number(row.processes));
      for (const [memtype, column] of Object.entries(MEMTYPE_COLUMNS)) {
        const [sample] = await prometheus.query(
          `sum(pg_meminfo_memory_bytes{memtype="${memtype}", ${selector}})`,
          at,
        );
        const scraped = Number(sample?.value[1]);
        const queried = Number(row[column]);
        // The sampler read smaps_rollup up to two seconds before: idle sessions drift by a few pages, and
        // the kernel rounds each rollup's PSS.
        expect(
          Math.abs(scraped - queried),
          `${app} ${memtype}: ${scraped} vs ${queried}`,
        ).toBeLessThanOrEqual(Math.max(0.05 * queried, 512 * 1024));
      }
      // The sampler's USS (all Private_* pages of smaps_rollup) counts the shared_buffers pages only this
      // process touched, which backend_memory's leaves out: at least as large.
      const [uss] = await prometheus.query(`sum(pg_meminfo_memory_bytes{memtype="uss", ${selector}})`, at);
      expect(Number(uss?.value[1])).toBeGreaterThanOrEqual(0.95 * Number(row.uss_bytes) - 512 * 1024);
    }
    // The sort session: its own memory shows, well apart from the idle ones.
    const [sort] = await prometheus.query(
      `sum(pg_meminfo_memory_bytes{memtype="anon", application_name="metrics-test-b"})`,
      at,
    );
    const [idle] = await prometheus.query(
      `sum(pg_meminfo_memory_bytes{memtype="anon", application_name="metrics-test-a"})`,
      at,
    );
    expect(Number(sort?.value[1])).toBeGreaterThan(Number(idle?.value[1]) / 2 + 10 * MB);
  });

  it("sums as the cluster does: pss over all labels is the cluster's PSS, processes are the cluster's", async () => {
    const at = Date.now() / 1000;
    const [total] = await prometheus.query('sum(pg_meminfo_memory_bytes{memtype="pss"})', at);
    const [cluster] = await prometheus.query("pg_meminfo_cluster_pss_bytes", at);
    expect(Number(total?.value[1])).toBe(Number(cluster?.value[1]));
    const { rows } = await client.query<{ processes: number; total_pss_bytes: string }>(
      "SELECT processes::int, total_pss_bytes::text FROM cluster_memory",
    );
    const row = rows[0];
    expect(Math.abs(Number(cluster?.value[1]) - Number(row?.total_pss_bytes))).toBeLessThanOrEqual(
      0.1 * Number(row?.total_pss_bytes),
    );
    const [processes] = await prometheus.query("sum(pg_meminfo_processes)", at);
    expect(Math.abs(Number(processes?.value[1]) - (row?.processes ?? 0))).toBeLessThanOrEqual(1);
    const [postmaster] = await prometheus.query('sum(pg_meminfo_processes{backend_type="postmaster"})', at);
    expect(Number(postmaster?.value[1])).toBe(1);
  });

  it("keeps the hostile application_name exact, and passes promtool check metrics", async () => {
    const text = await scrape();
    const check = await checkMetrics(text);
    expect(check.output).toBe("");
    expect(check.code).toBe(0);
    const exposed = parseExposition(text);
    expect(sumOf(exposed, "pg_meminfo_processes", { application_name: HOSTILE })).toBe(1);
    const [series] = await prometheus.query(
      `pg_meminfo_processes{application_name=${JSON.stringify(HOSTILE)}}`,
    );
    expect(series?.metric.application_name).toBe(HOSTILE);
    // Never query text: the cursor's query is nowhere.
    expect(text).not.toContain("generate_series");
    expect(text).not.toContain("md5");
  });

  it("shows the per-pid series, the health and the build", async () => {
    const text = await scrape();
    const exposed = parseExposition(text);
    const top = samplesOf(exposed, "pg_meminfo_process_memory_bytes", { memtype: "uss" });
    expect(top).toHaveLength(5);
    const pids = new Set(
      (await client.query<{ pid: number }>("SELECT pid FROM backend_memory")).rows.map((r) => r.pid),
    );
    for (const s of top) {
      expect(pids.has(Number(s.labels.pid))).toBe(true);
      if (s.labels.backend_type !== "postmaster") expect(s.labels.backend_start).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    expect(sumOf(exposed, "pg_meminfo_sample_interval_seconds")).toBe(1);
    expect(sumOf(exposed, "pg_meminfo_sample_fresh")).toBe(1);
    expect(sumOf(exposed, "pg_meminfo_samples_total")).toBeGreaterThanOrEqual(3);
    const last = sumOf(exposed, "pg_meminfo_last_sample_timestamp_seconds");
    expect(Date.now() / 1000 - last).toBeLessThan(3);
    expect(sumOf(exposed, "pg_meminfo_last_sample_duration_seconds")).toBeGreaterThan(0);
    expect(sumOf(exposed, "pg_meminfo_last_sample_duration_seconds")).toBeLessThan(1);
    const version = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, "utf8")).version as string;
    expect(samplesOf(exposed, "pg_meminfo_build_info")[0]?.labels.version).toBe(version);
    // Its own USS: what its smaps_rollup says now, within the drift of a second.
    const rollup = readFileSync(`/proc/${sidecar.pid}/smaps_rollup`, "latin1");
    const kb = [...rollup.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    const uss = sumOf(exposed, "pg_meminfo_sidecar_uss_bytes");
    expect(Math.abs(uss - kb * 1024)).toBeLessThan(0.25 * kb * 1024);
    // The growth metrics are there for every label set, 0 or more.
    expect(samplesOf(exposed, "pg_meminfo_growing_processes").length).toBe(
      samplesOf(exposed, "pg_meminfo_processes").length,
    );
    expect(samplesOf(exposed, "pg_meminfo_top_growth_bytes_per_second")).toHaveLength(1);
  });

  it("serves only GET /metrics on the metrics port: not the socket's routes", async () => {
    for (const path of ["/v1/summary", "/v1/smaps?pid=1", "/v1/history", "/"]) {
      expect((await fetch(`http://${target}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`http://${target}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
  });

  it("answers every query of the dashboard with data", async () => {
    const instances = await prometheus.api<string[]>("label/instance/values", {
      "match[]": "pg_meminfo_build_info",
    });
    expect(instances).toEqual([target]);
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(20);
    const empty: string[] = [];
    for (const { panel, expr } of queries) {
      const promql = substitute(expr, {
        instance: target.replaceAll(".", "\\\\."),
        datasource: "prometheus",
      });
      const result = await prometheus.query(promql);
      if (result.length === 0) empty.push(`${panel}: ${promql}`);
    }
    expect(empty).toEqual([]);
  });

  it("while the cluster is down: the failures show, the figures go, nothing stale looks fresh", {
    timeout: 90_000,
  }, async () => {
    const before = parseExposition(await scrape());
    const failedBefore = sumOf(before, "pg_meminfo_samples_failed_total");
    for (const session of sessions) await session.end().catch(() => {});
    sessions.length = 0;
    await client.end();
    await cluster.stop();
    const stoppedAt = Date.now() / 1000;
    // Three intervals of 1 s, then scrapes of the failing rounds.
    await sleep(5_000);
    const first = parseExposition(await scrape());
    await sleep(2_000);
    const second = parseExposition(await scrape());
    for (const exposed of [first, second]) {
      expect(sumOf(exposed, "pg_meminfo_sample_fresh")).toBe(0);
      for (const name of [
        "pg_meminfo_memory_bytes",
        "pg_meminfo_processes",
        "pg_meminfo_cluster_pss_bytes",
      ]) {
        expect(samplesOf(exposed, name), name).toEqual([]);
      }
    }
    const failed = (e: typeof first) => sumOf(e, "pg_meminfo_samples_failed_total");
    expect(failed(first)).toBeGreaterThan(failedBefore);
    expect(failed(second)).toBeGreaterThan(failed(first));
    expect(sumOf(second, "pg_meminfo_samples_failed_total", { reason: "database" })).toBeGreaterThan(0);
    // The last success stays where it was, before the stop.
    const last = sumOf(second, "pg_meminfo_last_sample_timestamp_seconds");
    expect(last).toBe(sumOf(first, "pg_meminfo_last_sample_timestamp_seconds"));
    expect(last).toBeLessThanOrEqual(stoppedAt);
    // Prometheus: the memory series are stale (no value now), the alert of the README fires.
    await prometheus.waitForScrapes(1);
    expect(await prometheus.query("pg_meminfo_memory_bytes")).toEqual([]);
    expect(await prometheus.query("pg_meminfo_cluster_pss_bytes")).toEqual([]);
    const alert = await prometheus.query(
      "pg_meminfo_sample_fresh == 0 or time() - pg_meminfo_last_sample_timestamp_seconds > 3 * pg_meminfo_sample_interval_seconds",
    );
    expect(alert.length).toBeGreaterThan(0);
    const failures = values(await prometheus.query("increase(pg_meminfo_samples_failed_total[5s])"));
    expect(Math.max(...failures.values())).toBeGreaterThan(0);
    // The cluster back: fresh figures again, by themselves.
    await cluster.start();
    const deadline = Date.now() + 30_000;
    let fresh = 0;
    while (Date.now() < deadline && fresh === 0) {
      await sleep(500);
      const exposed = parseExposition(await scrape());
      fresh = sumOf(exposed, "pg_meminfo_sample_fresh") * sumOf(exposed, "pg_meminfo_processes");
    }
    expect(fresh).toBeGreaterThan(0);
  });
});
