/**
 * The processes of the cluster with the labels of pg_stat_activity, for one sample round: every process
 * it lists, and the postmaster. One query.
 */
import { databaseError } from "../cluster/database-error.js";
import type { Queryable } from "../cluster/queryable.js";
import type { ProcessLabels } from "./sample.js";

// backend_start as whole microseconds (text, exact), the postmaster's row with a NULL pid and the
// cluster's shared_memory_size in bytes (NULL where the server has no such setting).
const LABELS_QUERY =
  "SELECT pid, backend_type, datname::text AS datname, usename::text AS usename, application_name, " +
  "(extract(epoch FROM backend_start) * 1000000)::int8::text AS backend_start_us, NULL AS shared_memory_bytes " +
  "FROM pg_catalog.pg_stat_activity " +
  "UNION ALL SELECT NULL, 'postmaster', NULL, NULL, NULL, " +
  "(extract(epoch FROM pg_catalog.pg_postmaster_start_time()) * 1000000)::int8::text, " +
  "pg_catalog.pg_size_bytes(pg_catalog.current_setting('shared_memory_size', true))::text";

interface Row extends Record<string, unknown> {
  pid: number | null;
  backend_type: string | null;
  datname: string | null;
  usename: string | null;
  application_name: string | null;
  backend_start_us: string | null;
  shared_memory_bytes: string | null;
}

export interface LabelledProcesses {
  /** Labels by pid, ascending by pid. */
  labels: Map<number, ProcessLabels>;
  /** Processes other than the postmaster whose backend_start pg_stat_activity hid from the sidecar's role. */
  hidden: number;
  /** The shared_memory_size setting in bytes, or null. */
  sharedMemoryBytes: number | null;
}

/**
 * The cluster's processes and their labels. backend_type is "" (and backend_start null) for a session
 * whose details pg_stat_activity hides from the sidecar's role (one without pg_read_all_stats).
 */
export async function labelledProcesses(db: Queryable, postmasterPid: number): Promise<LabelledProcesses> {
  let rows: Row[];
  try {
    ({ rows } = await db.query<Row>(LABELS_QUERY));
  } catch (err) {
    throw databaseError(err, "list its backends");
  }
  const labels = new Map<number, ProcessLabels>();
  let hidden = 0;
  let sharedMemoryBytes: number | null = null;
  for (const row of rows) {
    if (typeof row.shared_memory_bytes === "string" && /^[0-9]+$/.test(row.shared_memory_bytes))
      sharedMemoryBytes = Number(row.shared_memory_bytes);
    const pid = row.pid ?? postmasterPid;
    if (row.pid !== null && row.backend_start_us === null) hidden++;
    labels.set(pid, {
      backendType: row.backend_type ?? "",
      datname: row.datname,
      usename: row.usename,
      applicationName: row.application_name,
      backendStart: row.backend_start_us === null ? null : Number(row.backend_start_us) / 1000,
    });
  }
  return { labels: new Map([...labels].sort((a, b) => a[0] - b[0])), hidden, sharedMemoryBytes };
}
