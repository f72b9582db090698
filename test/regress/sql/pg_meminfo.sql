--
-- SQL surface of pg_meminfo: objects, grants, option checks, pushdown and
-- errors.  Needs the sidecar running on the cluster's default socket.
--
CREATE EXTENSION pg_meminfo;

SELECT pg_describe_object(classid, objid, objsubid) AS object
FROM pg_depend
WHERE refclassid = 'pg_extension'::regclass
  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_meminfo')
ORDER BY 1;

-- Only pg_read_all_stats (and superusers) may read the tables.
SELECT c.relname,
       has_table_privilege('public', c.oid, 'SELECT') AS public_select,
       has_table_privilege('pg_read_all_stats', c.oid, 'SELECT') AS stats_select
FROM pg_class c
WHERE c.relname IN ('get_all_smaps', 'smap_summary', 'backend_memory_by_kind', 'backend_memory', 'cluster_memory',
                    'memory_contexts', 'backend_memory_contexts_top', 'memory_limits', 'oom_candidates',
                    'memory_history', 'memory_growth')
ORDER BY 1;
SELECT p.proname,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       has_function_privilege('pg_read_all_stats', p.oid, 'EXECUTE') AS stats_execute
FROM pg_proc p
WHERE p.proname IN ('get_all_smaps', 'pg_meminfo_postmaster_pid', 'memory_growth')
ORDER BY 1;

-- Sizes, inodes and devices are wide enough for any kernel value.
SELECT attname, format_type(atttypid, atttypmod)
FROM pg_attribute
WHERE attrelid = 'get_all_smaps'::regclass AND attname IN ('inode', 'rss', 'dev_major', 'sys_path', 'vm_flags')
ORDER BY attnum;

-- Options are checked when they are set, not when a query runs.
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (sockett '/tmp/x');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (socket 'relative/x.sock');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (timeout '0');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (timeout 'soon');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (timeout '1e-9');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (timeout '0x10');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (timeout ' 5');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (timeout '0.05');  -- ERROR
CREATE SERVER regress_bad FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (kind 'smaps');  -- ERROR
ALTER FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (socket '/tmp/x');  -- ERROR
CREATE FOREIGN TABLE regress_t (pid int) SERVER pg_meminfo;  -- ERROR
CREATE FOREIGN TABLE regress_t (pid int) SERVER pg_meminfo OPTIONS (source 'maps');  -- ERROR
CREATE FOREIGN TABLE regress_t (pid int) SERVER pg_meminfo OPTIONS (source 'summary', socket '/tmp/x');  -- ERROR

-- A scan never runs code of the table's owner: no defaults, no generated
-- columns, no domains or other types that are not built in.
CREATE FOREIGN TABLE regress_defaults (pid int, pss bigint DEFAULT 1)
  SERVER pg_meminfo OPTIONS (source 'summary');
SELECT count(*) FROM regress_defaults;  -- ERROR
EXPLAIN (COSTS OFF) SELECT pid FROM regress_defaults;  -- ERROR
DROP FOREIGN TABLE regress_defaults;
CREATE FOREIGN TABLE regress_generated (pid int, pss bigint GENERATED ALWAYS AS (pid * 2) STORED)
  SERVER pg_meminfo OPTIONS (source 'summary');
SELECT count(*) FROM regress_generated;  -- ERROR
DROP FOREIGN TABLE regress_generated;
CREATE DOMAIN regress_pid AS int CHECK (VALUE > 0);
CREATE FOREIGN TABLE regress_domain (pid regress_pid) SERVER pg_meminfo OPTIONS (source 'summary');
SELECT count(*) FROM regress_domain;  -- ERROR
DROP FOREIGN TABLE regress_domain;
DROP DOMAIN regress_pid;

-- A server whose sidecar is not there.
CREATE SERVER regress_nowhere FOREIGN DATA WRAPPER pg_meminfo_fdw
  OPTIONS (socket '/nonexistent/pg_meminfo/sidecar.sock', timeout '2');
CREATE FOREIGN TABLE regress_summary (pid int, pss bigint, rss bigint)
  SERVER regress_nowhere OPTIONS (source 'summary');
-- Plain EXPLAIN does not need the sidecar.
EXPLAIN (COSTS OFF) SELECT * FROM regress_summary;
SELECT * FROM regress_summary;  -- ERROR
DO $$
BEGIN
  PERFORM * FROM regress_summary;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END $$;

-- Privileges: the table grant, then the wrapper's own check, which fails
-- before the sidecar is contacted (this server has none).
CREATE ROLE regress_meminfo_nobody;
CREATE ROLE regress_meminfo_reader IN ROLE pg_read_all_stats;
GRANT SELECT ON regress_summary TO regress_meminfo_nobody;
SET ROLE regress_meminfo_nobody;
SELECT * FROM smap_summary;  -- ERROR
SELECT * FROM get_all_smaps();  -- ERROR
SELECT * FROM regress_summary;  -- ERROR
SELECT * FROM backend_memory;  -- ERROR
SELECT * FROM cluster_memory;  -- ERROR
SELECT * FROM backend_memory_by_kind;  -- ERROR
SELECT * FROM memory_limits;  -- ERROR
SELECT * FROM oom_candidates;  -- ERROR
SELECT * FROM memory_history;  -- ERROR
SELECT * FROM memory_growth;  -- ERROR
SELECT * FROM memory_growth('1 minute');  -- ERROR
RESET ROLE;

