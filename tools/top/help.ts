/** What `pg-meminfo top --help` says after the options. */
export const TOP_HELP = `
One line per process of the cluster, biggest memory of its own first (OWN: USS, what the kernel frees
when the process exits), with PSS (its share of every page it maps), SHBUF (its resident part of
shared_buffers), GROWTH (own memory per minute over the history window, from memory_growth; ▲ marks
steady growth; n/a where the extension has no history), state, query start, application name and
backend type. The header has the cluster's total PSS and own memory, shared memory, the memory
limit and headroom, and how the sidecar answered.

Keys: o, p, g sort by own memory, PSS, growth; up and down (or j, k) select a process; enter shows its
memory by kind and its largest memory contexts (reading them makes it write a memory-context dump to
the server log; c reads them again); esc goes back; q quits.

When the server restarts or the sidecar is away, top shows the error and the last rows it read, and
tries again at every refresh. It is an SQL client (a connection string or the PG* environment) and
reads the extension's views only.

Examples:
  pg-meminfo top "host=/var/run/postgresql port=5432 dbname=postgres"
  pg-meminfo top --once --sort pss | head -20`;
