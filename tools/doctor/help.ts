/** What `pg-meminfo doctor --help` says after the options. */
export const DOCTOR_HELP = `
Checks, one line each (ok, warn, fail; skip when a check it needs did not pass), with the fix under
every line that is not ok:
  server      the server answers, and is PostgreSQL 15 or later
  extension   pg_meminfo is created in this database, at the newest version installed on the server
  role        the role may read memory figures (superuser, or the privileges of pg_read_all_stats)
  sidecar     the sidecar answers the extension: not running, a stale socket, the wrong socket, another
              OS user, an unusable secret, another cluster or PID namespace are told apart
  kernel      the kernel has /proc/PID/smaps_rollup (smap_summary) and Pss_Dirty (pss_dirty)
  contexts    the role may dump memory contexts (EXECUTE on pg_log_backend_memory_contexts)
  server-log  the sidecar can read memory contexts back from the server log: logging_collector,
              log_destination, %p in log_line_prefix; tried for real on the doctor's own session
              (which writes one memory-context dump, a few hundred lines, to the server log)
  history     history sampling is on: memory_history has recent rows

The doctor is an SQL client: it reaches the server as psql would (a connection string, or PGHOST,
PGPORT, PGUSER, PGDATABASE, PGPASSWORD, ~/.pgpass) and runs queries only, so it works from any host.
It never talks to the sidecar's socket.

Exit status: 0 all ok, 1 a warning, 2 a failure.

Examples:
  pg-meminfo doctor "host=/var/run/postgresql port=5432 dbname=postgres"
  PGHOST=db.example.com PGUSER=monitoring pg-meminfo doctor --json`;
