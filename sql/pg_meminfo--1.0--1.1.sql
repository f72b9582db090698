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
