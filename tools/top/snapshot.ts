/**
 * One screenful of facts for top: every process of the cluster with its memory (backend_memory), its
 * growth (memory_growth, where the extension has it), the cluster's totals and how the sidecar answered.
 * A source keeps one connection and makes a new one when the server went away (a restart), so that top
 * goes on; reading never throws, a failure is part of the snapshot.
 */
import type pg from "pg";
import { connect } from "../connection.js";
import { type Extension, findExtension, hasRelation, missingObject, qualified } from "../extension.js";

export interface ProcessRow {
  pid: number;
  backendType: string;
  applicationName: string;
  state: string;
  queryStart: Date | null;
  ussBytes: number;
  pssBytes: number;
  sharedBuffersBytes: number;
  /** Own memory per minute over the growth window; null where there is no history of the process. */
  growthPerMinute: number | null;
  growing: boolean;
}

export interface Problem {
  sqlstate?: string;
  message: string;
}

export interface Snapshot {
  takenAt: Date;
  /** "PostgreSQL 15.4, database postgres" once connected. */
  server: string | null;
  /** The server could not be reached or asked. */
  serverError: Problem | null;
  /** The sidecar answered (backend_memory) in this many ms, or failed. */
  sidecar: { ms: number } | { error: Problem } | null;
  rows: ProcessRow[];
  /** When the rows were read: older than takenAt when the latest read failed and these are the last ones. */
  rowsAt: Date | null;
  cluster: {
    processes: number;
    totalPssBytes: number;
    totalUssBytes: number;
    sharedMemoryBytes: number | null;
    limitBytes: number | null;
    headroomBytes: number | null;
  } | null;
  /** Why growth is n/a, when it is: "history not available: ...". */
  growthNote: string | null;
}

interface Connected {
  db: pg.Client;
  extension: Extension;
  server: string;
  hasGrowth: boolean;
  hasLimits: boolean;
}

/** How long a reading of memory_growth serves. */
const GROWTH_REFRESH_MS = 10_000;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const orNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function problemOf(err: unknown): Problem {
  const e = err as { code?: unknown; message?: unknown };
  const problem: Problem = { message: String(e?.message ?? err) };
  if (typeof e?.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) problem.sqlstate = e.code;
  return problem;
}

export class SnapshotSource {
  readonly #config: pg.ClientConfig;
  #connected: Connected | null = null;
  #last: Snapshot | null = null;
  #growthRead: { at: number; byPid: Map<number, { perMinute: number | null; growing: boolean }> } | null =
    null;

  constructor(config: pg.ClientConfig) {
    this.#config = config;
  }

  async #connect(): Promise<Connected> {
    if (this.#connected) return this.#connected;
    const db = await connect(this.#config);
    try {
      const extension = await findExtension(db);
      if (extension === null) {
        throw Object.assign(
          new Error("pg_meminfo is not created in this database: CREATE EXTENSION pg_meminfo;"),
          {
            code: "42704",
          },
        );
      }
      const { rows } = await db.query<{ version: string; db: string }>(
        "SELECT current_setting('server_version') AS version, current_database() AS db",
      );
      this.#connected = {
        db,
        extension,
        server: `PostgreSQL ${rows[0]?.version}, database ${rows[0]?.db}`,
        hasGrowth: await hasRelation(db, extension, "memory_growth"),
        hasLimits: await hasRelation(db, extension, "memory_limits"),
      };
      return this.#connected;
    } catch (err) {
      await db.end().catch(() => {});
      throw err;
    }
  }

  /** The connection, for reads of one process (top's detail view); null while there is none. */
  get connection(): { db: pg.Client; extension: Extension } | null {
    return this.#connected;
  }

