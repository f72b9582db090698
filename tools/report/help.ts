/** What `pg-meminfo report --help` says after the options. */
export const REPORT_HELP = `
One HTML file with everything inlined (the data and Chart.js; it opens without a network, and its
Content-Security-Policy forbids fetching anything), from one snapshot, with the time it was taken:
  - the cluster now: processes, total PSS and own memory, shared memory, memory limit and headroom,
    and the processes with the most memory of their own
  - cluster PSS and own memory over the history window (memory_history, per sampling round)
  - the top sessions' own memory over time
  - memory by kind of the top processes, as stacked bars (backend_memory_by_kind)
  - the growing processes (memory_growth, the last 10 minutes) with their biggest growing memory
    contexts: memory_context_growth watches each of the three fastest growers for --context-seconds
    (all three at once, on connections of their own, so the report takes that much longer; each watch
    writes two memory-context dumps to the server log); where the extension has no such function,
    their largest contexts now (backend_memory_contexts_top)
A part the extension does not have (an older version) or that fails is a note in its place.

It is an SQL client (a connection string or the PG* environment) and reads the extension's views only.

Examples:
  pg-meminfo report "host=/var/run/postgresql port=5432 dbname=postgres" --html memory.html
  PGHOST=db.example.com pg-meminfo report --html /tmp/report.html --context-seconds 10`;
