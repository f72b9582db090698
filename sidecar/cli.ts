/** The pg-meminfo command line. */
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { addToolCommands } from "../tools/commands.js";
import { passwordIn, poolConfig } from "./cluster/conninfo.js";
import { DEFAULT_DUMP_TIMEOUT_MS } from "./contexts/context-dumps.js";
import type { LogDestination } from "./contexts/log-records.js";
import { SidecarError } from "./errors.js";
import { DEFAULT_HISTORY_BYTES, MIN_HISTORY_BYTES, SAMPLE_BYTES } from "./history/ring.js";
import { DEFAULT_SAMPLE_INTERVAL_MS } from "./history/sampler.js";
import {
  addMetricsOptions,
  METRICS_HELP,
  type MetricsFlagError,
  type MetricsFlags,
  type MetricsSettings,
  metricsSettings,
} from "./metrics/metrics-flags.js";
import { SocketDirError } from "./security/socket-dir.js";
import { closeOnSignals, startServer } from "./server.js";

interface SidecarFlags extends MetricsFlags {
  database?: string;
  socket?: string;
  logLevel: string;
  readThreads?: number;
  serverLog?: string;
  serverLogFormat?: LogDestination;
  dumpTimeout?: number;
  sampleInterval?: number;
  historyBytes?: number;
}

const SIDECAR_HELP = `
The sidecar reads /proc/PID/smaps of the cluster's processes for the pg_meminfo foreign data wrapper.
It must run as the operating system user and group that own the cluster (usually postgres), without
capabilities: it refuses to start as root, as another user, or with capabilities.

Socket: by default <first unix_socket_directories entry>/.s.PGMEMINFO.<port>/sidecar.sock, read from
the cluster it connects to. The .s.PGMEMINFO.<port> directory is created with mode 0700 and the socket
with mode 0600, so only the cluster's OS user can reach it. Beside it, <socket>.secret (mode 0600)
holds a secret made at every start; the wrapper signs each request with it. With --socket, give the
same path in the foreign server's socket option.

Database: a libpq connection string ("host=/var/run/postgresql port=5432 dbname=postgres" or a
postgresql:// URI). Without --database, the PGHOST, PGPORT, PGUSER and PGDATABASE environment
variables apply. The role needs no special privileges beyond reading pg_stat_activity and pg_roles;
reading data_directory needs a superuser or pg_read_all_settings.

Memory contexts (the memory_contexts table): the sidecar asks a backend to write its memory contexts to
the server log with pg_log_backend_memory_contexts(), on its own connection, so its role needs
  GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO <the sidecar's role>;
(superusers have it). It then reads the dump from the file the server logs to now: with
logging_collector = on, the csvlog, jsonlog or stderr file named in current_logfiles in the data
directory (for stderr, log_line_prefix must contain %p). Without the collector, give the file the
server's standard error goes to with --server-log. A dump that is not complete within --dump-timeout
fails; keep the foreign server's timeout option (10 s by default) above it.

History (the memory_history table and the memory_growth view): every --sample-interval seconds the
sidecar reads /proc/PID/smaps_rollup of every process of the cluster, through the same bound as queries
(--read-threads), and keeps the figures with pg_stat_activity's labels in a ring of at most
--history-bytes (${SAMPLE_BYTES} bytes a sample), dropping the oldest samples first. The default, ${DEFAULT_HISTORY_BYTES / 1024 / 1024}MB,
holds an hour of 500 processes sampled every ${DEFAULT_SAMPLE_INTERVAL_MS / 1000} s. With --sample-interval 0
nothing is sampled (no /proc read at all) and memory_history is empty. The history lives in the
sidecar's memory and starts empty at every start. For the labels of other roles' sessions
(backend_type, backend_start), the sidecar's role needs pg_read_all_stats or superuser.
${METRICS_HELP}

Examples:
  pg-meminfo sidecar --database "host=/var/run/postgresql port=5432 dbname=postgres"
  PGHOST=/tmp PGPORT=5499 pg-meminfo sidecar --log-level debug
  pg-meminfo sidecar --sample-interval 10 --metrics-listen 9718`;

export function program(): Command {
  const cli = new Command("pg-meminfo").description("per-backend memory diagnostics for PostgreSQL");
  const sidecar = cli
    .command("sidecar")
    .description("serve /proc memory rows to the pg_meminfo foreign data wrapper on a Unix socket")
    .option(
      "--database <conninfo>",
      "connection to the cluster (default: PGHOST, PGPORT, PGUSER, PGDATABASE)",
    )
    .option("--socket <path>", "socket file path (default: derived from the cluster's settings, see below)")
    .option(
      "--read-threads <n>",
      "worker threads reading /proc (default: the available cores, the fastest); 0: the main thread " +
        "reads, one file at a time, about 8 MB less memory per thread and a slower get_all_smaps",
      readThreads,
    )
    .option(
      "--server-log <path>",
      "read memory-context dumps from this file (default: the file the server's logging collector writes now)",
    )
    .addOption(
      new Option(
        "--server-log-format <format>",
        "format of --server-log (default: csvlog for .csv, jsonlog for .json, else stderr)",
      ).choices(["stderr", "csvlog", "jsonlog"]),
    )
    .option(
      "--dump-timeout <seconds>",
      `how long a memory-context dump may take (default: ${DEFAULT_DUMP_TIMEOUT_MS / 1000}); keep the foreign server's timeout above it`,
      dumpTimeout,
    )
    .option(
      "--sample-interval <seconds>",
      `seconds between two samples of every process's memory, fractions allowed (default: ${DEFAULT_SAMPLE_INTERVAL_MS / 1000}); 0: no sampling`,
      sampleInterval,
    )
    .option(
      "--history-bytes <size>",
      `the most memory the history of samples takes: bytes, or with a unit (kB, MB, GB), at least 1MB (default: ${DEFAULT_HISTORY_BYTES / 1024 / 1024}MB)`,
      historyBytes,
    );
  addMetricsOptions(sidecar)
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
        .default("info"),
    )
    .addHelpText("after", SIDECAR_HELP)
    .action(runSidecar);
  addToolCommands(cli);
  return cli;
}

