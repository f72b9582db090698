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

-- The postmaster's pid as the server knows it: no file read, no SECURITY DEFINER.
CREATE OR REPLACE FUNCTION @extschema@.pg_meminfo_postmaster_pid()
RETURNS integer
AS 'MODULE_PATHNAME', 'pg_meminfo_postmaster_pid'
LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- One row per process: pg_stat_activity and its memory in bytes, all from
-- one pass over /proc/PID/smaps.  ORDER BY uss_bytes DESC: who uses the most
-- memory of their own.  WHERE pid = ... reads only that process.
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
       k.pss_shmem_bytes
  FROM (SELECT pid,
               sum(rss_bytes)::bigint AS rss_bytes,
               sum(pss_bytes)::bigint AS pss_bytes,
               sum(uss_bytes)::bigint AS uss_bytes,
               sum(anon_bytes)::bigint AS anon_bytes,
               sum(swap_bytes)::bigint AS swap_bytes,
               coalesce(sum(rss_bytes) FILTER (WHERE kind = 'shared_buffers'), 0)::bigint
                 AS shared_buffers_bytes,
               coalesce(sum(pss_bytes) FILTER (WHERE kind IN ('shared_buffers', 'dynamic_shared_memory')), 0)::bigint
                 AS pss_shmem_bytes
          FROM @extschema@.backend_memory_by_kind
         GROUP BY pid) k
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = k.pid
 WHERE a.pid IS NOT NULL OR k.pid = @extschema@.pg_meminfo_postmaster_pid();

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
CREATE VIEW @extschema@.backend_memory_contexts_top AS
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
