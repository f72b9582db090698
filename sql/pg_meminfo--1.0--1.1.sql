/* pg_meminfo--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_meminfo UPDATE TO '1.1'" to load this file. \quit

-- A table's rows come from a source (smaps, summary, by_kind); "kind" now
-- means a kind of memory only.
ALTER FOREIGN TABLE @extschema@.get_all_smaps OPTIONS (DROP kind, ADD source 'smaps');
ALTER FOREIGN TABLE @extschema@.smap_summary OPTIONS (DROP kind, ADD source 'summary');
ALTER FOREIGN TABLE @extschema@.backend_memory_by_kind OPTIONS (DROP kind, ADD source 'by_kind');

-- Anonymous and Swap per kind of memory, so that backend_memory needs one
-- read of /proc/PID/smaps per process and nothing else.
ALTER FOREIGN TABLE @extschema@.backend_memory_by_kind
  ADD COLUMN anon_bytes bigint,
  ADD COLUMN swap_bytes bigint;

-- The OOM killer's view of each process (/proc/PID/oom_score and
-- oom_score_adj, read only when asked for); by_kind repeats them on each
-- row of a process.
ALTER FOREIGN TABLE @extschema@.smap_summary
  ADD COLUMN oom_score integer,
  ADD COLUMN oom_score_adj integer;
ALTER FOREIGN TABLE @extschema@.backend_memory_by_kind
  ADD COLUMN oom_score integer,
  ADD COLUMN oom_score_adj integer;

-- The postmaster's pid as the server knows it: no file read, no SECURITY DEFINER.
CREATE OR REPLACE FUNCTION @extschema@.pg_meminfo_postmaster_pid()
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_meminfo_postmaster_pid'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- One row per process: pg_stat_activity and its memory in bytes, all from
-- one pass over /proc/PID/smaps.  ORDER BY uss_bytes DESC: who uses the most
-- memory of their own, ORDER BY oom_score DESC who the OOM killer takes
-- first.  WHERE pid = ... reads only that process.
CREATE OR REPLACE VIEW @extschema@.backend_memory AS
SELECT k.pid,
       coalesce(a.backend_type, 'postmaster') AS backend_type,
       a.usename,
       a.datname,
       a.application_name,
       a.state,
       a.query_start,
       a.query,
       k.rss_bytes,
       k.pss_bytes,
       k.uss_bytes,
       k.anon_bytes,
       k.swap_bytes,
       k.shared_buffers_bytes,
       k.pss_shmem_bytes,
       k.oom_score,
       k.oom_score_adj
  FROM (SELECT pid,
               sum(rss_bytes)::bigint AS rss_bytes,
               sum(pss_bytes)::bigint AS pss_bytes,
               sum(uss_bytes)::bigint AS uss_bytes,
               sum(anon_bytes)::bigint AS anon_bytes,
               sum(swap_bytes)::bigint AS swap_bytes,
               coalesce(sum(rss_bytes) FILTER (WHERE kind = 'shared_buffers'), 0)::bigint
                 AS shared_buffers_bytes,
               coalesce(sum(pss_bytes) FILTER (WHERE kind IN ('shared_buffers', 'dynamic_shared_memory')), 0)::bigint
                 AS pss_shmem_bytes,
               max(oom_score) AS oom_score,
               max(oom_score_adj) AS oom_score_adj
          FROM @extschema@.backend_memory_by_kind
         GROUP BY pid) k
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = k.pid
 WHERE a.pid IS NOT NULL OR k.pid = @extschema@.pg_meminfo_postmaster_pid();

-- One row: the memory the cluster lives in (see README.md, "Before the OOM
-- killer comes"): the limit of the postmaster's memory cgroup (cgroup v2
-- memory.max, v1 memory.limit_in_bytes) and what it has charged, or MemTotal
-- and MemTotal - MemAvailable when no cgroup limits it; the OOM kills the
-- cgroup counted; vm.overcommit_memory.  NULL where a figure cannot be read.
CREATE FOREIGN TABLE @extschema@.memory_limits (
  limit_source text,
  cgroup text,
  memory_limit_bytes bigint,
  memory_used_bytes bigint,
  oom_kills bigint,
  overcommit_memory integer
) SERVER pg_meminfo OPTIONS (source 'limits');

-- One row: what the whole cluster costs the host, its biggest consumer, and
-- how close it is to an OOM kill: the limit it lives in, what is used of it,
-- the headroom left, the OOM kills so far, the overcommit policy, and whether
-- the postmaster is protected (its oom_score_adj below every child's).
CREATE OR REPLACE VIEW @extschema@.cluster_memory AS
SELECT m.processes,
       m.total_pss_bytes,
       m.total_uss_bytes,
       m.total_rss_bytes,
       m.shared_memory_size_bytes,
       m.top_pid,
       m.top_backend_type,
       m.top_uss_bytes,
       l.memory_limit_bytes,
       l.memory_used_bytes,
       l.memory_limit_bytes - l.memory_used_bytes AS headroom_bytes,
       l.oom_kills,
       l.overcommit_memory,
       m.postmaster_protected,
       l.limit_source AS memory_limit_source
  FROM (SELECT count(*) AS processes,
               sum(pss_bytes)::bigint AS total_pss_bytes,
               sum(uss_bytes)::bigint AS total_uss_bytes,
               sum(rss_bytes)::bigint AS total_rss_bytes,
               pg_catalog.pg_size_bytes(pg_catalog.current_setting('shared_memory_size')) AS shared_memory_size_bytes,
               (array_agg(pid ORDER BY uss_bytes DESC, pid))[1] AS top_pid,
               (array_agg(backend_type ORDER BY uss_bytes DESC, pid))[1] AS top_backend_type,
               max(uss_bytes) AS top_uss_bytes,
               min(oom_score_adj) FILTER (WHERE backend_type = 'postmaster')
                 < min(oom_score_adj) FILTER (WHERE backend_type <> 'postmaster') AS postmaster_protected
          FROM @extschema@.backend_memory) m
  LEFT JOIN @extschema@.memory_limits l ON true;

-- The processes in the order the OOM killer would take them (oom_score DESC;
-- a process with oom_score_adj -1000 is never taken), with the memory of
-- their own and headroom_share: uss_bytes / headroom_bytes, the part of what
-- is left that a kill would give back (NULL when nothing is left).
CREATE VIEW @extschema@.oom_candidates AS
SELECT row_number() OVER (ORDER BY b.oom_score DESC, b.uss_bytes DESC, b.pid) AS oom_rank,
       b.pid,
       b.backend_type,
       b.application_name,
       b.state,
       b.oom_score,
       b.oom_score_adj,
       b.uss_bytes,
       round(b.uss_bytes::numeric / nullif(greatest(h.headroom_bytes, 0), 0), 4) AS headroom_share,
       b.query
  FROM @extschema@.backend_memory b
  LEFT JOIN (SELECT memory_limit_bytes - memory_used_bytes AS headroom_bytes
               FROM @extschema@.memory_limits) h ON true
 ORDER BY oom_rank;

REVOKE ALL ON @extschema@.memory_limits, @extschema@.oom_candidates FROM PUBLIC;
GRANT SELECT ON @extschema@.memory_limits, @extschema@.oom_candidates TO pg_read_all_stats;

-- The memory contexts of the backends a query names by pid (WHERE pid = ...,
-- pid = ANY (...) or pid IN (...) is required): each one writes them to the
-- server log when asked (pg_log_backend_memory_contexts), and the sidecar
-- reads them there.  Columns that pg_backend_memory_contexts has keep its
-- names and meaning on this server (level is numbered as its view numbers
-- it); summarized_contexts is set on the rows that stand for N contexts the
-- server folded into one line.
CREATE FOREIGN TABLE @extschema@.memory_contexts (
  pid integer,
  name text,
  ident text,
  parent text,
  level integer,
  path integer[],
  type text,
  total_bytes bigint,
  total_nblocks bigint,
  free_bytes bigint,
  free_chunks bigint,
  used_bytes bigint,
  summarized_contexts integer
) SERVER pg_meminfo OPTIONS (source 'contexts');

-- One row per backend named by pid: what its memory contexts hold (the grand
-- total of its dump), its five largest contexts, and unaccounted_bytes, the
-- memory of its own (uss_bytes) that no context holds: JIT code, libraries,
-- malloc outside PostgreSQL's allocator.  WHERE pid = ... reaches both
-- sources: the join on pid carries the condition to backend_memory.
-- security_invoker: a dump is asked for with the privileges of whoever
-- queries the view (EXECUTE on pg_log_backend_memory_contexts), never with
-- those of the view's owner.
CREATE VIEW @extschema@.backend_memory_contexts_top WITH (security_invoker = true) AS
SELECT pid,
       m.backend_type,
       c.contexts,
       c.total_bytes,
       c.used_bytes,
       c.free_bytes,
       c.largest_contexts,
       c.largest_contexts_bytes,
       m.uss_bytes,
       m.uss_bytes - c.total_bytes AS unaccounted_bytes
  FROM (SELECT pid,
               sum(coalesce(summarized_contexts, 1))::bigint AS contexts,
               sum(total_bytes)::bigint AS total_bytes,
               sum(used_bytes)::bigint AS used_bytes,
               sum(free_bytes)::bigint AS free_bytes,
               (array_agg(coalesce(name, summarized_contexts || ' more child contexts')
                          ORDER BY total_bytes DESC, path))[1:5] AS largest_contexts,
               (array_agg(total_bytes ORDER BY total_bytes DESC, path))[1:5] AS largest_contexts_bytes
          FROM @extschema@.memory_contexts
         GROUP BY pid) c
  JOIN @extschema@.backend_memory m USING (pid);

REVOKE ALL ON @extschema@.memory_contexts, @extschema@.backend_memory_contexts_top FROM PUBLIC;
GRANT SELECT ON @extschema@.memory_contexts, @extschema@.backend_memory_contexts_top TO pg_read_all_stats;

-- The postmaster's pid is no secret, and a view over backend_memory calls it
-- with the privileges of whoever queries the view (functions are not checked
-- as the view's owner, tables are).
GRANT EXECUTE ON FUNCTION @extschema@.pg_meminfo_postmaster_pid() TO PUBLIC;