async function runSidecar(flags: SidecarFlags): Promise<void> {
  // First: whoever started it, the password is already on display.
  if (passwordIn(flags.database)) {
    fail(
      "--database must not hold a password: every local user can read the command line (ps)",
      "Leave it out of --database and set PGPASSWORD in the sidecar's environment (systemd: EnvironmentFile=), " +
        "or put it in the ~/.pgpass of the sidecar's OS user (or the file PGPASSFILE names).",
    );
    return;
  }
  if (process.getuid?.() === 0) {
    fail(
      "the sidecar must not run as root",
      "Run it as the operating system user that owns the cluster, e.g. runuser -u postgres -- pg-meminfo sidecar.",
    );
    return;
  }
  let pool: ReturnType<typeof poolConfig>;
  try {
    pool = poolConfig(flags.database);
  } catch (err) {
    fail(`invalid --database: ${(err as Error).message}`);
    return;
  }
  let metrics: MetricsSettings | undefined;
  try {
    metrics = metricsSettings(flags, flags.sampleInterval ?? DEFAULT_SAMPLE_INTERVAL_MS);
  } catch (err) {
    fail((err as Error).message, (err as MetricsFlagError).hint);
    return;
  }
  try {
    const server = await startServer({
      pool,
      socket: flags.socket,
      logLevel: flags.logLevel,
      readThreads: flags.readThreads,
      serverLog:
        flags.serverLog === undefined
          ? undefined
          : { path: resolve(flags.serverLog), format: flags.serverLogFormat ?? formatOf(flags.serverLog) },
      dumpTimeoutMs: flags.dumpTimeout,
      sampleIntervalMs: flags.sampleInterval,
      historyBytes: flags.historyBytes,
      metrics,
    });
    closeOnSignals(server);
  } catch (err) {
    if (err instanceof SocketDirError) fail(err.message, err.hint);
    else if (err instanceof SidecarError) fail(err.message, [err.detail, err.hint].filter(Boolean).join(" "));
    else fail((err as Error).message);
  }
}

function readThreads(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new InvalidArgumentError("an integer from 0 to 64");
  return n;
}

/** The log format a file name suggests: csvlog and jsonlog files end in .csv and .json. */
function formatOf(path: string): LogDestination {
  if (path.endsWith(".csv")) return "csvlog";
  return path.endsWith(".json") ? "jsonlog" : "stderr";
}

/** --dump-timeout in seconds (fractions allowed), as ms. */
function dumpTimeout(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600)
    throw new InvalidArgumentError("a number of seconds greater than 0 and at most 3600");
  return Math.ceil(seconds * 1000);
}

/** --sample-interval in seconds (fractions allowed; 0 turns sampling off), as ms. */
function sampleInterval(value: string): number {
  const seconds = /^[0-9]+(\.[0-9]+)?$/.test(value) ? Number(value) : Number.NaN;
  if (seconds === 0) return 0;
  if (!(seconds >= 0.1 && seconds <= 86400))
    throw new InvalidArgumentError("0 (off) or a number of seconds from 0.1 to 86400");
  return Math.round(seconds * 1000);
}

const UNITS: Record<string, number> = { "": 1, B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };
const MAX_HISTORY_BYTES = 64 * 1024 ** 3;

/** --history-bytes: bytes, or a number with a unit of PostgreSQL's (kB, MB, GB; 1024 each). */
function historyBytes(value: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*(B|kB|MB|GB)?$/.exec(value);
  const bytes = match ? Math.floor(Number(match[1]) * (UNITS[match[2] ?? ""] as number)) : Number.NaN;
  if (!(bytes >= MIN_HISTORY_BYTES && bytes <= MAX_HISTORY_BYTES))
    throw new InvalidArgumentError(
      `a size from ${MIN_HISTORY_BYTES / 1024 / 1024}MB to 64GB: bytes, or with a unit (kB, MB, GB), such as 64MB`,
    );
  return bytes;
}

function fail(message: string, hint?: string): void {
  process.stderr.write(`pg-meminfo: ${message}\n${hint ? `${hint}\n` : ""}`);
  process.exitCode = 1;
}

await program().parseAsync(process.argv);
