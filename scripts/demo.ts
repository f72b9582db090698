// A throwaway cluster with pg_meminfo and its sidecar, a few sessions doing different work, and
// smap_summary joined with pg_stat_activity. Runs until Ctrl-C (or exits at once with --once). The
// sidecar serves Prometheus metrics; with --prometheus a throwaway Prometheus scrapes them, and the
// demo shows what it has next to backend_memory.
import Table from "cli-table3";
import type pg from "pg";
import { type GrowingSession, growSteadily, holdSort } from "../harness/busy-sessions.js";
import { PrometheusServer } from "../harness/prometheus-server.js";
import { SidecarProcess } from "../harness/sidecar-process.js";
import { freePort, ThrowawayCluster } from "../harness/throwaway-cluster.js";

/** The demo's sample interval, seconds: short, so that Prometheus has figures soon. */
const SAMPLE_INTERVAL = 2;

// smap_summary joined with pg_stat_activity, with each process's own memory (uss) from
// backend_memory_by_kind.
const REPORT = `
  SELECT s.pid,
         coalesce(a.backend_type, 'postmaster') AS backend_type,
         coalesce(a.usename::text, '') AS usename,
         coalesce(a.application_name, '') AS application_name,
         coalesce(a.state, '') AS state,
         pg_size_pretty(s.rss * 1024) AS rss,
         pg_size_pretty(s.pss * 1024) AS pss,
         pg_size_pretty(k.uss) AS own
    FROM smap_summary s
    LEFT JOIN pg_stat_activity a USING (pid)
    LEFT JOIN (SELECT pid, sum(uss_bytes) AS uss FROM backend_memory_by_kind GROUP BY pid) k USING (pid)
   ORDER BY s.pss DESC`;

interface ReportRow {
  pid: number;
  backend_type: string;
  usename: string;
  application_name: string;
  state: string;
  rss: string;
  pss: string;
  own: string | null;
}

async function startSessions(cluster: ThrowawayCluster): Promise<pg.Client[]> {
  const sessions: pg.Client[] = [];

  const setup = await cluster.connect("postgres", "postgres", "demo-setup");
  await setup.query(
    "CREATE TABLE demo_scan AS SELECT g AS id, md5(g::text) || repeat('x', 150) AS payload " +
      "FROM generate_series(1, 200000) g",
  );
  await setup.end();

  // Holds a sort of a million rows in work_mem, inside an open transaction, behind a cursor.
  sessions.push(await holdSort(cluster, "demo-big-sort", 1_000_000));

  // Reads a ~45 MB table into shared_buffers (smaller than a quarter of them, so no ring buffer).
  const scan = await cluster.connect("postgres", "postgres", "demo-table-scan");
  sessions.push(scan);
  await scan.query("SELECT count(*), sum(length(payload)) FROM demo_scan");

  // Does nothing.
  const idle = await cluster.connect("postgres", "postgres", "demo-idle");
  sessions.push(idle);
  await idle.query("SELECT 1");

  // Grows steadily: five more prepared statements (and their cached plans) a second, as a leak would.
  growing = await growSteadily(cluster, "demo-growing", 5);

  return sessions;
}

let growing: GrowingSession | undefined;

async function printReport(cluster: ThrowawayCluster): Promise<void> {
  const client = await cluster.connect("postgres", "postgres", "demo-report");
  try {
    const result = await client.query<ReportRow>(REPORT);
    const table = new Table({
      head: ["pid", "backend_type", "usename", "application_name", "state", "rss", "pss", "own (uss)"],
      colAligns: ["right", "left", "left", "left", "left", "right", "right", "right"],
      // Colours only on a terminal.
      style: { compact: true, ...(process.stdout.isTTY ? {} : { head: [], border: [] }) },
    });
    for (const row of result.rows) {
      table.push([
        row.pid,
        row.backend_type,
        row.usename,
        row.application_name,
        row.state,
        row.rss,
        row.pss,
        row.own ?? "",
      ]);
    }
    console.log(table.toString());
  } finally {
    await client.end();
  }
}

const DEMO_APPS = "application_name LIKE 'demo-%' AND application_name <> 'demo-report'";

