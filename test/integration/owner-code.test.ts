/**
 * Whose privileges a scan runs with. A role that may only create foreign tables on the server must
 * not get its code run by whoever queries them (column defaults, domain checks), and a view runs its
 * scans with its owner's privileges, as PostgreSQL checks the table's.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, queryError } from "../support/db.js";

const suffix = randomBytes(4).toString("hex");
const creator = `pgmi_creator_${suffix}`;
const monitor = `pgmi_monitor_${suffix}`;
const plain = `pgmi_viewer_${suffix}`;
const schema = `pgmi_owned_${suffix}`;

let admin: pg.Client;
const opened: pg.Client[] = [];

async function as(role: string): Promise<pg.Client> {
  const client = await connect(role);
  opened.push(client);
  return client;
}

beforeAll(async () => {
  admin = await connect();
  for (const role of [creator, monitor, plain]) await admin.query(`CREATE ROLE ${role} LOGIN`);
  await admin.query(`GRANT pg_read_all_stats TO ${monitor}`);
  await admin.query(`GRANT USAGE ON FOREIGN SERVER pg_meminfo TO ${creator}`);
  await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${creator}`);
  await admin.query(`GRANT CREATE, USAGE ON SCHEMA ${schema} TO ${monitor}`);
  await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO PUBLIC`);
  // What the creator's code did, and as whom: written by a function anyone may call.
  await admin.query(`CREATE TABLE ${schema}.ran (who text)`);
  await admin.query(`GRANT INSERT ON ${schema}.ran TO PUBLIC`);
});

afterAll(async () => {
  for (const client of opened) await client.end().catch(() => undefined);
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.query(`REVOKE USAGE ON FOREIGN SERVER pg_meminfo FROM ${creator}`);
  for (const role of [creator, monitor, plain]) await admin.query(`DROP ROLE IF EXISTS ${role}`);
  await admin.end();
});

async function ran(): Promise<string[]> {
  return (await admin.query<{ who: string }>(`SELECT who FROM ${schema}.ran`)).rows.map((r) => r.who);
}

describe("a table's owner cannot run code as whoever queries it", () => {
  beforeAll(async () => {
    const c = await as(creator);
    await c.query(
      `CREATE FUNCTION ${schema}.trap() RETURNS bigint LANGUAGE sql VOLATILE AS ` +
        `$$ INSERT INTO ${schema}.ran VALUES (current_user) RETURNING 0::bigint $$`,
    );
    await c.query(
      `CREATE FUNCTION ${schema}.trap_check(integer) RETURNS boolean LANGUAGE sql VOLATILE AS ` +
        `$$ INSERT INTO ${schema}.ran VALUES (current_user) RETURNING true $$`,
    );
    await c.query(`CREATE DOMAIN ${schema}.trapped_pid AS integer CHECK (${schema}.trap_check(VALUE))`);
    await c.query(
      `CREATE FOREIGN TABLE ${schema}.with_default (pid integer, pss bigint DEFAULT ${schema}.trap()) ` +
        "SERVER pg_meminfo OPTIONS (source 'summary')",
    );
    await c.query(
      `CREATE FOREIGN TABLE ${schema}.with_domain (pid ${schema}.trapped_pid) ` +
        "SERVER pg_meminfo OPTIONS (source 'summary')",
    );
    await c.query(`GRANT SELECT ON ${schema}.with_default, ${schema}.with_domain TO PUBLIC`);
  });

  it("a column DEFAULT: the superuser's count(*) is refused and the default never runs", async () => {
    const failure = await queryError(admin, `SELECT count(*) FROM ${schema}.with_default`);
    expect(failure.code).toBe("0A000");
    expect(failure.message).toBe(
      'column "pss" of foreign table "with_default" has a default or generation expression',
    );
    expect(failure.hint).toBe(
      `Drop it: ALTER FOREIGN TABLE ${schema}.with_default ALTER COLUMN pss DROP DEFAULT;`,
    );
    expect(await ran()).toEqual([]);
  });

  it("a domain with a CHECK: refused, and the check never runs", async () => {
    const failure = await queryError(admin, `SELECT pid FROM ${schema}.with_domain`);
    expect(failure.code).toBe("0A000");
    expect(failure.message).toMatch(/has type .*trapped_pid, which is not built in/);
    expect(await ran()).toEqual([]);
  });

  it("without them, the same table reads as any other", async () => {
    const c = await as(creator);
    await c.query(`ALTER FOREIGN TABLE ${schema}.with_default ALTER COLUMN pss DROP DEFAULT`);
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.with_default WHERE pss > 0`,
    );
    expect(rows[0]?.n).toBeGreaterThan(0);
    expect(await ran()).toEqual([]);
  });
});

describe("a view reads with its owner's privileges, as PostgreSQL checks the table's", () => {
  beforeAll(async () => {
    const m = await as(monitor);
    await m.query(`CREATE VIEW ${schema}.summary_of_all AS SELECT pid, pss FROM public.smap_summary`);
    await m.query(
      `CREATE VIEW ${schema}.memory_of_all AS SELECT pid, backend_type, uss_bytes FROM public.backend_memory`,
    );
    await m.query(
      `CREATE VIEW ${schema}.summary_invoker WITH (security_invoker = true) AS SELECT pid FROM public.smap_summary`,
    );
    await m.query(
      `GRANT SELECT ON ${schema}.summary_of_all, ${schema}.memory_of_all, ${schema}.summary_invoker TO ${plain}`,
    );
  });

  it("a monitoring role's view over smap_summary, granted to a plain role, answers it", async () => {
    const p = await as(plain);
    // The plain role itself may not read the table.
    expect((await queryError(p, "SELECT count(*) FROM smap_summary")).code).toBe("42501");
    const { rows } = await p.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.summary_of_all`);
    expect(rows[0]?.n).toBeGreaterThan(1);
  });

  it("a view over backend_memory works too, the postmaster included (its pid function is public)", async () => {
    const p = await as(plain);
    const { rows } = await p.query<{ backend_type: string }>(
      `SELECT backend_type FROM ${schema}.memory_of_all WHERE uss_bytes > 0`,
    );
    expect(rows.map((r) => r.backend_type)).toContain("postmaster");
  });

  it("a security_invoker view checks the role that queries it: 42501 for the plain role", async () => {
    const p = await as(plain);
    expect((await queryError(p, `SELECT count(*) FROM ${schema}.summary_invoker`)).code).toBe("42501");
    // Even with SELECT on the table itself: the wrapper's own check is of the querying role.
    await admin.query(`GRANT SELECT ON smap_summary TO ${plain}`);
    try {
      const failure = await queryError(p, `SELECT count(*) FROM ${schema}.summary_invoker`);
      expect(failure.code).toBe("42501");
      expect(failure.message).toBe("permission denied to read memory maps of PostgreSQL processes");
    } finally {
      await admin.query(`REVOKE SELECT ON smap_summary FROM ${plain}`);
    }
  });

  it("a view owned by a role that lost pg_read_all_stats answers no one", async () => {
    await admin.query(`REVOKE pg_read_all_stats FROM ${monitor}`);
    try {
      const p = await as(plain);
      const failure = await queryError(p, `SELECT count(*) FROM ${schema}.summary_of_all`);
      expect(failure.code).toBe("42501");
    } finally {
      await admin.query(`GRANT pg_read_all_stats TO ${monitor}`);
    }
  });
});
