import { existsSync } from "node:fs";
import { appendFile, chmod, chown, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { asClusterUser, CLUSTER_OS_USER, isRoot, run, runChecked } from "./run-as.js";

export interface ClusterOptions {
  /** max_connections of the cluster (default 100). */
  maxConnections?: number;
  /** Extra postgresql.conf settings, written verbatim as `name = value`. */
  settings?: Record<string, string>;
  /** Prefix of the temporary directory name. */
  prefix?: string;
}

export interface ConnectionConfig {
  host: string;
  port: number;
  user: string;
  database: string;
}

/** Directory of the PostgreSQL server binaries: `$PG_CONFIG --bindir`, else the Debian location of 15. */
export async function findBinDir(): Promise<string> {
  const pgConfig = process.env.PG_CONFIG ?? "pg_config";
  const result = await run(pgConfig, ["--bindir"], { timeoutMs: 10_000 });
  const fromConfig = result.code === 0 ? result.stdout.trim() : "";
  if (fromConfig && existsSync(join(fromConfig, "initdb"))) return fromConfig;
  const fallback = "/usr/lib/postgresql/15/bin";
  if (existsSync(join(fallback, "initdb"))) return fallback;
  throw new Error(
    "PostgreSQL server binaries not found (no initdb beside `pg_config --bindir` nor in " +
      `${fallback}); run scripts/setup.sh or install postgresql-15`,
  );
}

/** A TCP port nobody listens on right now; also names the cluster's socket files. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("could not pick a free port"));
      });
    });
  });
}

async function osUserIds(user: string): Promise<{ uid: number; gid: number }> {
  const uid = await runChecked("id", ["-u", user]);
  const gid = await runChecked("id", ["-g", user]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * A throwaway PostgreSQL cluster in a temporary directory, listening only on a Unix socket.
 * Layout of `baseDir`: `data/` (PGDATA), `sock/` (unix_socket_directories), `startup.log` (what the
 * postmaster writes before its logging collector runs). The collector writes `data/log/postgres.log`
 * (stderr format, `%p` in every line prefix, never rotated by size or age), the file that
 * pg_current_logfile() names and the sidecar reads memory-context dumps from; `settings` may add
 * csvlog or jsonlog (`postgres.csv`, `postgres.json` beside it).
 */
export class ThrowawayCluster {
  readonly dataDir: string;
  readonly socketDir: string;
  /** The collector's stderr file. */
  readonly logFile: string;
  /** The postmaster's own stderr until the collector starts (pg_ctl -l). */
  readonly startupLogFile: string;
  readonly user = "postgres";
  private running = false;

  private constructor(
    readonly baseDir: string,
    readonly binDir: string,
    readonly port: number,
  ) {
    this.dataDir = join(baseDir, "data");
    this.socketDir = join(baseDir, "sock");
    this.logFile = join(this.dataDir, "log", "postgres.log");
    this.startupLogFile = join(baseDir, "startup.log");
  }

  /** Create the directory and run initdb; the cluster is not started. */
  static async create(options: ClusterOptions = {}): Promise<ThrowawayCluster> {
    const binDir = await findBinDir();
    const port = await freePort();
    const baseDir = await mkdtemp(join(tmpdir(), options.prefix ?? "pg-meminfo-"));
    const cluster = new ThrowawayCluster(baseDir, binDir, port);
    try {
      await cluster.init(options);
    } catch (error) {
      await rm(baseDir, { recursive: true, force: true });
      throw error;
    }
    return cluster;
  }

  private async init(options: ClusterOptions): Promise<void> {
    // The base and socket directories are entered by every OS user (0755), as /var/run/postgresql
    // is; the data directory stays private (initdb makes it 0700).
    await mkdir(this.socketDir);
    await chmod(this.baseDir, 0o755);
    await chmod(this.socketDir, 0o755);
    if (isRoot()) {
      const { uid, gid } = await osUserIds(CLUSTER_OS_USER);
      await chown(this.baseDir, uid, gid);
      await chown(this.socketDir, uid, gid);
    }
    await this.runAsOwner(join(this.binDir, "initdb"), [
      "-D",
      this.dataDir,
      "-A",
      "trust",
      "-U",
      this.user,
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    const settings: Record<string, string> = {
      port: String(this.port),
      listen_addresses: "''",
      unix_socket_directories: `'${this.socketDir}'`,
      max_connections: String(options.maxConnections ?? 100),
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      log_line_prefix: "'%m [%p] %q%u@%d '",
      // One log file the sidecar can read dumps from (pg_current_logfile()), relative to the data
      // directory as in a packaged cluster; mode 0600 of the postgres OS user, who runs the sidecar.
      logging_collector: "on",
      log_destination: "'stderr'",
      log_directory: "'log'",
      log_filename: "'postgres.log'",
      log_rotation_age: "0",
      log_rotation_size: "0",
      ...options.settings,
    };
    const lines = Object.entries(settings).map(([name, value]) => `${name} = ${value}`);
    await appendFile(
      join(this.dataDir, "postgresql.conf"),
      `\n# throwaway test cluster\n${lines.join("\n")}\n`,
    );
  }

  private runAsOwner(command: string, args: string[], timeoutMs = 120_000) {
    const [cmd, fullArgs] = asClusterUser(command, args);
    return runChecked(cmd, fullArgs, { cwd: this.baseDir, timeoutMs, env: { ...process.env, LC_ALL: "C" } });
  }

  private pgCtl(args: string[], timeoutMs: number) {
    const [cmd, fullArgs] = asClusterUser(join(this.binDir, "pg_ctl"), ["-D", this.dataDir, ...args]);
    return run(cmd, fullArgs, { cwd: this.baseDir, timeoutMs });
  }

  async start(): Promise<void> {
    const result = await this.pgCtl(["-l", this.startupLogFile, "-w", "-t", "60", "start"], 90_000);
    if (result.code !== 0) {
      throw new Error(
        `pg_ctl start failed (${result.code}):\n${result.stdout}${result.stderr}\n${await this.log()}`,
      );
    }
    this.running = true;
  }

  /** Stop with -m fast, then -m immediate, then SIGKILL of the postmaster: never hangs. */
  async stop(): Promise<void> {
    if (!existsSync(join(this.dataDir, "postmaster.pid"))) {
      this.running = false;
      return;
    }
    for (const mode of ["fast", "immediate"]) {
      const result = await this.pgCtl(["-m", mode, "-w", "-t", "20", "stop"], 30_000);
      if (result.code === 0 || !existsSync(join(this.dataDir, "postmaster.pid"))) {
        this.running = false;
        return;
      }
    }
    const pid = await this.postmasterPid().catch(() => undefined);
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    this.running = false;
  }

  /** Stop the cluster and remove every file of it. */
  async destroy(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await rm(this.baseDir, { recursive: true, force: true });
    }
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Pid of the postmaster, from the first line of postmaster.pid. */
  async postmasterPid(): Promise<number> {
    const text = await readFile(join(this.dataDir, "postmaster.pid"), "utf8");
    const pid = Number.parseInt(text.split("\n")[0] ?? "", 10);
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad postmaster.pid: ${text}`);
    return pid;
  }

  /** The cluster as the foreign data wrapper names it to the sidecar: "<system identifier>/<postmaster pid>". */
  async name(): Promise<string> {
    const [row] = await this.sql("SELECT system_identifier::text AS id FROM pg_control_system()");
    return `${row?.id}/${await this.postmasterPid()}`;
  }

  connectionConfig(database = "postgres", user = this.user): ConnectionConfig {
    return { host: this.socketDir, port: this.port, user, database };
  }

  /** libpq connection string, as given to the sidecar's --database. */
  connectionString(database = "postgres", user = this.user): string {
    return `host=${this.socketDir} port=${this.port} user=${user} dbname=${database}`;
  }

  /** psql command line that reaches this cluster. */
  psqlCommand(database = "postgres"): string {
    return `psql -h ${this.socketDir} -p ${this.port} -U ${this.user} -d ${database}`;
  }

  async connect(database = "postgres", user = this.user, applicationName?: string): Promise<pg.Client> {
    const client = new pg.Client({
      ...this.connectionConfig(database, user),
      ...(applicationName ? { application_name: applicationName } : {}),
    });
    await client.connect();
    return client;
  }

  /** Run one statement on a fresh connection and return its rows. */
  async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params: unknown[] = [],
    database = "postgres",
  ): Promise<R[]> {
    const client = await this.connect(database);
    try {
      const result = await client.query<R>(text, params);
      return result.rows;
    } finally {
      await client.end();
    }
  }

  /** The server log so far: the startup log, then the collector's file (empty when there is none). */
  async log(): Promise<string> {
    const read = (path: string) => readFile(path, "utf8").catch(() => "");
    return (await read(this.startupLogFile)) + (await read(this.logFile));
  }
}
