/* pg_meminfo_original--1.0.sql: the original API, for benchmark comparison only. */

\echo Use "CREATE EXTENSION pg_meminfo_original" to load this file. \quit

CREATE FUNCTION get_all_smaps()
RETURNS TABLE (
  pid integer, start_address text, end_address text, permissions char(4),
  byte_offset text, dev_major char(2), dev_minor char(2), inode integer,
  sys_path text, mem_size integer, kernel_page_size integer, mmu_page_size integer,
  rss integer, pss integer, pss_dirty integer, shared_clean integer,
  shared_dirty integer, private_clean integer, private_dirty integer,
  referenced integer, anonymous integer, ksm integer, lazy_free integer,
  anon_huge_pages integer, shmem_pmd_mapped integer, file_pmd_mapped integer,
  shared_huge_tlb integer, private_huge_tlb integer, swap integer, swap_pss integer,
  locked integer, thp_eligible integer, vm_flags text
)
AS 'MODULE_PATHNAME', 'original_get_smaps'
LANGUAGE C VOLATILE;

-- Sums every numeric column by pid, page sizes included, as the original view did.
CREATE VIEW smap_summary AS
SELECT pid,
       sum(mem_size) AS mem_size, sum(kernel_page_size) AS kernel_page_size,
       sum(mmu_page_size) AS mmu_page_size, sum(rss) AS rss, sum(pss) AS pss,
       sum(pss_dirty) AS pss_dirty, sum(shared_clean) AS shared_clean,
       sum(shared_dirty) AS shared_dirty, sum(private_clean) AS private_clean,
       sum(private_dirty) AS private_dirty, sum(referenced) AS referenced,
       sum(anonymous) AS anonymous, sum(ksm) AS ksm, sum(lazy_free) AS lazy_free,
       sum(anon_huge_pages) AS anon_huge_pages, sum(shmem_pmd_mapped) AS shmem_pmd_mapped,
       sum(file_pmd_mapped) AS file_pmd_mapped, sum(shared_huge_tlb) AS shared_huge_tlb,
       sum(private_huge_tlb) AS private_huge_tlb, sum(swap) AS swap, sum(swap_pss) AS swap_pss,
       sum(locked) AS locked
  FROM get_all_smaps()
 GROUP BY pid;
