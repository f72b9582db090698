/**
 * Which processes belong to the cluster, with when each started, and which cluster it is. The
 * postmaster is found again whenever the cluster restarts (its start time changes), so the sidecar
 * follows restarts, crash restarts included, without being restarted itself.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { InternalError } from "../errors.js";
import type { Membership } from "../proc/process-stat.js";
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
  /** The postmaster last found, and the start time of the cluster it was found for. */
  #postmaster: { pid: number; startedMs: number } | null = null;

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
        `SELECT pg_backend_pid() AS me, ${STARTED} AS postmaster_started, ` +
          "coalesce(array_agg(s.pid ORDER BY s.pid) FILTER (WHERE s.pid IS NOT NULL), '{}') AS pids, " +
          "coalesce(array_agg(extract(epoch FROM s.backend_start)::float8 * 1000 ORDER BY s.pid) " +
          "FILTER (WHERE s.pid IS NOT NULL), '{}') AS starts " +
          `FROM ${source}`,
        wanted === undefined ? [] : [[...wanted]],
      ));
    } catch (err) {
      throw databaseError(err, "list its backends");
    }
    const started = new Map<number, number>();
    if (row === undefined) return started;
    row.pids.forEach((pid, i) => {
      started.set(pid, row?.starts[i] ?? Number.NaN);
    });
    const postmaster = await this.#postmasterOf(row.me, row.postmaster_started);
    if (wanted === undefined || wanted.has(postmaster)) started.set(postmaster, row.postmaster_started);
    return new Map([...started].sort((a, b) => a[0] - b[0]));
  }

  /**
   * What a process at each listed pid must be to be read as the listed one (process-stat.ts): the
   * postmaster or its child, of the OS user the postmaster runs as, and started no later than the
   * listing says.
   */
  async membership(started: ReadonlyMap<number, number>): Promise<Membership> {
    const boot = await this.#bootTimeMs();
    const latestStart = new Map<number, number>();
    for (const [pid, ms] of started) {
      if (!Number.isNaN(ms)) latestStart.set(pid, Math.ceil((ms + START_SLACK_MS - boot) / MS_PER_TICK));
    }
    const postmaster = this.#postmaster?.pid ?? (await this.identity()).postmaster;
    const uid = (await stat(join(this.#procRoot, String(postmaster))).catch(() => null))?.uid ?? -1;
    return { postmaster, uid, latestStart, procRoot: this.#procRoot };
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
    return (await this.identity()).postmaster;
  }

  /**
   * Which cluster this is, as the foreign data wrapper names it in every request
   * ("<system identifier>/<postmaster pid>", docs/protocol.md): asked of the cluster each time.
   */
  async identity(): Promise<{ postmaster: number; name: string }> {
    type Row = { me: number; started: number; system_identifier: string };
    let row: Row | undefined;
    try {
      ({
        rows: [row],
      } = await this.#db.query<Row>(
        `SELECT pg_backend_pid() AS me, ${STARTED} AS started, ` +
          "(SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS system_identifier",
      ));
    } catch (err) {
      throw databaseError(err, "find its postmaster");
    }
    if (row === undefined) throw new InternalError("could not find the postmaster");
    const postmaster = await this.#postmasterOf(row.me, row.started);
    return { postmaster, name: `${row.system_identifier}/${postmaster}` };
  }

  /**
   * The postmaster is the parent of every backend. It is the same while the cluster runs (a crash
   * restart keeps it); a cluster started again has another start time, and its postmaster is looked
   * up again through the backend that told us.
   */
  async #postmasterOf(backend: number, startedMs: number): Promise<number> {
    const known = this.#postmaster;
    if (known !== null && known.startedMs === startedMs) return known.pid;
    const [ppid = null] = await this.#parents([backend]);
    if (ppid === null) {
      throw new InternalError("could not find the postmaster", {
        detail: `The parent of the sidecar's own backend (pid ${backend}) could not be read from ${join(this.#procRoot, String(backend), "stat")}.`,
        hint: "The sidecar must run on the same host as the cluster, in the same PID namespace.",
      });
    }
    this.#postmaster = { pid: ppid, startedMs };
    return ppid;
  }
}

/** The cluster's start time in ms since the epoch. */
const STARTED = "extract(epoch FROM pg_catalog.pg_postmaster_start_time())::float8 * 1000";