-- Pushdown: EXPLAIN VERBOSE shows the pid filter and the columns sent.
EXPLAIN (VERBOSE, COSTS OFF) SELECT pss FROM smap_summary WHERE pid = 42;
EXPLAIN (VERBOSE, COSTS OFF) SELECT pss FROM smap_summary WHERE pid = pg_backend_pid();
EXPLAIN (VERBOSE, COSTS OFF) SELECT pid FROM get_all_smaps() WHERE pid IN (1, 2);
EXPLAIN (VERBOSE, COSTS OFF) SELECT sys_path FROM get_all_smaps WHERE pid = ANY (ARRAY[3, 4]) AND rss > 0;
EXPLAIN (VERBOSE, COSTS OFF) SELECT kind, uss_bytes FROM backend_memory_by_kind WHERE pid = 42;
-- The limits have one row and no pid: nothing is pushed; count(*) asks for the first column.
EXPLAIN (VERBOSE, COSTS OFF) SELECT memory_limit_bytes FROM memory_limits WHERE oom_kills >= 0;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM memory_limits;
-- The history: conditions on sampled_at (the built-in timestamptz comparisons,
-- either way round, with values known when the scan starts) go with the pid.
EXPLAIN (VERBOSE, COSTS OFF) SELECT pss_anon_bytes FROM memory_history
WHERE pid = 42 AND sampled_at > now() - interval '5 minutes';
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM memory_history
WHERE now() - interval '1 hour' <= sampled_at AND sampled_at < now() AND sampled_at = '2026-01-01 12:00+00';
EXPLAIN (VERBOSE, COSTS OFF) SELECT pid FROM memory_history
WHERE sampled_at > localtimestamp OR sampled_at < clock_timestamp() - interval '1 day';
-- Not pushable: a cast of the column, an OR, a volatile value.
EXPLAIN (VERBOSE, COSTS OFF) SELECT pss FROM smap_summary WHERE pid::bigint = 42;
EXPLAIN (VERBOSE, COSTS OFF) SELECT pss FROM smap_summary WHERE pid = 1 OR rss > 0;
EXPLAIN (VERBOSE, COSTS OFF) SELECT pss FROM smap_summary WHERE pid = (random() * 10)::int;

-- Live figures (invariants only, the numbers change from run to run).
SELECT count(*) AS my_rows, bool_and(pss <= rss) AS pss_le_rss, bool_and(rss > 0) AS rss_positive
FROM smap_summary WHERE pid = pg_backend_pid();
SELECT count(*) > 10 AS many_mappings,
       bool_and(pss <= rss) AS pss_le_rss,
       count(*) FILTER (WHERE sys_path LIKE '%postgres%') > 0 AS maps_postgres_binary
FROM get_all_smaps() WHERE pid = pg_backend_pid();
-- Only processes of this cluster: a live process outside it (pid 1), a pid no
-- process has (the kernel's PID_MAX_LIMIT) and a negative pid have no rows,
-- alone or beside a backend's pid.
SELECT count(*) FROM smap_summary WHERE pid = 1;
SELECT count(*) FROM smap_summary WHERE pid = 4194304;
SELECT count(*) FROM smap_summary WHERE pid = -1;
SELECT count(*) FROM smap_summary WHERE pid IN (-1, 1, pg_backend_pid());
SELECT count(*) FROM smap_summary WHERE pid = NULL;
SELECT count(*) FROM smap_summary WHERE pid = ANY ('{}'::int[]);
-- Memory contexts: only of the backends a query names (a dump of each is
-- written to the server log); my own backend's start at TopMemoryContext.
SELECT * FROM memory_contexts;  -- ERROR
SELECT name, parent, path FROM memory_contexts WHERE pid = pg_backend_pid() LIMIT 1;
SELECT count(*) > 50 AS many_contexts, bool_and(used_bytes = total_bytes - free_bytes) AS used_is_total_minus_free
FROM memory_contexts WHERE pid = ANY (ARRAY[pg_backend_pid()]);
SELECT count(*) FROM memory_contexts WHERE pid = NULL;
-- The postmaster is listed.
SELECT count(*) FROM smap_summary s
WHERE s.pid = (SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)::int);
-- Joins with pg_stat_activity.
SELECT a.backend_type, s.pss <= s.rss AS pss_le_rss
FROM pg_stat_activity a JOIN smap_summary s USING (pid)
WHERE a.pid = pg_backend_pid();
-- Where the memory goes: every process in one kind or more, USS its own part.
SELECT backend_type, uss_bytes > 0 AS has_own, uss_bytes < rss_bytes AS own_lt_rss,
       shared_buffers_bytes > 0 AS maps_shared_buffers, pss_bytes <= rss_bytes AS pss_le_rss
