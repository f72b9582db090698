/**
 * The doctor's checks, in the order a setup is built: the server, the extension, the role, the sidecar,
 * the kernel, memory-context dumps and the server log, history sampling. Each is a query over the
 * connection the tools use (nothing else is reached); a check whose ground is missing is skipped.
 */
import type pg from "pg";
import { quoteIdent } from "../../sidecar/cluster/authorize.js";
import { firstSocketDirectory, socketPathFor } from "../../sidecar/cluster/socket-path.js";
import { connect } from "../connection.js";
import { type Extension, findExtension, hasRelation, missingObject, qualified } from "../extension.js";
import { type Check, errorOf } from "./check.js";
import { judgeLogSettings, type LogSettings } from "./log-settings.js";
import { classifySidecarError, type SidecarSetup } from "./sidecar-errors.js";

/** Sampling is on when memory_history has a sample this recent, in seconds. */
const RECENT_HISTORY_SECONDS = 600;

interface Server {
  version: string;
  versionNum: number;
  database: string;
  role: string;
  socketDir: string | null;
  port: string;
  dataDir: string | null;
}

/** What later checks learn from earlier ones. */
interface Findings {
  server?: Server;
  extension?: Extension | null;
  mayRead?: boolean;
  mayDump?: boolean;
  sidecarAnswers?: boolean;
}

type Step = (db: pg.Client, found: Findings) => Promise<Check>;

export async function diagnose(config: pg.ClientConfig): Promise<Check[]> {
  let db: pg.Client;
  try {
    db = await connect(config);
  } catch (err) {
    return [
      unreachable(err),
      ...["extension", "role", "sidecar", "kernel", "contexts", "server-log", "history"].map((id) =>
        skip(id, "needs a connection to the server"),
      ),
    ];
  }
  const found: Findings = {};
  const checks: Check[] = [];
  try {
    for (const step of [server, extension, role, sidecar, kernel, contextsPrivilege, serverLog, history]) {
      checks.push(await step(db, found));
    }
  } finally {
    await db.end().catch(() => {});
  }
  return checks;
}

function skip(id: string, why: string): Check {
  return { id, status: "skip", summary: `not checked: ${why}` };
}

function unreachable(err: unknown): Check {
  const error = errorOf(err);
  const code = (err as { code?: string }).code ?? "";
  let fix =
    "Give the connection on the command line, e.g. pg-meminfo doctor 'host=/var/run/postgresql port=5432 " +
    "dbname=postgres user=postgres', or set PGHOST, PGPORT, PGDATABASE and PGUSER.";
  if (code === "28P01" || code === "28000")
    fix = "Check the role and its password (PGPASSWORD or ~/.pgpass) and pg_hba.conf on the server.";
  else if (code === "3D000")
    fix = "Name a database that exists: dbname=... in the connection string, or PGDATABASE.";
  else if (code === "ECONNREFUSED" || code === "ENOENT")
    fix = `No server listens there: start it (pg_ctlcluster 15 main start, systemctl start postgresql) or ${fix[0]?.toLowerCase()}${fix.slice(1)}`;
  return { id: "server", status: "fail", summary: `cannot connect: ${error.message}`, fix, error };
}

const server: Step = async (db, found) => {
  const { rows } = await db.query<{
    version: string;
    num: number;
    db: string;
    role: string;
    dirs: string | null;
    port: string;
    datadir: string | null;
  }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num')::int AS num, " +
      "current_database() AS db, current_user AS role, current_setting('port') AS port, " +
      // Both need pg_read_all_settings (superusers have it); without, the doctor does without them.
      "CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') THEN current_setting('unix_socket_directories') END AS dirs, " +
      "CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') THEN current_setting('data_directory') END AS datadir",
  );
  const row = rows[0];
  if (row === undefined) throw new Error("the server returned no settings");
  found.server = {
    version: row.version,
    versionNum: row.num,
    database: row.db,
    role: row.role,
    socketDir: row.dirs === null ? null : firstSocketDirectory(row.dirs),
    port: row.port,
    dataDir: row.datadir,
  };
  const summary = `PostgreSQL ${row.version}, database ${row.db}, role ${row.role}`;
  if (row.num < 150000) {
    return {
      id: "server",
      status: "fail",
      summary: `${summary}: pg_meminfo needs PostgreSQL 15 or later`,
      fix: "Upgrade the server to PostgreSQL 15 or later (pg_upgrade).",
    };
  }
  return { id: "server", status: "ok", summary };
};

