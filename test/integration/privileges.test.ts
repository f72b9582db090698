import { randomBytes } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backendPid, connect, queryError } from "../support/db.js";

const QUERIES = [
  "SELECT count(*) FROM smap_summary",
  "SELECT count(*) FROM get_all_smaps",
  "SELECT count(*) FROM get_all_smaps()",
];

describe("access is for superusers and members of pg_read_all_stats", () => {
  const suffix = randomBytes(4).toString("hex");
  const plain = `pgmi_plain_${suffix}`;
  const stats = `pgmi_stats_${suffix}`;
  let admin: pg.Client;
  const opened: pg.Client[] = [];

  beforeAll(async () => {
    admin = await connect();
    await admin.query(`CREATE ROLE ${plain} LOGIN`);
    await admin.query(`CREATE ROLE ${stats} LOGIN`);
    await admin.query(`GRANT pg_read_all_stats TO ${stats}`);
  });

  afterAll(async () => {
    for (const client of opened) await client.end().catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${plain}`);
    await admin.query(`DROP ROLE IF EXISTS ${stats}`);
    await admin.end();
  });

  async function as(role: string): Promise<pg.Client> {
    const client = await connect(role);
    opened.push(client);
    return client;
  }

  for (const query of QUERIES) {
    it(`a role without pg_read_all_stats gets 42501: ${query}`, async () => {
      const client = await as(plain);
      const error = await queryError(client, query);
      expect(error.code, error.message).toBe("42501");
    });

    it(`a superuser that SET ROLE to such a role gets 42501: ${query}`, async () => {
      const client = await as("postgres");
      await client.query(`SET ROLE ${plain}`);
      const error = await queryError(client, query);
      expect(error.code, error.message).toBe("42501");
    });

    it(`a member of pg_read_all_stats reads every backend: ${query}`, async () => {
      const client = await as(stats);
      const result = await client.query<{ count: string }>(query);
      expect(Number(result.rows[0]?.count)).toBeGreaterThan(0);
    });
  }

  it("a member of pg_read_all_stats sees other roles' backends", async () => {
    const client = await as(stats);
    const adminPid = await backendPid(admin);
    const result = await client.query("SELECT pid FROM smap_summary WHERE pid = $1", [adminPid]);
    expect(result.rows).toEqual([{ pid: adminPid }]);
  });

  it("the superuser reads every backend", async () => {
    const other = await as(stats);
    const otherPid = await backendPid(other);
    const result = await admin.query<{ pid: number }>("SELECT pid FROM smap_summary");
    expect(result.rows.map((r) => r.pid)).toContain(otherPid);
    const smaps = await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM get_all_smaps() WHERE pid = $1",
      [otherPid],
    );
    expect(Number(smaps.rows[0]?.n)).toBeGreaterThan(0);
  });
});
