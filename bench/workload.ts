/** The benchmark's cluster: a throwaway PostgreSQL with N idle or lightly busy client backends. */
import type pg from "pg";
import { runChecked } from "../harness/run-as.js";
import { REPO_ROOT } from "../harness/sidecar-process.js";
import { ThrowawayCluster } from "../harness/throwaway-cluster.js";

/** Rows of the table some backends scan, so that they map part of shared_buffers (about 64 MB). */
const FILL_ROWS = 200_000;
/** Every BUSY_EVERY-th backend scans the table once. */
const BUSY_EVERY = 3;
/** Connections opened at once while growing. */
const CONNECT_BATCH = 25;

export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Builds and installs the extension and the original's stand-in into the local PostgreSQL. */
export async function installExtensions(): Promise<void> {
  const vars = process.env.PG_CONFIG ? [`PG_CONFIG=${process.env.PG_CONFIG}`] : [];
  for (const dir of ["fdw", "bench/original"]) {
    progress(`make -C ${dir} install`);
    await runChecked("make", ["-s", "-C", dir, ...vars, "install"], { cwd: REPO_ROOT, timeoutMs: 300_000 });
  }
}

export class Workload {
  readonly #clients: pg.Client[] = [];

  private constructor(readonly cluster: ThrowawayCluster) {}

  /** A started cluster with both extensions and the table busy backends scan. */
  static async start(maxBackends: number): Promise<Workload> {
    const cluster = await ThrowawayCluster.create({
      prefix: "pg-meminfo-bench-",
      // The benchmark's own connections and the sidecar's pool come on top of the backends.
      maxConnections: maxBackends + 30,
      settings: { shared_buffers: "1GB", max_worker_processes: "8" },
    });
    try {
      await cluster.start();
      await cluster.sql("CREATE EXTENSION pg_meminfo");
      await cluster.sql("CREATE SCHEMA original");
      await cluster.sql("CREATE EXTENSION pg_meminfo_original SCHEMA original");
      await cluster.sql(
        `CREATE TABLE bench_fill AS SELECT g AS id, repeat('x', 300) AS pad FROM generate_series(1, ${FILL_ROWS}) g`,
      );
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return new Workload(cluster);
  }

  get backends(): number {
    return this.#clients.length;
  }

  /** Opens client backends until there are n; every third one scans the table and stays idle. */
  async grow(n: number): Promise<void> {
    while (this.#clients.length < n) {
      const batch = Math.min(CONNECT_BATCH, n - this.#clients.length);
      const opened = await Promise.all(
        Array.from({ length: batch }, () => this.cluster.connect("postgres", undefined, "bench backend")),
      );
      await Promise.all(
        opened.map((client, i) =>
          (this.#clients.length + i) % BUSY_EVERY === 0
            ? client.query("SELECT sum(length(pad)) FROM bench_fill")
            : client.query("SELECT 1"),
        ),
      );
      this.#clients.push(...opened);
    }
  }

  /** Pids the sidecar reads: every pg_stat_activity pid and the postmaster (not this short-lived one). */
  async processPids(): Promise<number[]> {
    const rows = await this.cluster.sql<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL AND pid <> pg_backend_pid()",
    );
    const pids = new Set(rows.map((r) => r.pid));
    pids.add(await this.cluster.postmasterPid());
    return [...pids].sort((a, b) => a - b);
  }

  /** Pid of one idle client backend, from the middle of the list. */
  samplePid(): Promise<number> {
    const client = this.#clients[Math.floor(this.#clients.length / 2)];
    if (client === undefined) throw new Error("no backends");
    return client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid").then((r) => r.rows[0]?.pid ?? 0);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#clients.map((c) => c.end()));
    this.#clients.length = 0;
    await this.cluster.destroy();
  }
}