const extension: Step = async (db, found) => {
  const ext = await findExtension(db);
  found.extension = ext;
  if (ext === null) {
    const { rows } = await db.query<{ default_version: string }>(
      "SELECT default_version FROM pg_available_extensions WHERE name = 'pg_meminfo'",
    );
    const available = rows[0]?.default_version;
    if (available === undefined) {
      return {
        id: "extension",
        status: "fail",
        summary: "pg_meminfo is not installed on the server",
        fix:
          "On the server's host, as root: make -C fdw install (PG_CONFIG=<that server's pg_config>), " +
          "then CREATE EXTENSION pg_meminfo;",
      };
    }
    return {
      id: "extension",
      status: "fail",
      summary: `pg_meminfo ${available} is installed on the server but not created in database ${found.server?.database}`,
      fix: "CREATE EXTENSION pg_meminfo;",
    };
  }
  const where = `pg_meminfo ${ext.version} in schema ${ext.schema}`;
  if (ext.defaultVersion !== null && ext.defaultVersion !== ext.version) {
    return {
      id: "extension",
      status: "warn",
      summary: `${where}; ${ext.defaultVersion} is available`,
      fix: "ALTER EXTENSION pg_meminfo UPDATE;",
    };
  }
  return { id: "extension", status: "ok", summary: `${where} (the newest available)` };
};

const role: Step = async (db, found) => {
  const { rows } = await db.query<{ role: string; superuser: boolean; usage: boolean; member: boolean }>(
    "SELECT r.rolname AS role, r.rolsuper AS superuser, pg_has_role(r.oid, 'pg_read_all_stats', 'USAGE') AS usage, " +
      "pg_has_role(r.oid, 'pg_read_all_stats', 'MEMBER') AS member FROM pg_roles r WHERE r.rolname = current_user",
  );
  const row = rows[0];
  const name = quoteIdent(row?.role ?? found.server?.role ?? "");
  found.mayRead = row?.superuser === true || row?.usage === true;
  if (row?.superuser) return { id: "role", status: "ok", summary: `${name} is a superuser` };
  if (row?.usage)
    return { id: "role", status: "ok", summary: `${name} has the privileges of pg_read_all_stats` };
  if (row?.member) {
    return {
      id: "role",
      status: "fail",
      summary: `${name} is a member of pg_read_all_stats but does not inherit its privileges (NOINHERIT)`,
      fix:
        `ALTER ROLE ${name} INHERIT; -- or SET ROLE pg_read_all_stats in the session ` +
        `(on PostgreSQL 16 and later: GRANT pg_read_all_stats TO ${name} WITH INHERIT TRUE;)`,
    };
  }
  return {
    id: "role",
    status: "fail",
    summary: `${name} may not read memory figures: it is not a superuser and has not the privileges of pg_read_all_stats`,
    fix: `GRANT pg_read_all_stats TO ${name};`,
  };
};

async function sidecarSetup(db: pg.Client, found: Findings): Promise<SidecarSetup> {
  const { rows } = await db.query<{ options: string[] | null }>(
    "SELECT srvoptions AS options FROM pg_foreign_server WHERE srvname = 'pg_meminfo'",
  );
  const option =
    (rows[0]?.options ?? []).find((o) => o.startsWith("socket="))?.slice("socket=".length) ?? null;
  const s = found.server;
  const dir = s?.socketDir ?? null;
  const defaultSocket =
    s === undefined || dir === null || dir.startsWith("@") || (!dir.startsWith("/") && s.dataDir === null)
      ? null
      : socketPathFor(dir, s.port, s.dataDir ?? "/");
  const database = [dir?.startsWith("/") ? `host=${dir}` : "", `port=${s?.port}`, `dbname=${s?.database}`]
    .filter(Boolean)
    .join(" ");
  let postmasterPid: number | null = null;
  if (found.extension) {
    postmasterPid = await db
      .query<{ pid: number }>(`SELECT ${qualified(found.extension, "pg_meminfo_postmaster_pid")}() AS pid`)
      .then((r) => r.rows[0]?.pid ?? null)
      .catch(() => null);
  }
  return {
    socket: option ?? defaultSocket,
    socketOption: option,
    defaultSocket,
    startCommand: `sudo -u postgres pg-meminfo sidecar --database "${database}"`,
    postmasterPid,
  };
}