  /** Drops the connection after an error that may have ended it; the next read connects again. */
  async #drop(): Promise<void> {
    const old = this.#connected;
    this.#connected = null;
    this.#growthRead = null;
    await old?.db.end().catch(() => {});
  }

  async read(): Promise<Snapshot> {
    const takenAt = new Date();
    let c: Connected;
    try {
      c = await this.#connect();
    } catch (err) {
      return this.#keep({ takenAt, server: null, serverError: problemOf(err), sidecar: null });
    }
    const started = performance.now();
    let rows: ProcessRow[];
    try {
      rows = await this.#rows(c);
    } catch (err) {
      const problem = problemOf(err);
      // Not the sidecar: the server itself went away or refused (a restart, a terminated session).
      if (isServerProblem(problem)) {
        await this.#drop();
        return this.#keep({ takenAt, server: c.server, serverError: problem, sidecar: null });
      }
      return this.#keep({ takenAt, server: c.server, serverError: null, sidecar: { error: problem } });
    }
    const ms = Math.round(performance.now() - started);
    let growthNote: string | null = null;
    if (!c.hasGrowth) growthNote = `history not available: ${missingObject(c.extension, "memory_growth")}`;
    else {
      try {
        await this.#growth(c, rows);
      } catch (err) {
        growthNote = `history not available: ${problemOf(err).message}`;
      }
    }
    const cluster = await this.#cluster(c, rows).catch(() => null);
    const snapshot: Snapshot = {
      takenAt,
      server: c.server,
      serverError: null,
      sidecar: { ms },
      rows,
      rowsAt: takenAt,
      cluster,
      growthNote,
    };
    this.#last = snapshot;
    return snapshot;
  }

  /** A failed read keeps the last rows it had, marked with their time. */
  #keep(partial: Pick<Snapshot, "takenAt" | "server" | "serverError" | "sidecar">): Snapshot {
    const last = this.#last;
    return {
      ...partial,
      rows: last?.rows ?? [],
      rowsAt: last?.rowsAt ?? null,
      cluster: last?.cluster ?? null,
      growthNote: last?.growthNote ?? null,
    };
  }

  async #rows(c: Connected): Promise<ProcessRow[]> {
    const { rows } = await c.db.query<Record<string, unknown>>(
      `SELECT pid, backend_type, application_name, state, query_start, uss_bytes, pss_bytes, shared_buffers_bytes
         FROM ${qualified(c.extension, "backend_memory")}`,
    );
    return rows.map((r) => ({
      pid: num(r.pid),
      backendType: String(r.backend_type ?? ""),
      applicationName: String(r.application_name ?? ""),
      state: String(r.state ?? ""),
      queryStart: r.query_start instanceof Date ? r.query_start : null,
      ussBytes: num(r.uss_bytes),
      pssBytes: num(r.pss_bytes),
      sharedBuffersBytes: num(r.shared_buffers_bytes),
      growthPerMinute: null,
      growing: false,
    }));
  }

  /**
   * Growth from memory_growth, read again only every GROWTH_REFRESH_MS: it fits a line through ten
   * minutes of samples of every process, which change once a sampling interval (10 s by default).
   */
  async #growth(c: Connected, rows: ProcessRow[]): Promise<void> {
    if (this.#growthRead === null || Date.now() - this.#growthRead.at >= GROWTH_REFRESH_MS) {
      const { rows: growth } = await c.db.query<{
        pid: number;
        bytes_per_minute: unknown;
        growing: boolean | null;
      }>(`SELECT pid, bytes_per_minute, growing FROM ${qualified(c.extension, "memory_growth")}`);
      this.#growthRead = {
        at: Date.now(),
        byPid: new Map(
          growth.map((g) => [
            Number(g.pid),
            { perMinute: orNull(g.bytes_per_minute), growing: g.growing === true },
          ]),
        ),
      };
    }
    for (const row of rows) {
      const g = this.#growthRead.byPid.get(row.pid);
      if (g === undefined) continue;
      row.growthPerMinute = g.perMinute;
      row.growing = g.growing;
    }
  }

  async #cluster(c: Connected, rows: ProcessRow[]): Promise<Snapshot["cluster"]> {
    const limits = c.hasLimits
      ? `(SELECT memory_limit_bytes FROM ${qualified(c.extension, "memory_limits")})`
      : "NULL::bigint";
    const headroom = c.hasLimits
      ? `(SELECT memory_limit_bytes - memory_used_bytes FROM ${qualified(c.extension, "memory_limits")})`
      : "NULL::bigint";
    const { rows: r } = await c.db.query<{ shm: unknown; lim: unknown; head: unknown }>(
      `SELECT pg_size_bytes(current_setting('shared_memory_size')) AS shm, ${limits} AS lim, ${headroom} AS head`,
    );
    return {
      processes: rows.length,
      totalPssBytes: rows.reduce((s, row) => s + row.pssBytes, 0),
      totalUssBytes: rows.reduce((s, row) => s + row.ussBytes, 0),
      sharedMemoryBytes: orNull(r[0]?.shm),
      limitBytes: orNull(r[0]?.lim),
      headroomBytes: orNull(r[0]?.head),
    };
  }

  async close(): Promise<void> {
    await this.#drop();
  }
}

/**
 * Whether an error of a read is the server's: the connection broke (no SQLSTATE: the socket closed or
 * reset) or the server is shutting down or restarting (57P01 to 57P05). Any other error came from the
 * extension and its sidecar, over a connection that still works.
 */
export function isServerProblem(problem: Problem): boolean {
  return problem.sqlstate === undefined || problem.sqlstate.startsWith("57P");
}
