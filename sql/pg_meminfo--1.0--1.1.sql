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

-- ---------------------------------------------------------------------------
-- Where it grows, and snapshots in tables (README.md, "Where it grows" and
-- "Snapshots in tables").  Every function below runs with its caller's
-- rights (no SECURITY DEFINER) and pins its search_path, so that objects a
-- role puts in a schema earlier in the caller's search_path (a pg_cron job's
-- owner's, say) are never what it calls.
-- ---------------------------------------------------------------------------

-- Two dumps of a backend's memory contexts `during` apart (at most an hour),
-- one row per context path (the names from TopMemoryContext down: several
-- contexts with the same path, such as the CachedPlanSource of every
-- prepared statement, are summed first, so that nothing is counted twice),
-- biggest growth first; a path that ends in NULL stands for the children the
-- server folded into "N more child contexts".  tree_growth_bytes is the
-- growth of the path and every path below it.  One more row, with a NULL
-- path, is the memory of its own outside every context (uss_bytes minus the
-- contexts) before and after.  The caller needs what memory_contexts needs.
CREATE FUNCTION @extschema@.memory_context_growth(pid integer, during interval)
RETURNS TABLE (
  path text[],
  name text,
  level integer,
  contexts_before bigint,
  contexts_after bigint,
  bytes_before bigint,
  bytes_after bigint,
  growth_bytes bigint,
  tree_growth_bytes bigint
)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  target CONSTANT integer := memory_context_growth.pid;
  dumps jsonb[] := '{}';
  own bigint[] := '{}';
  uss bigint;