const sidecar: Step = async (db, found) => {
  if (!found.extension) return skip("sidecar", "needs the extension");
  if (!found.mayRead) return skip("sidecar", "needs a role that may read (see role)");
  const setup = await sidecarSetup(db, found);
  const started = performance.now();
  try {
    const { rows } = await db.query<{ kinds: string }>(
      `SELECT count(*) AS kinds FROM ${qualified(found.extension, "backend_memory_by_kind")} WHERE pid = pg_backend_pid()`,
    );
    const ms = Math.round(performance.now() - started);
    if (Number(rows[0]?.kinds ?? 0) === 0) {
      return {
        id: "sidecar",
        status: "fail",
        summary: `the sidecar at ${setup.socket ?? "the default socket"} answered but has no memory rows for this session's backend`,
        fix:
          "The sidecar cannot see this cluster's processes: run it on the cluster's host, in the cluster's " +
          `PID namespace (containers: pid: "service:<db service>"), as the OS user that runs PostgreSQL: ${setup.startCommand}`,
      };
    }
    found.sidecarAnswers = true;
    return {
      id: "sidecar",
      status: "ok",
      summary: `answers at ${setup.socket ?? "the default socket"} (in ${ms} ms)`,
    };
  } catch (err) {
    const error = errorOf(err);
    return { id: "sidecar", ...classifySidecarError(error, setup), error };
  }
};

const kernel: Step = async (db, found) => {
  if (!found.extension || !found.sidecarAnswers) return skip("kernel", "needs the sidecar");
  try {
    const { rows } = await db.query<{ n: string; dirty: string }>(
      `SELECT count(*) AS n, count(pss_dirty) AS dirty FROM ${qualified(found.extension, "smap_summary")} WHERE pid = pg_backend_pid()`,
    );
    return { id: "kernel", ...judgeKernel(Number(rows[0]?.n ?? 0), Number(rows[0]?.dirty ?? 0)) };
  } catch (err) {
    const error = errorOf(err);
    return {
      id: "kernel",
      status: "fail",
      summary: `smap_summary failed: ${error.message}`,
      fix: error.hint,
      error,
    };
  }
};

/** The kernel's part, from smap_summary's rows for this backend: rows at all (smaps_rollup), and Pss_Dirty. */
export function judgeKernel(rows: number, withPssDirty: number): Pick<Check, "status" | "summary" | "fix"> {
  if (rows === 0) {
    return {
      status: "fail",
      summary: "the kernel has no /proc/PID/smaps_rollup: smap_summary is empty (backend_memory still works)",
      fix: "Run the cluster on Linux 4.14 or later.",
    };
  }
  if (withPssDirty === 0) {
    return {
      status: "warn",
      summary: "the kernel does not report Pss_Dirty: the pss_dirty columns are NULL",
      fix: "Run the cluster on Linux 6.0 or later for pss_dirty; nothing else needs it.",
    };
  }
  return { status: "ok", summary: "smaps_rollup with Pss_Dirty" };
}

const contextsPrivilege: Step = async (db, found) => {
  const { rows } = await db.query<{ allowed: boolean }>(
    "SELECT has_function_privilege('pg_catalog.pg_log_backend_memory_contexts(integer)', 'EXECUTE') AS allowed",
  );
  found.mayDump = rows[0]?.allowed === true;
  const name = quoteIdent(found.server?.role ?? "");
  if (found.mayDump) return { id: "contexts", status: "ok", summary: `${name} may dump memory contexts` };
  return {
    id: "contexts",
    status: "warn",
    summary: `${name} may not dump memory contexts: memory_contexts and backend_memory_contexts_top are refused`,
    fix: `GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${name};`,
  };
};

