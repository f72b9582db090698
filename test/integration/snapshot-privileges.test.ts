// Who may read, write and drop snapshots, and what a role that may insert can make the functions of
// another role (a superuser's pg_cron job, say) run: its own objects, put first in the search_path,
// must never be what the functions call.
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, queryError } from "../support/db.js";
import { connectTo, dropDatabase, scratchDatabase } from "../support/scratch-database.js";

const DB = "regress_snapshot_rights";
const suffix = randomBytes(4).toString("hex");
const plain = `pgmi_snap_plain_${suffix}`;
const reader = `pgmi_snap_reader_${suffix}`;
const inserter = `pgmi_snap_inserter_${suffix}`;
const evil = `pgmi_evil_${suffix}`;

let db: pg.Client;
const opened: pg.Client[] = [];

async function as(role: string): Promise<pg.Client> {
  const client = await connectTo(DB, role);
  opened.push(client);
  return client;
}

beforeAll(async () => {
  db = await scratchDatabase(DB);
  await db.query("CREATE EXTENSION pg_meminfo");
  await db.query(`CREATE ROLE ${plain} LOGIN`);
  await db.query(`CREATE ROLE ${reader} LOGIN IN ROLE pg_read_all_stats`);
  await db.query(`CREATE ROLE ${inserter} LOGIN IN ROLE pg_read_all_stats`);
  await db.query(`GRANT INSERT ON memory_snapshots TO ${inserter}`);
  await db.query(`CREATE SCHEMA ${evil} AUTHORIZATION ${inserter}`);
  // Today's partition, made by the owner.
  await db.query("SELECT pg_meminfo_snapshot()");
});

