/** Which processes belong to the cluster, and where the cluster's sidecar socket goes by default. */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { InternalError } from "../errors.js";
import type { StartLimits } from "../proc/process-start.js";
import { databaseError } from "./database-error.js";
import type { Queryable } from "./queryable.js";

/** The parent pid from the text of /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold spaces). */
export function parentPidFromStat(stat: string): number | null {
  const close = stat.lastIndexOf(")");
  if (close === -1) return null;
  const ppid = Number(stat.slice(close + 2).split(" ")[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/** Clock ticks are USER_HZ, 100 per second on every Linux architecture PostgreSQL runs on. */
const MS_PER_TICK = 10;
/**
 * A backend records backend_start a little after the kernel started its process; btime has a
 * resolution of one second. A process that started more than this after the listed start is another.
 */
const START_SLACK_MS = 2_000;

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
    return [...(await this.processes()).keys()];
  }

  /**
   * The processes of the cluster, ascending by pid, each with when it started (ms since the epoch):
   * backend_start for what pg_stat_activity lists, pg_postmaster_start_time() for the postmaster.
   * With wanted, only those of the wanted pids that belong to the cluster, without listing the rest.
   */
  async processes(wanted?: ReadonlySet<number>): Promise<Map<number, number>> {
    type Row = { me: number; postmaster_started: number; pids: number[]; starts: (number | null)[] };
    const source =
      wanted === undefined
        ? "pg_catalog.pg_stat_get_activity(NULL) s"
        : "unnest($1::int[]) AS w(pid) CROSS JOIN LATERAL pg_catalog.pg_stat_get_activity(w.pid) s";
    let row: Row | undefined;
    try {
      ({
        rows: [row],
      } = await this.#db.query<Row>(
        "SELECT pg_backend_pid() AS me, " +
          "extract(epoch FROM pg_postmaster_start_time())::float8 * 1000 AS postmaster_started, " +
          "coalesce(array_agg(s.pid ORDER BY s.pid) FILTER (WHERE s.pid IS NOT NULL), '{}') AS pids, " +
          "coalesce(array_agg(extract(epoch FROM s.backend_start)::float8 * 1000 ORDER BY s.pid) " +
          "FILTER (WHERE s.pid IS NOT NULL), '{}') AS starts " +
          `FROM ${source}`,
        wanted === undefined ? [] : [[...wanted]],
      ));
    } catch (err) {
      // The postmaster may have restarted with a new pid.
      this.#postmaster = null;
      throw databaseError(err, "list its backends");
    }
    const started = new Map<number, number>();
    if (row === undefined) return started;
    row.pids.forEach((pid, i) => {
      started.set(pid, row?.starts[i] ?? Number.NaN);
    });
    const postmaster = await this.#postmasterPid(row.me);
    if (wanted === undefined || wanted.has(postmaster)) started.set(postmaster, row.postmaster_started);
    return new Map([...started].sort((a, b) => a[0] - b[0]));
  }

  /**
   * For each listed process, the latest start (clock ticks after boot) a process at its pid may have
   * and still be the one listed; a later one got the pid after it (see process-start.ts).
   */
  async startLimits(started: ReadonlyMap<number, number>): Promise<StartLimits> {
    const boot = await this.#bootTimeMs();
    const limits = new Map<number, number>();
    for (const [pid, ms] of started) {
      if (!Number.isNaN(ms)) limits.set(pid, Math.ceil((ms + START_SLACK_MS - boot) / MS_PER_TICK));
    }
    return limits;
  }

  #bootMs: number | null = null;

  async #bootTimeMs(): Promise<number> {
    if (this.#bootMs === null) {
      const btime = /^btime (\d+)$/m.exec(await readFile(join(this.#procRoot, "stat"), "latin1"))?.[1];
      this.#bootMs = btime === undefined ? 0 : Number(btime) * 1000;
    }
    return this.#bootMs;
  }

  /** The postmaster's pid, found through the sidecar's own backend. */
  async postmasterPid(): Promise<number> {
    if (this.#postmaster !== null) return this.#postmaster;
    let me: number | undefined;
    try {
      ({
        rows: [{ me } = { me: undefined }],
      } = await this.#db.query<{ me: number }>("SELECT pg_backend_pid() AS me"));
    } catch (err) {
      throw databaseError(err, "find its postmaster");
    }
    if (me === undefined) throw new InternalError("could not find the postmaster");
    return this.#postmasterPid(me);
  }

  /**
   * Of the requested pids that are not processes of the cluster, those that are live processes of
   * someone else (pid 1, the sidecar itself, another cluster's backend). A pid that no longer exists,
   * or a child of our postmaster that pg_stat_activity does not list (one that is exiting, the
   * logger), is not foreign: it simply has no rows.
   */
  async foreignProcesses(requested: Iterable<number>, members: ReadonlySet<number>): Promise<number[]> {
    const postmaster = this.#postmaster;
    const foreign: number[] = [];
    for (const pid of requested) {
      if (members.has(pid)) continue;
      let stat: string;
      try {
        stat = await readFile(join(this.#procRoot, String(pid), "stat"), "latin1");
      } catch {
        continue;
      }
      if (postmaster === null || parentPidFromStat(stat) !== postmaster) foreign.push(pid);
    }
    return foreign;
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