BEGIN
  IF target IS NULL OR during IS NULL THEN
    RAISE EXCEPTION 'memory_context_growth needs a pid and an interval'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'SELECT * FROM memory_context_growth(12345, ''1 minute'');';
  END IF;
  IF during < interval '0' OR during > interval '1 hour' THEN
    RAISE EXCEPTION 'interval % is out of range: from 0 to 1 hour', during
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'The function holds its transaction open in between; for longer periods take snapshots (pg_meminfo_snapshot()) and compare them.';
  END IF;
  IF target = @extschema@.pg_meminfo_postmaster_pid() THEN
    RAISE EXCEPTION 'PID % is the postmaster, which cannot log its memory contexts', target
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Take the pid of a backend or an auxiliary process from pg_stat_activity.';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_stat_activity a WHERE a.pid = target) THEN
    RAISE EXCEPTION 'PID % is not a PostgreSQL server process', target
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Take the pid of a live backend from pg_stat_activity.';
  END IF;

  FOR round IN 1..2 LOOP
    IF round = 2 THEN
      PERFORM pg_sleep(extract(epoch FROM during)::double precision);
    END IF;
    -- One dump, its contexts named by path and summed per path.  A context's
    -- id is the last element of its path (ids are per dump, names are not).
    dumps := dumps || (
      WITH dump AS MATERIALIZED (
        SELECT row_number() OVER () AS n, c.path AS ids, c.name, c.level,
               coalesce(c.summarized_contexts, 1) AS contexts, c.total_bytes
          FROM @extschema@.memory_contexts c
         WHERE c.pid = target
      ),
      names AS (
        SELECT d.ids[cardinality(d.ids)] AS id, d.name FROM dump d WHERE d.name IS NOT NULL
      ),
      paths AS (
        SELECT d.n,
               array_agg(names.name ORDER BY u.position)
                 || CASE WHEN d.name IS NULL THEN ARRAY[NULL::text] ELSE '{}'::text[] END AS path
          FROM dump d
          CROSS JOIN LATERAL unnest(d.ids) WITH ORDINALITY AS u(id, position)
          JOIN names ON names.id = u.id
         GROUP BY d.n, d.name
      ),
      totals AS (
        SELECT paths.path, min(d.name) AS name, min(d.level) AS level,
               sum(d.contexts) AS contexts, sum(d.total_bytes) AS bytes
          FROM dump d JOIN paths USING (n)
         GROUP BY paths.path
      )
      -- tree: the path's bytes and those of every path below it.
      SELECT coalesce(jsonb_agg(jsonb_build_object(
               'path', t.path, 'name', t.name, 'level', t.level, 'contexts', t.contexts, 'bytes', t.bytes,
               'tree', (SELECT sum(b.bytes) FROM totals b WHERE b.path[1:cardinality(t.path)] = t.path))), '[]')
        FROM totals t
    );
    SELECT b.uss_bytes INTO uss FROM @extschema@.backend_memory b WHERE b.pid = target;
    IF uss IS NULL THEN
      RAISE EXCEPTION 'PID % exited before its memory was read', target
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    own := own || (uss - (SELECT coalesce(sum((e ->> 'bytes')::bigint), 0)
                            FROM jsonb_array_elements(dumps[round]) e));
  END LOOP;

  RETURN QUERY
  SELECT g.path, g.name, g.level, g.contexts_before, g.contexts_after, g.bytes_before, g.bytes_after,
         g.bytes_after - g.bytes_before AS growth_bytes, g.tree_growth_bytes
    FROM (SELECT coalesce(a.path, b.path) AS path,
                 coalesce(a.name, b.name) AS name,
                 coalesce(a.level, b.level) AS level,
                 coalesce(b.contexts, 0) AS contexts_before,
                 coalesce(a.contexts, 0) AS contexts_after,
                 coalesce(b.bytes, 0) AS bytes_before,
                 coalesce(a.bytes, 0) AS bytes_after,
                 coalesce(a.tree, 0) - coalesce(b.tree, 0) AS tree_growth_bytes
            FROM jsonb_to_recordset(dumps[1])
                   AS b(path text[], name text, level integer, contexts bigint, bytes bigint, tree bigint)
            FULL JOIN jsonb_to_recordset(dumps[2])
                   AS a(path text[], name text, level integer, contexts bigint, bytes bigint, tree bigint)
              ON a.path = b.path
          UNION ALL
          SELECT NULL, 'outside contexts', NULL, NULL, NULL, own[1], own[2], NULL) g
   ORDER BY g.bytes_after - g.bytes_before DESC, g.path;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.memory_context_growth(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.memory_context_growth(integer, interval) TO pg_read_all_stats;

-- The rows of backend_memory, kept: pg_meminfo_snapshot() adds the current
-- ones, all with one sampled_at.  A partition per day (UTC), named
-- memory_snapshots_YYYYMMDD, made by pg_meminfo_snapshot() when its day has
-- none, with its index on (pid, sampled_at); pg_meminfo_drop_snapshots()
-- drops whole days.  The partitions are not members of the extension:
-- pg_dump dumps them and their rows like any table; DROP EXTENSION drops
-- them with memory_snapshots.
CREATE TABLE @extschema@.memory_snapshots (
  sampled_at timestamptz NOT NULL,
  pid integer NOT NULL,
  backend_type text,
  usename name,
  datname name,
  application_name text,
  state text,
  query_start timestamptz,
  query text,
  rss_bytes bigint,
  pss_bytes bigint,
  uss_bytes bigint,
  anon_bytes bigint,
  swap_bytes bigint,
  shared_buffers_bytes bigint,
  pss_shmem_bytes bigint,
  oom_score integer,
  oom_score_adj integer
) PARTITION BY RANGE (sampled_at);

SELECT pg_catalog.pg_extension_config_dump('@extschema@.memory_snapshots', '');

REVOKE ALL ON @extschema@.memory_snapshots FROM PUBLIC;
GRANT SELECT ON @extschema@.memory_snapshots TO pg_read_all_stats;

-- Inserts the rows of backend_memory, sampled_at = at for all of them, in
-- one statement, and returns how many.  The caller needs SELECT on
-- backend_memory and INSERT on memory_snapshots; the first snapshot of a day
-- makes that day's partition, which needs the owner of memory_snapshots (the
-- role that created the extension) and CREATE on its schema.
CREATE FUNCTION @extschema@.pg_meminfo_snapshot(at timestamptz DEFAULT pg_catalog.now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  nsp CONSTANT name := (SELECT e.extnamespace::regnamespace::name FROM pg_extension e
                         WHERE e.extname = 'pg_meminfo');
  day CONSTANT date := (at AT TIME ZONE 'UTC')::date;
  part CONSTANT name := 'memory_snapshots_' || to_char(day, 'YYYYMMDD');
  inserted bigint;
BEGIN
  IF at IS NULL THEN
    RAISE EXCEPTION 'pg_meminfo_snapshot needs a time, not NULL'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Call pg_meminfo_snapshot() without an argument to take now().';
  END IF;
  IF NOT isfinite(at) THEN
    RAISE EXCEPTION 'snapshot time % is not a finite time', at
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Call pg_meminfo_snapshot() without an argument to take now().';
  END IF;
  IF to_regclass(format('%I.%I', nsp, part)) IS NULL THEN
    BEGIN
      -- The lock CREATE TABLE ... PARTITION OF takes, taken first (no upgrade, which could deadlock
      -- with pg_meminfo_drop_snapshots): one creator at a time, the second finds the partition made.
      LOCK TABLE @extschema@.memory_snapshots IN ACCESS EXCLUSIVE MODE;
      IF to_regclass(format('%I.%I', nsp, part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.memory_snapshots FOR VALUES FROM (%L) TO (%L)',
                       nsp, part, nsp, to_char(day, 'YYYY-MM-DD 00:00:00+00'),
                       to_char(day + 1, 'YYYY-MM-DD 00:00:00+00'));
        EXECUTE format('CREATE INDEX %I ON %I.%I (pid, sampled_at)', part || '_pid_sampled_at', nsp, part);
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'memory_snapshots has no partition for % and role % may not make one', day, current_user
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('Making a partition needs the owner of %I.memory_snapshots and CREATE on schema %I: %s',
                              nsp, nsp, SQLERRM),
              HINT = 'Take the first snapshot of each day as the owner of memory_snapshots (the role that created the extension), or schedule pg_meminfo_snapshot() as that role.';
    END;
  END IF;
  INSERT INTO @extschema@.memory_snapshots
    (sampled_at, pid, backend_type, usename, datname, application_name, state, query_start, query,
     rss_bytes, pss_bytes, uss_bytes, anon_bytes, swap_bytes, shared_buffers_bytes, pss_shmem_bytes,
     oom_score, oom_score_adj)
  SELECT at, b.pid, b.backend_type, b.usename, b.datname, b.application_name, b.state, b.query_start, b.query,
         b.rss_bytes, b.pss_bytes, b.uss_bytes, b.anon_bytes, b.swap_bytes, b.shared_buffers_bytes,
         b.pss_shmem_bytes, b.oom_score, b.oom_score_adj
    FROM @extschema@.backend_memory b;
  GET DIAGNOSTICS inserted = ROW_COUNT;
  RETURN inserted;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.pg_meminfo_snapshot(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.pg_meminfo_snapshot(timestamptz) TO pg_read_all_stats;

-- Drops the partitions of memory_snapshots whose every row is older than
-- now() - older_than (their upper bound is at or before it) and returns
-- them with their range and how many rows they held.  Dropping a partition
-- needs its owner.  Partitions without a plain FROM ... TO range (a DEFAULT
-- one attached by hand) are left alone.
CREATE FUNCTION @extschema@.pg_meminfo_drop_snapshots(older_than interval)
RETURNS TABLE (partition_name name, sampled_from timestamptz, sampled_until timestamptz, snapshot_rows bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  cutoff timestamptz;
  part record;
  locked boolean := false;
BEGIN
  IF older_than IS NULL THEN
    RAISE EXCEPTION 'pg_meminfo_drop_snapshots needs an interval, not NULL'
      USING ERRCODE = 'null_value_not_allowed',
            HINT = 'SELECT * FROM pg_meminfo_drop_snapshots(''7 days'');';
  END IF;
  IF older_than < interval '0' THEN
    RAISE EXCEPTION 'older_than must be an interval of 0 or more, not %', older_than
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'SELECT * FROM pg_meminfo_drop_snapshots(''7 days'');';
  END IF;
  cutoff := now() - older_than;
  FOR part IN
    SELECT p.rel, p.relname, p.bounds[1]::timestamptz AS sampled_from, p.bounds[2]::timestamptz AS sampled_until
      FROM (SELECT c.oid::regclass AS rel, c.relname,
                   regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS bounds
              FROM pg_inherits i
              JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = '@extschema@.memory_snapshots'::regclass) p
     WHERE p.bounds IS NOT NULL AND p.bounds[2]::timestamptz <= cutoff
     ORDER BY 3
  LOOP
    IF NOT locked THEN
      -- The lock DROP TABLE takes on memory_snapshots, taken before the first count (no upgrade,
      -- which could deadlock with a snapshot making a partition), once there is something to drop.
      BEGIN
        LOCK TABLE @extschema@.memory_snapshots IN ACCESS EXCLUSIVE MODE;
      EXCEPTION WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'role % may not drop partitions of memory_snapshots', current_user
          USING ERRCODE = 'insufficient_privilege',
                DETAIL = SQLERRM,
                HINT = 'Run pg_meminfo_drop_snapshots() as the owner of memory_snapshots and its partitions (the role that created the extension).';
      END;
      locked := true;
    END IF;
    -- Gone meanwhile (another drop that held the lock before us).
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = part.rel);
    partition_name := part.relname;
    sampled_from := part.sampled_from;
    sampled_until := part.sampled_until;
    -- Counted through memory_snapshots (pruned to this partition): its readers may count.
    SELECT count(*) INTO snapshot_rows FROM @extschema@.memory_snapshots s
     WHERE s.sampled_at >= part.sampled_from AND s.sampled_at < part.sampled_until;
    EXECUTE format('DROP TABLE %s', part.rel);
    RETURN NEXT;
  END LOOP;
END
$$;

REVOKE ALL ON FUNCTION @extschema@.pg_meminfo_drop_snapshots(interval) FROM PUBLIC;
-- One row per sample the sidecar took of a process's memory: every
-- --sample-interval (10 s by default) it reads /proc/PID/smaps_rollup of
-- every process of the cluster and keeps the figures, in bytes, with
-- pg_stat_activity's labels of the time, in a ring of --history-bytes (an
-- hour of 500 processes by default); the oldest samples go first.  The
-- history lives in the sidecar and starts empty when it starts.  WHERE pid =
-- ... and conditions on sampled_at (>, >=, <, <=, =) are sent to the sidecar.
CREATE FOREIGN TABLE @extschema@.memory_history (
  pid integer,
  sampled_at timestamptz,
  rss_bytes bigint,
  pss_bytes bigint,
  pss_anon_bytes bigint,
  pss_shmem_bytes bigint,
  uss_bytes bigint,
  anon_bytes bigint,
  swap_bytes bigint,
  backend_type text,
  datname text,
  usename text,
  application_name text,
  backend_start timestamptz
) SERVER pg_meminfo OPTIONS (source 'history');

-- Per live process, how its own memory (pss_anon_bytes, or anon_bytes where
-- the kernel has no Pss_Anon) moved over the window ending now: first and
-- last figure, the least-squares slope in bytes per minute and its r2, and
-- growing, true only for steady growth: at least 6 samples, r2 >= 0.8, at
-- least 64 kB a minute, and the rise spread over time (cut the time from the
-- first sample to the last into quarters: each holds a sample, and at most
-- 40 % of the rise from the first quarter's mean to the last's lies between
-- two neighbouring quarters), so one step such as a big sort is not growth.
-- The sidecar's history/growth.ts applies the same rule.  A process is a
-- pid and its backend_start; a live one is in pg_stat_activity now, or is
-- the postmaster.  STABLE single-SELECT SQL: inlined, so its conditions on
-- sampled_at reach the sidecar.
CREATE FUNCTION @extschema@.memory_growth("window" interval DEFAULT '10 minutes')
RETURNS TABLE (
  pid integer,
  backend_type text,
  datname text,
  usename text,
  application_name text,
  backend_start timestamptz,
  samples integer,
  first_sampled_at timestamptz,
  last_sampled_at timestamptz,
  first_bytes bigint,
  last_bytes bigint,
  bytes_per_minute float8,
  r2 float8,
  growing boolean
)
LANGUAGE sql STABLE
AS $$
SELECT g.pid, g.backend_type, g.datname, g.usename, g.application_name, g.backend_start,
       g.samples, g.first_sampled_at, g.last_sampled_at, g.first_bytes, g.last_bytes,
       g.bytes_per_minute, g.r2,
       coalesce(g.samples >= 6 AND g.r2 >= 0.8 AND g.bytes_per_minute >= 65536
                AND g.m1 IS NOT NULL AND g.m2 IS NOT NULL AND g.m3 - g.m0 > 0
                AND greatest(g.m1 - g.m0, g.m2 - g.m1, g.m3 - g.m2) <= 0.4 * (g.m3 - g.m0),
                false) AS growing
  FROM (SELECT q.pid, q.backend_start,
               (array_agg(q.backend_type ORDER BY q.t DESC))[1] AS backend_type,
               (array_agg(q.datname ORDER BY q.t DESC))[1] AS datname,
               (array_agg(q.usename ORDER BY q.t DESC))[1] AS usename,
               (array_agg(q.application_name ORDER BY q.t DESC))[1] AS application_name,
               count(*)::integer AS samples,
               min(q.sampled_at) AS first_sampled_at,
               max(q.sampled_at) AS last_sampled_at,
               (array_agg(q.y ORDER BY q.t))[1]::bigint AS first_bytes,
               (array_agg(q.y ORDER BY q.t DESC))[1]::bigint AS last_bytes,
               coalesce(regr_slope(q.y, q.x), 0) AS bytes_per_minute,
               CASE WHEN count(*) >= 3 AND min(q.y) < max(q.y) THEN regr_r2(q.y, q.x) END AS r2,
               avg(q.y) FILTER (WHERE q.quarter = 0) AS m0,
               avg(q.y) FILTER (WHERE q.quarter = 1) AS m1,
               avg(q.y) FILTER (WHERE q.quarter = 2) AS m2,
               avg(q.y) FILTER (WHERE q.quarter = 3) AS m3
          FROM (SELECT s.*, (s.t - s.t0)::float8 / 60000 AS x,
                       CASE WHEN s.t1 > s.t0 THEN least((4 * (s.t - s.t0)) / (s.t1 - s.t0), 3) END AS quarter
                  FROM (SELECT h.pid, h.backend_start, h.sampled_at, h.backend_type, h.datname,
                               h.usename, h.application_name, h.t, h.y,
                               min(h.t) OVER w AS t0, max(h.t) OVER w AS t1
                          FROM (SELECT m.*, (extract(epoch FROM m.sampled_at) * 1000)::bigint AS t,
                                       coalesce(m.pss_anon_bytes, m.anon_bytes)::float8 AS y
                                  FROM @extschema@.memory_history m
                                 WHERE m.sampled_at > now() - "window" AND m.sampled_at <= now()) h
                         WHERE h.y IS NOT NULL
                        WINDOW w AS (PARTITION BY h.pid, h.backend_start)) s) q
         GROUP BY q.pid, q.backend_start) g
  JOIN (SELECT a.pid, a.backend_start FROM pg_catalog.pg_stat_activity a
        UNION ALL
        SELECT @extschema@.pg_meminfo_postmaster_pid(), pg_catalog.pg_postmaster_start_time()) live
    ON live.pid = g.pid AND live.backend_start = g.backend_start
 ORDER BY g.bytes_per_minute DESC, g.pid
$$;

-- Who keeps growing over the last 10 minutes: ORDER BY bytes_per_minute DESC.
CREATE VIEW @extschema@.memory_growth AS
SELECT * FROM @extschema@.memory_growth();

REVOKE ALL ON @extschema@.memory_history, @extschema@.memory_growth FROM PUBLIC;
GRANT SELECT ON @extschema@.memory_history, @extschema@.memory_growth TO pg_read_all_stats;
REVOKE ALL ON FUNCTION @extschema@.memory_growth(interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.memory_growth(interval) TO pg_read_all_stats;