const serverLog: Step = async (db, found) => {
  const { rows } = await db.query<LogSettings>(
    "SELECT current_setting('logging_collector')::bool AS collector, " +
      "current_setting('log_destination') AS destinations, current_setting('log_line_prefix') AS prefix",
  );
  const settings = rows[0];
  if (settings === undefined) throw new Error("the server returned no log settings");
  const judged = judgeLogSettings(settings);
  const ext = found.extension;
  const canTry =
    ext && found.sidecarAnswers && found.mayDump && (await hasRelation(db, ext, "memory_contexts"));
  if (!canTry || !ext) {
    const why = !ext
      ? "needs the extension"
      : !found.sidecarAnswers
        ? "the sidecar does not answer"
        : !found.mayDump
          ? "the role may not dump memory contexts"
          : missingObject(ext, "memory_contexts");
    return { id: "server-log", ...judged, summary: `${judged.summary} (no dump tried: ${why})` };
  }
  try {
    const result = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${qualified(ext, "memory_contexts")} WHERE pid = pg_backend_pid()`,
    );
    return {
      id: "server-log",
      status: "ok",
      summary: `memory contexts read back from the server log (${result.rows[0]?.n} contexts of this session)`,
    };
  } catch (err) {
    const error = errorOf(err);
    const fix =
      judged.status === "ok" ? (error.hint ?? "The sidecar's log says what went wrong.") : judged.fix;
    return {
      id: "server-log",
      status: "warn",
      summary: `memory_contexts fails: ${error.message}${judged.status === "ok" ? "" : `; ${judged.summary}`}`,
      fix,
      error,
    };
  }
};

const history: Step = async (db, found) => {
  const ext = found.extension;
  if (!ext) return skip("history", "needs the extension");
  if (!(await hasRelation(db, ext, "memory_history"))) {
    return {
      id: "history",
      status: "warn",
      summary: `history not available: ${missingObject(ext, "memory_history")}`,
      fix:
        ext.defaultVersion !== null && ext.defaultVersion !== ext.version
          ? "ALTER EXTENSION pg_meminfo UPDATE;"
          : "Install a pg_meminfo that has memory_history, then ALTER EXTENSION pg_meminfo UPDATE;",
    };
  }
  if (!found.mayRead) return skip("history", "needs a role that may read (see role)");
  if (!found.sidecarAnswers) return skip("history", "needs the sidecar");
  try {
    // Only the recent samples: the condition on sampled_at goes to the sidecar, which reads no more.
    const { rows } = await db.query<{ n: string; age: number | null }>(
      `SELECT count(*) AS n, extract(epoch FROM now() - max(sampled_at))::float8 AS age
         FROM ${qualified(ext, "memory_history")} WHERE sampled_at > now() - make_interval(secs => $1)`,
      [RECENT_HISTORY_SECONDS],
    );
    const n = Number(rows[0]?.n ?? 0);
    const age = rows[0]?.age ?? null;
    const minutes = RECENT_HISTORY_SECONDS / 60;
    if (n === 0 || age === null) {
      return {
        id: "history",
        status: "warn",
        summary: `history sampling is off or stopped: memory_history has no sample of the last ${minutes} minutes`,
        fix: SAMPLING_FIX,
      };
    }
    return {
      id: "history",
      status: "ok",
      summary: `sampling on: ${n} samples in the last ${minutes} minutes, the latest ${Math.round(age)} s old`,
    };
  } catch (err) {
    const error = errorOf(err);
    return {
      id: "history",
      status: "warn",
      summary: `memory_history fails: ${error.message}`,
      fix: error.hint,
      error,
    };
  }
};

const SAMPLING_FIX =
  "Start the sidecar without --sample-interval 0: it samples every process every 10 s by default " +
  "(pg-meminfo sidecar --help, History).";
