import { execFileSync } from "node:child_process";
import { appendFileSync, chmodSync, chownSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import pg from "pg";

const BIN = process.env.PG_BINDIR ?? "/usr/lib/postgresql/15/bin";

function asOwner(command: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  const [cmd, full] = root ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
  execFileSync(cmd, full, { stdio: "pipe", env: { ...process.env, LC_ALL: "C" } });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** A throwaway cluster logging through the collector to stderr, csvlog and jsonlog files at once. */
export class LiveCluster {
  private constructor(
    readonly baseDir: string,
    readonly dataDir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<LiveCluster> {
    const baseDir = mkdtempSync(join(tmpdir(), "contexts-live-"));
    chmodSync(baseDir, 0o755);
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync("id", ["-u", "postgres"]).toString());
      const gid = Number(execFileSync("id", ["-g", "postgres"]).toString());
      chownSync(baseDir, uid, gid);
    }
    const dataDir = join(baseDir, "data");
    const cluster = new LiveCluster(baseDir, dataDir, await freePort());
    try {
      asOwner(join(BIN, "initdb"), [
        "-D",
        dataDir,
        "-A",
        "trust",
        "-U",
        "postgres",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C",
      ]);
      appendFileSync(
        join(dataDir, "postgresql.conf"),
        [
          `port = ${cluster.port}`,
          "listen_addresses = ''",
          `unix_socket_directories = '${baseDir}'`,
          "fsync = off",
          "logging_collector = on",
          "log_destination = 'stderr,csvlog,jsonlog'",
          "log_line_prefix = '%m [%p] '",
          "log_directory = 'log'",
          "",
        ].join("\n"),
      );
      asOwner(join(BIN, "pg_ctl"), [
        "-D",
        dataDir,
        "-l",
        join(baseDir, "startup.log"),
        "-w",
        "-t",
        "60",
        "start",
      ]);
    } catch (error) {
      rmSync(baseDir, { recursive: true, force: true });
      throw error;
    }
    return cluster;
  }

  async connect(applicationName = "contexts-live"): Promise<pg.Client> {
    const client = new pg.Client({
      host: this.baseDir,
      port: this.port,
      user: "postgres",
      database: "postgres",
      application_name: applicationName,
    });
    await client.connect();
    return client;
  }

  /** pg_current_logfile(format) as an absolute path. */
  async currentLogfile(client: pg.Client, format: string): Promise<string | null> {
    const { rows } = await client.query<{ path: string | null }>("SELECT pg_current_logfile($1) AS path", [
      format,
    ]);
    const path = rows[0]?.path ?? null;
    return path === null || isAbsolute(path) ? path : join(this.dataDir, path);
  }

  async destroy(): Promise<void> {
    try {
      asOwner(join(BIN, "pg_ctl"), ["-D", this.dataDir, "-m", "immediate", "-w", "-t", "30", "stop"]);
    } finally {
      rmSync(this.baseDir, { recursive: true, force: true });
    }
  }
}
