/**
 * A throwaway Prometheus (Debian's prometheus package): its own config and storage in a temporary
 * directory, listening on loopback only, scraping the given targets; queried through its HTTP API.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "./throwaway-cluster.js";

export const PROMETHEUS = process.env.PROMETHEUS ?? "/usr/bin/prometheus";

export interface PrometheusOptions {
  /** HOST:PORT of each metrics endpoint (GET /metrics). */
  targets: string[];
  /** Scrape (and evaluation) interval in seconds (default 1). */
  scrapeIntervalSeconds?: number;
  /** The job label (default pg_meminfo). */
  job?: string;
  /** How long to wait for Prometheus to be ready (default 30 s). */
  startTimeoutMs?: number;
}

/** One series of an instant query's answer. */
export interface VectorSample {
  metric: Record<string, string>;
  /** [unix seconds, value as text] */
  value: [number, string];
}

interface ApiAnswer<T> {
  status: "success" | "error";
  data?: T;
  errorType?: string;
  error?: string;
}

/** The scrape configuration Prometheus is given, as YAML. */
export function scrapeConfig(targets: readonly string[], intervalSeconds: number, job: string): string {
  return [
    "global:",
    `  scrape_interval: ${intervalSeconds}s`,
    `  scrape_timeout: ${intervalSeconds}s`,
    `  evaluation_interval: ${intervalSeconds}s`,
    "scrape_configs:",
    `  - job_name: ${JSON.stringify(job)}`,
    "    static_configs:",
    `      - targets: [${targets.map((t) => JSON.stringify(t)).join(", ")}]`,
    "",
  ].join("\n");
}

export class PrometheusServer {
  private output = "";
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
    readonly job: string,
  ) {
    const append = (chunk: Buffer) => {
      this.output += chunk.toString("utf8");
      if (this.output.length > 1_000_000) this.output = this.output.slice(-500_000);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    this.exit = new Promise((resolve) => {
      child.on("exit", () => {
        this.exited = true;
        resolve();
      });
      child.on("error", (err) => {
        this.output += `\n[spawn error] ${err.message}`;
        this.exited = true;
        resolve();
      });
    });
  }

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const dir = await mkdtemp(join(tmpdir(), "pg-meminfo-prometheus-"));
    const job = options.job ?? "pg_meminfo";
    const config = join(dir, "prometheus.yml");
    await writeFile(config, scrapeConfig(options.targets, options.scrapeIntervalSeconds ?? 1, job));
    const port = await freePort();
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
      ],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    const server = new PrometheusServer(child, dir, port, job);
    try {
      await server.waitReady(options.startTimeoutMs ?? 30_000);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What Prometheus printed (warnings and errors). */
  get log(): string {
    return this.output;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`prometheus exited before it was ready:\n${this.output}`);
      try {
        if ((await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1_000) })).ok) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`prometheus was not ready within ${timeoutMs} ms:\n${this.output}`);
  }

  /** GET /api/v1/<path>; throws with Prometheus's error when the answer is not a success. */
  async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const query = new URLSearchParams(params).toString();
    const res = await fetch(`${this.url}/api/v1/${path}${query ? `?${query}` : ""}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const answer = (await res.json()) as ApiAnswer<T>;
    if (answer.status !== "success" || answer.data === undefined) {
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${answer.errorType}: ${answer.error}`);
    }
    return answer.data;
  }

  /** An instant query, evaluated now (or at `time`, unix seconds); its series. */
  async query(expr: string, time?: number): Promise<VectorSample[]> {
    const data = await this.api<{ resultType: string; result: VectorSample[] | [number, string] }>("query", {
      query: expr,
      ...(time === undefined ? {} : { time: String(time) }),
    });
    if (data.resultType === "scalar") return [{ metric: {}, value: data.result as [number, string] }];
    if (data.resultType !== "vector") throw new Error(`${expr}: a ${data.resultType}, not a vector`);
    return data.result as VectorSample[];
  }

  /** Waits until every target has been scraped successfully at least `scrapes` times. */
  async waitForScrapes(scrapes: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const counts = await this.query(`count_over_time(up{job="${this.job}"}[10m])`).catch(() => []);
      const ups = await this.query(`up{job="${this.job}"}`).catch(() => []);
      last = JSON.stringify({ counts, ups });
      const good = ups.length > 0 && ups.every((s) => s.value[1] === "1");
      if (good && counts.length > 0 && counts.every((s) => Number(s.value[1]) >= scrapes)) return;
      await sleep(200);
    }
    throw new Error(`fewer than ${scrapes} good scrapes within ${timeoutMs} ms: ${last}\n${this.output}`);
  }

  /** SIGTERM, SIGKILL after `graceMs`; removes its directory. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.exited) {
      this.child.kill("SIGTERM");
      const done = await Promise.race([this.exit.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        this.child.kill("SIGKILL");
        await Promise.race([this.exit, sleep(2_000)]);
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
