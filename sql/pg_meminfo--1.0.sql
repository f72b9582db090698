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

-- The original API.  A STABLE single-SELECT SQL function is inlined by the
-- planner, so "FROM get_all_smaps() WHERE pid = ..." is pushed down too.
CREATE FUNCTION get_all_smaps()
RETURNS SETOF @extschema@.get_all_smaps
LANGUAGE sql STABLE
ROWS 30000
AS 'SELECT * FROM @extschema@.get_all_smaps';

REVOKE ALL ON @extschema@.get_all_smaps, @extschema@.smap_summary FROM PUBLIC;
GRANT SELECT ON @extschema@.get_all_smaps, @extschema@.smap_summary TO pg_read_all_stats;
REVOKE ALL ON FUNCTION get_all_smaps() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION get_all_smaps() TO pg_read_all_stats;
