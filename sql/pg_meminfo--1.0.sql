/* pg_meminfo--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pg_meminfo" to load this file. \quit

CREATE FUNCTION pg_meminfo_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION pg_meminfo_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER pg_meminfo_fdw
  HANDLER pg_meminfo_fdw_handler
  VALIDATOR pg_meminfo_fdw_validator;

-- The sidecar's socket is derived from unix_socket_directories and port;
-- ALTER SERVER pg_meminfo OPTIONS (ADD socket '...') points elsewhere.
CREATE SERVER pg_meminfo FOREIGN DATA WRAPPER pg_meminfo_fdw;

-- One row per memory mapping of each process of the cluster (/proc/PID/smaps).
-- Sizes in kB as the kernel prints them; NULL where the kernel prints nothing.
CREATE FOREIGN TABLE get_all_smaps (
  pid integer,
  start_address text,
  end_address text,
  permissions text,
  byte_offset text,
  dev_major text,
  dev_minor text,
  inode bigint,
  sys_path text,
  mem_size bigint,
  kernel_page_size bigint,
  mmu_page_size bigint,
  rss bigint,
  pss bigint,
  pss_dirty bigint,
  shared_clean bigint,
  shared_dirty bigint,
  private_clean bigint,
  private_dirty bigint,
  referenced bigint,
  anonymous bigint,
  ksm bigint,
  lazy_free bigint,
  anon_huge_pages bigint,
  shmem_pmd_mapped bigint,
  file_pmd_mapped bigint,
  shared_huge_tlb bigint,
  private_huge_tlb bigint,
  swap bigint,
  swap_pss bigint,
  locked bigint,
  thp_eligible integer,
  vm_flags text
) SERVER pg_meminfo OPTIONS (kind 'smaps');

-- One row per process of the cluster (/proc/PID/smaps_rollup): the sizes of
-- all its mappings summed by the kernel.  mem_size is VmSize.
CREATE FOREIGN TABLE smap_summary (
  pid integer,
  mem_size bigint,
  rss bigint,
  pss bigint,
  pss_dirty bigint,
  pss_anon bigint,
  pss_file bigint,
  pss_shmem bigint,
  shared_clean bigint,
  shared_dirty bigint,
  private_clean bigint,
  private_dirty bigint,
  referenced bigint,
  anonymous bigint,
  ksm bigint,
  lazy_free bigint,
  anon_huge_pages bigint,
  shmem_pmd_mapped bigint,
  file_pmd_mapped bigint,
  shared_huge_tlb bigint,
  private_huge_tlb bigint,
  swap bigint,
  swap_pss bigint,
  locked bigint
) SERVER pg_meminfo OPTIONS (kind 'summary');

-- One row per process of the cluster and kind of memory it maps (see
-- README.md, "Where the memory goes"), from /proc/PID/smaps, in bytes.
-- uss_bytes is the part the kernel frees when the process exits.
CREATE FOREIGN TABLE backend_memory_by_kind (
  pid integer,
  kind text,
  mappings bigint,
  rss_bytes bigint,
  pss_bytes bigint,
  private_bytes bigint,
  uss_bytes bigint
) SERVER pg_meminfo OPTIONS (kind 'by_kind');

-- The postmaster is the one process of the cluster pg_stat_activity does not
-- list; its pid tells it from a process that started after the snapshot.
CREATE FUNCTION pg_meminfo_postmaster_pid()
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)::integer$$;

-- One row per process: pg_stat_activity and its memory in bytes.
-- ORDER BY uss_bytes DESC: who uses the most memory of their own.
CREATE VIEW backend_memory AS
SELECT s.pid,
       coalesce(a.backend_type, 'postmaster') AS backend_type,
       a.usename,
       a.datname,
       a.application_name,
       a.state,
       a.query_start,
       a.query,
       s.rss * 1024 AS rss_bytes,
       s.pss * 1024 AS pss_bytes,
       k.uss_bytes,
       s.anonymous * 1024 AS anon_bytes,
       s.swap * 1024 AS swap_bytes,
       k.shared_buffers_bytes,
       s.pss_shmem * 1024 AS pss_shmem_bytes
  FROM @extschema@.smap_summary s
  JOIN (SELECT pid,
               sum(uss_bytes)::bigint AS uss_bytes,
               coalesce(sum(rss_bytes) FILTER (WHERE kind = 'shared_buffers'), 0)::bigint
                 AS shared_buffers_bytes
          FROM @extschema@.backend_memory_by_kind
         GROUP BY pid) k ON k.pid = s.pid
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = s.pid
 WHERE a.pid IS NOT NULL OR s.pid = @extschema@.pg_meminfo_postmaster_pid();

-- One row: what the whole cluster costs the host, and its biggest consumer.
CREATE VIEW cluster_memory AS
SELECT count(*) AS processes,
       sum(pss_bytes)::bigint AS total_pss_bytes,
       sum(uss_bytes)::bigint AS total_uss_bytes,
       sum(rss_bytes)::bigint AS total_rss_bytes,
       pg_catalog.pg_size_bytes(pg_catalog.current_setting('shared_memory_size')) AS shared_memory_size_bytes,
       (array_agg(pid ORDER BY uss_bytes DESC, pid))[1] AS top_pid,
       (array_agg(backend_type ORDER BY uss_bytes DESC, pid))[1] AS top_backend_type,
       max(uss_bytes) AS top_uss_bytes
  FROM @extschema@.backend_memory;

-- The original API.  A STABLE single-SELECT SQL function is inlined by the
-- planner, so "FROM get_all_smaps() WHERE pid = ..." is pushed down too.
CREATE FUNCTION get_all_smaps()
RETURNS SETOF @extschema@.get_all_smaps
LANGUAGE sql STABLE
ROWS 30000
AS 'SELECT * FROM @extschema@.get_all_smaps';

REVOKE ALL ON @extschema@.get_all_smaps, @extschema@.smap_summary,
  @extschema@.backend_memory_by_kind, @extschema@.backend_memory, @extschema@.cluster_memory FROM PUBLIC;
GRANT SELECT ON @extschema@.get_all_smaps, @extschema@.smap_summary,
  @extschema@.backend_memory_by_kind, @extschema@.backend_memory, @extschema@.cluster_memory TO pg_read_all_stats;
REVOKE ALL ON FUNCTION get_all_smaps(), pg_meminfo_postmaster_pid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION get_all_smaps(), pg_meminfo_postmaster_pid() TO pg_read_all_stats;
