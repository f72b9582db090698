/** Which processes belong to the cluster, and where the cluster's sidecar socket goes by default. */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { databaseError } from "./database-error.js";
import { InternalError } from "./errors.js";
import type { Queryable } from "./queryable.js";

/** The parent pid from the text of /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces). */
export function parentPidFromStat(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close === -1) return null;
  const ppid = Number(stat.slice(close + 2).split(" ")[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

export class Cluster {
  readonly #db: Queryable;
  readonly #procRoot: string;
  #postmaster: number | null = null;

  constructor(db: Queryable, options: { procRoot?: string } = {}) {
    this.#db = db;
    this.#procRoot = options.procRoot ?? "/proc";
  }

  /** Pids of pg_stat_activity plus the postmaster, ascending. */
  async backendPids(): Promise<number[]> {
    let rows: { pid: number | null; me: number }[];
    try {
      ({ rows } = await this.#db.query<{ pid: number | null; me: number }>(
        "SELECT pid, pg_backend_pid() AS me FROM pg_stat_activity",
      ));
    } catch (err) {
      // The postmaster may have restarted with a new pid.
      this.#postmaster = null;
      throw databaseError(err, "list its backends");
    }
    const pids = new Set<number>();
    for (const row of rows) if (row.pid !== null) pids.add(row.pid);
    const me = rows[0]?.me;
    if (me !== undefined) pids.add(await this.#postmasterPid(me));
    return [...pids].sort((a, b) => a - b);
  }

  /** The postmaster is the parent of every backend; it does not change while the cluster runs. */
  async #postmasterPid(backend: number): Promise<number> {
    if (this.#postmaster !== null) return this.#postmaster;
    const path = join(this.#procRoot, String(backend), "stat");
    let ppid: number | null;
    try {
      ppid = parentPidFromStat(await readFile(path, "latin1"));
    } catch (err) {
      throw new InternalError("could not find the postmaster", {
        detail: `Reading ${path} failed: ${(err as Error).message}.`,
        hint: "The sidecar must run on the same host as the cluster.",
        cause: err,
      });
    }
    if (ppid === null)
      throw new InternalError("could not find the postmaster", { detail: `${path} has no parent pid.` });
    this.#postmaster = ppid;
    return ppid;
  }
}

/** First entry of a unix_socket_directories value (comma-separated, entries may be double-quoted). */
export function firstSocketDirectory(value: string): string | null {
  const text = value.trimStart();
  let entry: string;
  if (text.startsWith('"')) {
    let out = "";
    let i = 1;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        if (text[i + 1] === '"') {
          out += '"';
          i++;
          continue;
        }
        break;
      }
      out += c;
    }
    entry = out;
  } else {
    entry = (text.split(",", 1)[0] ?? "").trim();
  }
  return entry === "" ? null : entry;
}

/** Where the sidecar of a cluster listens: <first socket directory>/.s.PGMEMINFO.<port>/sidecar.sock. */
export function socketPathFor(socketDirectory: string, port: number | string, dataDirectory: string): string {
  const dir = isAbsolute(socketDirectory) ? socketDirectory : resolve(dataDirectory, socketDirectory);
  return join(dir, `.s.PGMEMINFO.${port}`, "sidecar.sock");
}

/** The default socket path, from the cluster's own settings. */
export async function defaultSocketPath(db: Queryable): Promise<string> {
  let row: { dirs: string; port: string; datadir: string } | undefined;
  try {
    const { rows } = await db.query<{ dirs: string; port: string; datadir: string }>(
      "SELECT current_setting('unix_socket_directories') AS dirs, current_setting('port') AS port, " +
        "current_setting('data_directory') AS datadir",
    );
    row = rows[0];
  } catch (err) {
    throw databaseError(err, "read its socket settings");
  }
  const dir = row === undefined ? null : firstSocketDirectory(row.dirs);
  if (row === undefined || dir === null) {
    throw new InternalError("the cluster has no unix socket directory", {
      detail: "unix_socket_directories is empty, so there is no default place for the sidecar's socket.",
      hint: "Give the socket path with --socket, and the same path in the foreign server's socket option.",
    });
  }
  if (dir.startsWith("@")) {
    throw new InternalError("the cluster's first socket directory is an abstract socket namespace", {
      detail: `unix_socket_directories starts with "${dir}", which is not a directory.`,
      hint: "Give the socket path with --socket, and the same path in the foreign server's socket option.",
    });
  }
  return socketPathFor(dir, row.port, row.datadir);
}