afterAll(async () => {
  for (const client of opened) await client.end().catch(() => undefined);
  await db?.end();
  await dropDatabase(DB);
  const admin = await connect();
  try {
    for (const role of [plain, reader, inserter]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
  } finally {
    await admin.end();
  }
});

const today = async () =>
  (
    await db.query<{ name: string }>(
      "SELECT 'memory_snapshots_' || to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD') AS name",
    )
  ).rows[0]?.name;

describe("reading, writing and dropping snapshots", () => {
  it("a role without pg_read_all_stats reads nothing, not even a partition, and writes nothing", async () => {
    const client = await as(plain);
    for (const query of [
      "SELECT count(*) FROM memory_snapshots",
      `SELECT count(*) FROM ${await today()}`,
      "SELECT pg_meminfo_snapshot()",
      "INSERT INTO memory_snapshots (sampled_at, pid) VALUES (now(), 1)",
      "SELECT * FROM pg_meminfo_drop_snapshots('0')",
    ]) {
      const error = await queryError(client, query);
      expect(error.code, `${query}: ${error.message}`).toBe("42501");
    }
  });

  it("a member of pg_read_all_stats reads through memory_snapshots, and may not insert", async () => {
    const client = await as(reader);
    const { rows } = await client.query("SELECT count(*)::int AS n FROM memory_snapshots");
    expect(rows[0]?.n).toBeGreaterThan(0);
    const partition = await queryError(client, `SELECT count(*) FROM ${await today()}`);
    expect(partition.code).toBe("42501");
    const insert = await queryError(client, "SELECT pg_meminfo_snapshot()");
    expect(insert.code).toBe("42501");
    expect(insert.message).toBe("permission denied for table memory_snapshots");
  });

  it("a role granted INSERT snapshots into the days that have a partition, and is told why not others", async () => {
    const client = await as(inserter);
    const { rows } = await client.query("SELECT pg_meminfo_snapshot() AS n");
    expect(Number(rows[0]?.n)).toBeGreaterThan(3);
    const error = await queryError(client, "SELECT pg_meminfo_snapshot('2003-03-03 03:03:03+00')");
    expect(error.code).toBe("42501");
    expect(error.message).toBe(
      `memory_snapshots has no partition for 2003-03-03 and role ${inserter} may not make one`,
    );
    expect(error.hint).toMatch(/as the owner of memory_snapshots/);
    const { rows: made } = await db.query("SELECT to_regclass('memory_snapshots_20030303') AS rel");
    expect(made[0]?.rel).toBeNull();
  });

  it("dropping needs the owner of the partitions, whoever may call the function", async () => {
    await db.query("SELECT pg_meminfo_snapshot('2003-03-04 00:00:00+00')");
    const client = await as(inserter);
    expect((await queryError(client, "SELECT * FROM pg_meminfo_drop_snapshots('0')")).code).toBe("42501");
    await db.query(`GRANT EXECUTE ON FUNCTION pg_meminfo_drop_snapshots(interval) TO ${inserter}`);
    const error = await queryError(client, "SELECT * FROM pg_meminfo_drop_snapshots('0')");
    expect(error.code).toBe("42501");
    expect(error.message).toBe(`role ${inserter} may not drop partitions of memory_snapshots`);
    expect(error.hint).toMatch(/as the owner of memory_snapshots and its partitions/);
    const { rows } = await db.query("SELECT partition_name FROM pg_meminfo_drop_snapshots('0')");
    expect(rows).toEqual([{ partition_name: "memory_snapshots_20030304" }]);
  });

  it("a role granted INSERT cannot hang a trigger on memory_snapshots", async () => {
    const client = await as(inserter);
    await client.query(`CREATE FUNCTION ${evil}.on_insert() RETURNS trigger LANGUAGE plpgsql
                        AS $$ BEGIN RETURN NEW; END $$`);
    const error = await queryError(
      client,
      `CREATE TRIGGER regress_evil BEFORE INSERT ON memory_snapshots FOR EACH ROW EXECUTE FUNCTION ${evil}.on_insert()`,
    );
    expect(error.code).toBe("42501");
  });
});

describe("the functions pin their search_path", () => {
  // Objects of the inserter that the functions would pick up from an unpinned search_path that lists
  // its schema first: functions and operators they call, and relations they read.
  const TRAPS = [
    "CREATE TABLE %s.ran (what text)",
    "GRANT ALL ON %s.ran TO PUBLIC",
    "CREATE FUNCTION %s.trap(what text) RETURNS void LANGUAGE sql AS $$ INSERT INTO %s.ran VALUES (what) $$",
    "CREATE FUNCTION %s.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT %s.trap('now'); SELECT pg_catalog.now() $$",
    "CREATE FUNCTION %s.isfinite(timestamptz) RETURNS boolean LANGUAGE sql AS $$ SELECT %s.trap('isfinite'); SELECT true $$",
    "CREATE FUNCTION %s.to_regclass(text) RETURNS regclass LANGUAGE sql AS $$ SELECT %s.trap('to_regclass'); SELECT NULL::regclass $$",
    "CREATE FUNCTION %s.to_char(date, text) RETURNS text LANGUAGE sql AS $$ SELECT %s.trap('to_char'); SELECT '19990101' $$",
    "CREATE FUNCTION %s.format(text, name, name, name, text, text) RETURNS text LANGUAGE sql AS $$ SELECT %s.trap('format'); SELECT 'SELECT 1' $$",
    "CREATE FUNCTION %s.format(text, text, name, name) RETURNS text LANGUAGE sql AS $$ SELECT %s.trap('format'); SELECT 'SELECT 1' $$",
    "CREATE FUNCTION %s.pg_sleep(double precision) RETURNS void LANGUAGE sql AS $$ SELECT %s.trap('pg_sleep') $$",
    "CREATE FUNCTION %s.cardinality(integer[]) RETURNS integer LANGUAGE sql AS $$ SELECT %s.trap('cardinality'); SELECT 1 $$",
    "CREATE FUNCTION %s.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT %s.trap('jsonb_array_elements'); SELECT '{}'::jsonb $$",
    "CREATE FUNCTION %s.regexp_match(text, text) RETURNS text[] LANGUAGE sql AS $$ SELECT %s.trap('regexp_match'); SELECT NULL::text[] $$",
    "CREATE FUNCTION %s.int_eq(integer, integer) RETURNS boolean LANGUAGE sql AS $$ SELECT %s.trap('='); SELECT $1 OPERATOR(pg_catalog.=) $2 $$",
    "CREATE OPERATOR %s.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = %s.int_eq)",
    "CREATE FUNCTION %s.text_cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT %s.trap('||'); SELECT $1 OPERATOR(pg_catalog.||) $2 $$",
    "CREATE OPERATOR %s.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = %s.text_cat)",
    "CREATE FUNCTION %s.minus(timestamptz, interval) RETURNS timestamptz LANGUAGE sql AS $$ SELECT %s.trap('-'); SELECT $1 OPERATOR(pg_catalog.-) $2 $$",
    "CREATE OPERATOR %s.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = %s.minus)",
    "CREATE FUNCTION %s.less(interval, interval) RETURNS boolean LANGUAGE sql AS $$ SELECT %s.trap('<'); SELECT $1 OPERATOR(pg_catalog.<) $2 $$",
    "CREATE OPERATOR %s.< (LEFTARG = interval, RIGHTARG = interval, FUNCTION = %s.less)",
    "CREATE TABLE %s.pg_stat_activity (pid integer)",
    "CREATE TABLE %s.pg_extension (extname name, extnamespace oid)",
    "CREATE TABLE %s.pg_inherits (inhrelid oid, inhparent oid)",
    "CREATE TABLE %s.memory_snapshots (LIKE public.memory_snapshots)",
    "CREATE TABLE %s.backend_memory (LIKE public.memory_snapshots)",
    "CREATE TABLE %s.memory_contexts (pid integer, name text, path integer[], level integer, summarized_contexts integer, total_bytes bigint)",
  ];
  let owner: pg.Client;
  let ran: () => Promise<string[]>;

  beforeAll(async () => {
    const creator = await as(inserter);
    for (const statement of TRAPS) await creator.query(statement.replaceAll("%s", evil));
    // The superuser's session, as a pg_cron job or a monitoring script might have it.
    owner = await connectTo(DB);
    opened.push(owner);
    await owner.query(`SET search_path = ${evil}, pg_catalog, public`);
    ran = async () =>
      (await db.query<{ what: string }>(`SELECT what FROM ${evil}.ran ORDER BY 1`)).rows.map((r) => r.what);
  });

  it("the traps catch a caller that does not pin its search_path", async () => {
    await owner.query("SELECT now(), 1 = 1, 'a' || 'b'");
    expect(await ran()).toEqual(["=", "now", "||"]);
    await db.query(`TRUNCATE ${evil}.ran`);
  });

  it("pg_meminfo_snapshot calls none of them and writes to the extension's table", async () => {
    const before = Number((await db.query("SELECT count(*) AS n FROM public.memory_snapshots")).rows[0]?.n);
    const { rows } = await owner.query("SELECT public.pg_meminfo_snapshot() AS n");
    // A new day's partition too: the path that creates one.
    await owner.query("SELECT public.pg_meminfo_snapshot('2004-04-04 04:04:04+00')");
    expect(await ran()).toEqual([]);
    const after = Number((await db.query("SELECT count(*) AS n FROM public.memory_snapshots")).rows[0]?.n);
    expect(after - before).toBe(2 * Number(rows[0]?.n));
    expect((await db.query(`SELECT count(*)::int AS n FROM ${evil}.memory_snapshots`)).rows[0]?.n).toBe(0);
    expect(
      (await db.query("SELECT to_regclass('public.memory_snapshots_20040404') AS rel")).rows[0]?.rel,
    ).toBe("memory_snapshots_20040404");
  });

  it("pg_meminfo_drop_snapshots calls none of them", async () => {
    const { rows } = await owner.query(
      "SELECT partition_name FROM public.pg_meminfo_drop_snapshots('1 day')",
    );
    expect(rows).toEqual([{ partition_name: "memory_snapshots_20040404" }]);
    expect(await ran()).toEqual([]);
  });

  it("memory_context_growth calls none of them", async () => {
    const { rows } = await owner.query(
      "SELECT count(*)::int AS n FROM public.memory_context_growth(pg_catalog.pg_backend_pid(), '10 milliseconds')",
    );
    expect(rows[0]?.n).toBeGreaterThan(20);
    expect(await ran()).toEqual([]);
  });
});
