/** Which processes belong to the cluster, with when each started. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InternalError } from "../errors.js";
import type { StartLimits } from "../proc/process-stat.js";
import { databaseError } from "./database-error.js";
import type { Queryable } from "./queryable.js";

/** Clock ticks are USER_HZ, 100 per second on every Linux architecture PostgreSQL runs on. */
const MS_PER_TICK = 10;
/**
 * A backend records backend_start a little after the kernel started its process; btime has a
 * resolution of one second. A process that started more than this after the listed start is another.
 */
const START_SLACK_MS = 2_000;

/** The parent pid of each pid (null when it has gone), read within the sidecar's bound on /proc reads. */
export type ParentsReader = (pids: number[]) => Promise<(number | null)[]>;

export class Cluster {
  readonly #db: Queryable;
  readonly #procRoot: string;
  readonly #parents: ParentsReader;
  #postmaster: number | null = null;

  constructor(db: Queryable, parents: ParentsReader, options: { procRoot?: string | undefined } = {}) {
    this.#db = db;
    this.#parents = parents;
    this.#procRoot = options.procRoot ?? "/proc";
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
    const others = [...requested].filter((pid) => !members.has(pid));
    if (others.length === 0) return [];
    const parents = await this.#parents(others);
    return others.filter((_, i) => {
      const ppid = parents[i];
      return ppid !== null && (postmaster === null || ppid !== postmaster);
    });
  }

  /** The postmaster is the parent of every backend; it does not change while the cluster runs. */
  async #postmasterPid(backend: number): Promise<number> {
    if (this.#postmaster !== null) return this.#postmaster;
    const [ppid = null] = await this.#parents([backend]);
    if (ppid === null) {
      throw new InternalError("could not find the postmaster", {
        detail: `The parent of the sidecar's own backend (pid ${backend}) could not be read from ${join(this.#procRoot, String(backend), "stat")}.`,
        hint: "The sidecar must run on the same host as the cluster, in the same PID namespace.",
      });
    }
    this.#postmaster = ppid;
    return ppid;
  }
}
