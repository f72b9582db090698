/**
 * Dumps of backends' memory contexts for the /v1/contexts route: learns the server's log settings,
 * keeps one ContextDumper per log configuration (so concurrent requests for a pid share its dump), and
 * triggers each dump with SELECT pg_log_backend_memory_contexts($1) on the sidecar's own connection.
 */
import { quoteIdent } from "../cluster/authorize.js";
import { databaseError } from "../cluster/database-error.js";
import type { Queryable } from "../cluster/queryable.js";
import { ForbiddenError } from "../errors.js";
import type { ContextDump } from "./dump-parser.js";
import { ContextDumper } from "./dumper.js";
import { LogFollower } from "./log-follower.js";
import { type ServerLog, type ServerLogFile, serverLog } from "./server-log.js";

/**
 * How long a dump may take by default, in ms. The wrapper's server option timeout (10 s by default)
 * bounds the silence on its socket, and the sidecar says nothing until every dump of a request is in:
 * 5 s leaves room for the role checks and the rows under that default.
 */
export const DEFAULT_DUMP_TIMEOUT_MS = 5_000;

/** Log configurations remembered at once (they change only when the server's settings do). */
const MAX_DUMPERS = 8;

export interface ContextDumpsOptions {
  db: Queryable;
  postmasterPid: () => Promise<number>;
  /** A log file given on the command line, instead of the server's current_logfiles. */
  serverLog?: ServerLogFile | undefined;
  timeoutMs?: number | undefined;
}

export class ContextDumps {
  readonly #options: ContextDumpsOptions;
  readonly #dumpers = new Map<string, ContextDumper>();

  constructor(options: ContextDumpsOptions) {
    this.#options = options;
  }

  get timeoutMs(): number {
    return this.#options.timeoutMs ?? DEFAULT_DUMP_TIMEOUT_MS;
  }

  /** The dumps of the pids, in their order; the first failure rejects (naming its pid). */
  async dump(pids: readonly number[]): Promise<ContextDump[]> {
    const { db, postmasterPid } = this.#options;
    const log = await serverLog(db, postmasterPid, this.#options.serverLog);
    return Promise.all(this.#dumper(log).dumpMany(pids, { timeoutMs: this.timeoutMs }));
  }

  #dumper(log: ServerLog): ContextDumper {
    const key = `${log.key}\0${log.majorVersion}`;
    let dumper = this.#dumpers.get(key);
    if (dumper === undefined) {
      // Throws LOG_FORMAT for a stderr log_line_prefix without %p.
      dumper = new ContextDumper({
        trigger: (pid) => this.#trigger(pid, log.sidecarRole),
        startFollower: () => LogFollower.start({ currentPath: log.currentPath }),
        destination: log.destination,
        linePrefix: log.linePrefix,
        majorVersion: log.majorVersion,
      });
      if (this.#dumpers.size >= MAX_DUMPERS) this.#dumpers.clear();
      this.#dumpers.set(key, dumper);
    }
    return dumper;
  }

  async #trigger(pid: number, sidecarRole: string): Promise<boolean> {
    try {
      const { rows } = await this.#options.db.query<{ ok: boolean }>(
        "SELECT pg_catalog.pg_log_backend_memory_contexts($1) AS ok",
        [pid],
      );
      return rows[0]?.ok === true;
    } catch (err) {
      if ((err as { code?: unknown }).code === "42501") {
        throw new ForbiddenError(
          "permission denied: the sidecar's role cannot make backends log their memory contexts",
          {
            detail: `The sidecar connects as role ${quoteIdent(sidecarRole)}, which has no EXECUTE on pg_log_backend_memory_contexts(integer).`,
            hint: `GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${quoteIdent(sidecarRole)};`,
            cause: err,
          },
        );
      }
      throw databaseError(err, `ask PID ${pid} to log its memory contexts`);
    }
  }
}