FROM backend_memory WHERE pid = pg_backend_pid();
SELECT count(*) FROM backend_memory WHERE backend_type = 'postmaster';
SELECT count(*) = count(DISTINCT pid) AS one_row_per_process FROM backend_memory;
SELECT kind FROM backend_memory_by_kind
WHERE pid = pg_backend_pid() AND kind IN ('shared_buffers', 'heap', 'stack', 'postgres_binary', 'kernel')
ORDER BY kind;
SELECT bool_and(kind IN ('shared_buffers', 'dynamic_shared_memory', 'heap', 'anonymous', 'stack',
                         'postgres_binary', 'shared_libraries', 'other_files', 'kernel')) AS known_kinds,
       bool_and(uss_bytes <= private_bytes) AS uss_le_private,
       bool_and(uss_bytes = 0) FILTER (WHERE kind IN ('shared_buffers', 'dynamic_shared_memory', 'kernel'))
         AS shared_not_own
FROM backend_memory_by_kind;
SELECT processes > 1 AS several, total_pss_bytes <= total_rss_bytes AS pss_le_rss,
       total_uss_bytes <= total_pss_bytes AS uss_le_pss,
       shared_memory_size_bytes = pg_size_bytes(current_setting('shared_memory_size')) AS segment_size,
       top_pid IS NOT NULL AND top_uss_bytes > 0 AS has_top
FROM cluster_memory;
-- The OOM killer's view: every process has a score and an adjustment in range; the limit holds
-- what is used of it, and the candidates come in the kernel's order.
SELECT bool_and(oom_score BETWEEN 0 AND 2000) AS scores, bool_and(oom_score_adj BETWEEN -1000 AND 1000) AS adjs
FROM backend_memory;
SELECT memory_limit_source IN ('cgroup v1', 'cgroup v2', 'meminfo') AS known_source,
       memory_used_bytes <= memory_limit_bytes AS used_le_limit,
       headroom_bytes = memory_limit_bytes - memory_used_bytes AS headroom,
       overcommit_memory IN (0, 1, 2) AS overcommit, postmaster_protected IS NOT NULL AS protected_known
FROM cluster_memory;
SELECT count(*) FROM memory_limits;
SELECT count(*) > 1 AS several,
       bool_and(oom_rank = position) AS ranked
FROM (SELECT oom_rank, row_number() OVER (ORDER BY oom_score DESC, uss_bytes DESC, pid) AS position
        FROM oom_candidates) c;
-- A member of pg_read_all_stats may read.
SET ROLE regress_meminfo_reader;
SELECT count(*) AS my_rows FROM smap_summary WHERE pid = pg_backend_pid();
SELECT count(*) AS postmaster FROM backend_memory WHERE backend_type = 'postmaster';
SELECT processes > 1 AS several FROM cluster_memory;
SELECT count(*) AS limits FROM memory_limits;
RESET ROLE;

-- Snapshots and growth: reading is for pg_read_all_stats, every function runs
-- with the caller's rights and pins its search_path.
SELECT has_table_privilege('public', 'memory_snapshots', 'SELECT') AS public_select,
       has_table_privilege('pg_read_all_stats', 'memory_snapshots', 'SELECT') AS stats_select,
       has_table_privilege('pg_read_all_stats', 'memory_snapshots', 'INSERT') AS stats_insert;
SELECT p.proname, p.prosecdef AS security_definer, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
       has_function_privilege('pg_read_all_stats', p.oid, 'EXECUTE') AS stats_execute
FROM pg_proc p
WHERE p.proname IN ('memory_context_growth', 'pg_meminfo_snapshot', 'pg_meminfo_drop_snapshots')
ORDER BY 1;
SET ROLE regress_meminfo_nobody;
SELECT * FROM memory_snapshots;  -- ERROR
SELECT pg_meminfo_snapshot();  -- ERROR
SELECT * FROM memory_context_growth(pg_backend_pid(), '0');  -- ERROR
RESET ROLE;
SELECT * FROM memory_context_growth(pg_backend_pid(), '-1 second');  -- ERROR
SELECT pg_meminfo_snapshot('infinity');  -- ERROR
SELECT * FROM pg_meminfo_drop_snapshots(NULL);  -- ERROR
SELECT name, contexts_before > 0 AS listed FROM memory_context_growth(pg_backend_pid(), '0')
WHERE path = '{TopMemoryContext}' OR path IS NULL ORDER BY 1;

DROP FOREIGN TABLE regress_summary;
DROP SERVER regress_nowhere;
DROP ROLE regress_meminfo_nobody;
DROP ROLE regress_meminfo_reader;
DROP EXTENSION pg_meminfo;
