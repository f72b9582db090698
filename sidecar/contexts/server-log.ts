/**
 * Where and how the server logs, learnt from the server before each dump: its version, log_destination,
 * logging_collector and log_line_prefix on the sidecar's connection, and the current file of the chosen
 * format from current_logfiles in the data directory (the file pg_current_logfile() reads, so the
 * sidecar's role needs no privilege for it). Or a file given with --server-log.
 */
import { readFile, readlink } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { databaseError } from "../cluster/database-error.js";
import type { Queryable } from "../cluster/queryable.js";
import { LogUnreadableError } from "../errors.js";
import type { LogDestination } from "./log-records.js";

/** A log file named on the command line (--server-log, --server-log-format). */
export interface ServerLogFile {
  path: string;
  format: LogDestination;
}

export interface ServerLog {
  majorVersion: number;
  destination: LogDestination;
  linePrefix: string;
  /** The sidecar's own role (current_user), for hints. */
  sidecarRole: string;
  /** The file the server writes `destination` to now; null when it writes none. */
  currentPath: () => Promise<string | null>;
  /** Tells two configurations apart: dumps are shared only within one. */
  key: string;
}

/** The formats a dump can be read from, most robust first: csvlog and jsonlog always carry the pid. */
const PREFERRED: readonly LogDestination[] = ["csvlog", "jsonlog", "stderr"];

const SETTINGS =
  "SELECT current_setting('server_version_num')::int AS version, " +
  "current_setting('log_destination') AS destinations, " +
  "current_setting('logging_collector')::bool AS collector, " +
  "current_setting('log_line_prefix') AS prefix, current_user AS me";

type Settings = {
  version: number;
  destinations: string;
  collector: boolean;
  prefix: string;
  me: string;
};

/** The format of log_destination to read, or undefined when it has none the sidecar can read. */
export function chooseDestination(logDestination: string): LogDestination | undefined {
  const listed = new Set(logDestination.split(",").map((d) => d.trim().toLowerCase()));
  return PREFERRED.find((d) => listed.has(d));
}

/**
 * The path current_logfiles gives for `format`, or null: a relative one under `dataDir`, an absolute
 * one under `root` (both as the sidecar reaches them: through the postmaster's /proc entries, which
 * also work from another container that shares its PID namespace).
 */
export function currentLogfile(
  text: string,
  format: LogDestination,
  dataDir: string,
  root = "/",
): string | null {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${format} `)) continue;
    const path = line.slice(format.length + 1);
    return isAbsolute(path) ? join(root, path) : join(dataDir, path);
  }
  return null;
}

export async function serverLog(
  db: Queryable,
  postmasterPid: () => Promise<number>,
  file?: ServerLogFile,
): Promise<ServerLog> {
  let settings: Settings | undefined;
  try {
    ({
      rows: [settings],
    } = await db.query<Settings>(SETTINGS));
  } catch (err) {
    throw databaseError(err, "read its log settings");
  }
  if (settings === undefined) throw databaseError(new Error("no row"), "read its log settings");
  const common = {
    majorVersion: Math.floor(settings.version / 10000),
    linePrefix: settings.prefix,
    sidecarRole: settings.me,
  };
  if (file !== undefined) {
    return {
      ...common,
      destination: file.format,
      currentPath: async () => file.path,
      key: `file\0${file.path}\0${file.format}\0${settings.prefix}`,
    };
  }
  if (!settings.collector) {
    throw new LogUnreadableError("the server does not log to a file the sidecar can find", {
      detail: "logging_collector is off, so the server log is wherever the server's standard error goes.",
      hint:
        "Set logging_collector = on (a restart is needed), or start the sidecar with --server-log naming " +
        "the file the server's standard error goes to.",
    });
  }
  const destination = chooseDestination(settings.destinations);
  if (destination === undefined) {
    throw new LogUnreadableError("the server does not log to a file the sidecar can read", {
      detail: `log_destination is '${settings.destinations}'.`,
      hint: "Add stderr, csvlog or jsonlog to log_destination, or start the sidecar with --server-log.",
    });
  }
  // The postmaster runs in its data directory; current_logfiles there names the files it writes. The
  // files are read through /proc/PID/cwd and /proc/PID/root, so that a sidecar in another container
  // sharing the server's PID namespace (docker-compose.yml) reads the server's files, not its own.
  const postmaster = await postmasterPid();
  const dataDir = await readlink(`/proc/${postmaster}/cwd`).catch((err: unknown) => {
    throw new LogUnreadableError("cannot find the server's data directory", {
      detail: `${(err as Error).message}.`,
      hint: "The sidecar must run on the server's host, as its OS user, in its PID namespace.",
      cause: err,
    });
  });
  const currentPath = async () => {
    const cwd = `/proc/${postmaster}/cwd`;
    const text = await readFile(join(cwd, "current_logfiles"), "utf8").catch(() => null);
    return text === null ? null : currentLogfile(text, destination, cwd, `/proc/${postmaster}/root`);
  };
  return {
    ...common,
    destination,
    currentPath,
    key: `collector\0${dataDir}\0${destination}\0${settings.prefix}`,
  };
}