/** Prometheus's figures by application_name next to backend_memory's, taken at the same time. */
async function printPrometheus(cluster: ThrowawayCluster, prometheus: PrometheusServer): Promise<void> {
  await prometheus.waitForScrapes(2, 60_000);
  const client = await cluster.connect("postgres", "postgres", "demo-report");
  try {
    const { rows } = await client.query<{ application_name: string; pss: string; anon: string }>(
      `SELECT application_name, sum(pss_bytes)::text AS pss, sum(anon_bytes)::text AS anon
         FROM backend_memory WHERE ${DEMO_APPS} GROUP BY 1 ORDER BY 1`,
    );
    const byApp = async (memtype: string) =>
      new Map(
        (
          await prometheus.query(
            `sum by (application_name) (pg_meminfo_memory_bytes{memtype="${memtype}", application_name=~"demo-.*"})`,
          )
        ).map((s) => [s.metric.application_name, Number(s.value[1])]),
      );
    const [pss, anon] = [await byApp("pss"), await byApp("anon")];
    const mb = (bytes: number | undefined) =>
      bytes === undefined ? "" : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
    const table = new Table({
      head: [
        "application_name",
        "pss: Prometheus",
        "pss: backend_memory",
        "anon: Prometheus",
        "anon: backend_memory",
      ],
      colAligns: ["left", "right", "right", "right", "right"],
      style: { compact: true, ...(process.stdout.isTTY ? {} : { head: [], border: [] }) },
    });
    for (const row of rows) {
      table.push([
        row.application_name,
        mb(pss.get(row.application_name)),
        mb(Number(row.pss)),
        mb(anon.get(row.application_name)),
        mb(Number(row.anon)),
      ]);
    }
    console.log(table.toString());
  } finally {
    await client.end();
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
}

async function main(): Promise<void> {
  const once = process.argv.includes("--once");
  const withPrometheus = process.argv.includes("--prometheus");
  let cluster: ThrowawayCluster | undefined;
  let sidecar: SidecarProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  let sessions: pg.Client[] = [];
  try {
    console.log("Starting a throwaway PostgreSQL cluster...");
    cluster = await ThrowawayCluster.create({
      prefix: "pg-meminfo-demo-",
      settings: { shared_buffers: "256MB" },
    });
    await cluster.start();
    const available = await cluster.sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_meminfo'");
    if (available.length === 0)
      throw new Error("extension pg_meminfo is not installed: run `make -C fdw install`");
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    console.log("Starting the sidecar...");
    const metrics = `127.0.0.1:${await freePort()}`;
    sidecar = await SidecarProcess.start(cluster, {
      extraArgs: ["--sample-interval", String(SAMPLE_INTERVAL), "--metrics-listen", metrics],
    });
    console.log(
      "Opening sessions: a big sort in an open transaction, a table scan, an idle one, a growing one...",
    );
    sessions = await startSessions(cluster);

    console.log("\nMemory of every process of the cluster (smap_summary joined with pg_stat_activity):\n");
    await printReport(cluster);
    console.log("\nConnect with psql (the sessions above stay open):\n");
    console.log(`  ${cluster.psqlCommand()}\n`);
    console.log("and try for example:\n");
    console.log(
      "  SELECT pid, application_name, pg_size_pretty(uss_bytes) FROM backend_memory ORDER BY uss_bytes DESC;",
    );
    console.log("  SELECT kind, pg_size_pretty(rss_bytes) FROM backend_memory_by_kind WHERE pid = <pid>;");
    console.log("  SELECT pg_size_pretty(total_pss_bytes) FROM cluster_memory;");
    console.log("  SELECT sys_path, sum(rss) FROM get_all_smaps GROUP BY 1 ORDER BY 2 DESC LIMIT 10;");
    console.log("\nwho the OOM killer would take first, and how close the cluster is to its limit:\n");
    console.log("  SELECT * FROM oom_candidates LIMIT 5;");
    console.log(
      "  SELECT pg_size_pretty(memory_limit_bytes), pg_size_pretty(headroom_bytes), oom_kills FROM cluster_memory;",
    );
    const [sort] = await cluster.sql<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'demo-big-sort'",
    );
    console.log("\nand what inside the big-sort session holds its memory:\n");
    console.log(
      `  SELECT name, pg_size_pretty(total_bytes) FROM memory_contexts WHERE pid = ${sort?.pid} ORDER BY total_bytes DESC LIMIT 5;\n`,
    );
    console.log(`Prometheus metrics of the sidecar (a round every ${SAMPLE_INTERVAL} s):\n`);
    console.log(`  curl -s http://${metrics}/metrics | grep -v '^#'\n`);
    if (withPrometheus) {
      prometheus = await PrometheusServer.start({
        targets: [metrics],
        scrapeIntervalSeconds: SAMPLE_INTERVAL,
      });
      console.log(`A throwaway Prometheus scrapes them: ${prometheus.url}/graph, for example`);
      console.log('  sum by (application_name) (pg_meminfo_memory_bytes{memtype="uss"})\n');
      console.log("What it has after two scrapes, next to backend_memory at the same time:\n");
      await printPrometheus(cluster, prometheus);
      console.log(
        "\nThe Grafana dashboard for them: dashboards/pg_meminfo.json (README: Prometheus and Grafana).\n",
      );
    }
    const conninfo = cluster.connectionString();
    console.log("The operator's tools (demo-growing grows steadily: give the history a few minutes):\n");
    console.log(`  bin/pg-meminfo doctor "${conninfo}"`);
    console.log(`  bin/pg-meminfo top "${conninfo}"`);
    console.log(`  bin/pg-meminfo report "${conninfo}" --html report.html\n`);
    if (!once) {
      console.log("Press Ctrl-C to stop and remove the cluster.");
      await waitForSignal();
    }
  } finally {
    console.log("\nCleaning up...");
    await growing?.stop();
    for (const session of sessions) await session.end().catch(() => undefined);
    await prometheus?.stop();
    await sidecar?.stop();
    await cluster?.destroy();
    console.log("Done.");
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
