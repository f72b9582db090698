/**
 * The cost of a Prometheus scrape: GET /metrics timed, the median of many, against a sidecar sampling
 * the benchmark's cluster every second, and against a listener in this process serving a round of
 * fixtures with the most label sets a round of N processes can have (every process its own).
 */
import { rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { privateDir } from "../harness/private-dir.js";
import { busyRound, FakeSampleSource, growthOf } from "../harness/sample-fixtures.js";
import { SidecarProcess } from "../harness/sidecar-process.js";
import { freePort, type ThrowawayCluster } from "../harness/throwaway-cluster.js";
import { Exposition } from "../sidecar/metrics/exposition.js";
import { DEFAULT_MAX_LABEL_VALUES } from "../sidecar/metrics/labels.js";
import { MetricsListener } from "../sidecar/metrics/metrics-listener.js";
import { median } from "./measure.js";

export interface ScrapeResult {
  /** Processes in the round the listener serves. */
  processes: number;
  runs: number;
  /** Median milliseconds of GET /metrics, request to last byte, on a kept-alive connection. */
  medianMs: number;
  maxMs: number;
  /** Size of the exposition, gzipped as sent, and its sample lines. */
  bytes: number;
  gzipBytes: number;
  series: number;
  /** Median milliseconds of setting the metrics from a round and formatting them, once per round (fixtures only). */
  renderMs?: number | undefined;
}

/** One GET as Prometheus sends it (gzip accepted), on `agent`'s kept-alive connection: status and body bytes. */
function get(url: string, agent: Agent, encoding: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { "Accept-Encoding": encoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Times `runs` scrapes of `url` after a few untimed ones: request to last byte, gzip as Prometheus asks. */
export async function timeScrapes(
  url: string,
  runs: number,
): Promise<Omit<ScrapeResult, "processes" | "renderMs">> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const text = (await get(url, agent, "identity")).body.toString("utf8");
    for (let i = 0; i < 5; i++) await get(url, agent, "gzip");
    const times: number[] = [];
    let gzipBytes = 0;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      const { status, body } = await get(url, agent, "gzip");
      times.push(performance.now() - start);
      if (status !== 200) throw new Error(`GET ${url}: ${status} ${body.toString()}`);
      gzipBytes = body.length;
    }
    return {
      runs,
      medianMs: median(times),
      maxMs: Math.max(...times),
      bytes: Buffer.byteLength(text),
      gzipBytes,
      series: text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).length,
    };
  } finally {
    agent.destroy();
  }
}

/**
 * Scrapes of a listener in this process over a round of `processes` processes, with --metrics-top-pids
 * `topPids`: the exposition's own cost, apart from the sampler's.
 */
export async function scrapeCost(processes: number, runs: number, topPids = 10): Promise<ScrapeResult> {
  const source = new FakeSampleSource(10_000);
  const round = busyRound(processes, Date.now());
  source.succeed(
    { ...round, sharedMemoryBytes: 150 * 1024 * 1024 },
    round.processes.map((p, i) => growthOf(p, i * 1024, i % 10 === 0)),
  );
  const renders: number[] = [];
  const exposition = new Exposition({ maxLabelValues: DEFAULT_MAX_LABEL_VALUES, topPids, version: "bench" });
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    exposition.update({ health: source.health(), growth: source.growth(0), ownUss: null, now: Date.now() });
    await exposition.text();
    renders.push(performance.now() - start);
  }
  const listener = await MetricsListener.start({ address: { host: "127.0.0.1", port: 0 }, source, topPids });
  try {
    return { processes, renderMs: median(renders), ...(await timeScrapes(listener.url, runs)) };
  } finally {
    await listener.close();
  }
}

/** The processes of the round a metrics URL serves, once it serves one (sum of pg_meminfo_processes). */
async function servedProcesses(url: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await (await fetch(url)).text();
    const counts = [...text.matchAll(/^pg_meminfo_processes\{[^\n]*\} ([0-9]+)$/gm)];
    if (counts.length > 0) return counts.reduce((sum, m) => sum + Number(m[1]), 0);
    await sleep(200);
  }
  throw new Error(`${url} served no round within ${timeoutMs} ms`);
}

/**
 * Scrapes of a sidecar of its own (beside the benchmark's, so that its sampling every second does not
 * weigh on the other figures) with --metrics-listen and --metrics-top-pids 10.
 */
export async function sidecarScrapeCost(cluster: ThrowawayCluster, runs: number): Promise<ScrapeResult> {
  const dir = await privateDir("pg-meminfo-bench-metrics-");
  const port = await freePort();
  const sidecar = await SidecarProcess.start(cluster, {
    socket: join(dir, "metrics", "sidecar.sock"),
    extraArgs: [
      "--sample-interval",
      "1",
      "--metrics-listen",
      `127.0.0.1:${port}`,
      "--metrics-top-pids",
      "10",
    ],
  });
  try {
    const url = `http://127.0.0.1:${port}/metrics`;
    // Two rounds: the first one's figures are served, and a second has started.
    await servedProcesses(url, 30_000);
    await sleep(1_000);
    const processes = await servedProcesses(url, 30_000);
    return { processes, ...(await timeScrapes(url, runs)) };
  } finally {
    await sidecar.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
