import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authorize } from "../../sidecar/cluster/authorize.js";
import { deadPool, one, testPool } from "../support/pool.js";

const pool = testPool();
const suffix = `${process.pid}_${Date.now()}`;
const plain = `mi_plain_${suffix}`;
const granted = `mi_granted_${suffix}`;
const inherits = `mi_inherits_${suffix}`;
const odd = `Mi Odd ${suffix}`;
const noinherit = `mi_noinherit_${suffix}`;

async function oid(role: string): Promise<string> {
  return String(await one<number>(pool, "SELECT oid::int FROM pg_roles WHERE rolname = $1", [role]));
}

beforeAll(async () => {
  await pool.query(`CREATE ROLE ${plain}`);
  await pool.query(`CREATE ROLE ${granted} IN ROLE pg_read_all_stats`);
  await pool.query(`CREATE ROLE ${inherits} IN ROLE ${granted}`);
  await pool.query(`CREATE ROLE "${odd}"`);
  await pool.query(`CREATE ROLE ${noinherit} NOINHERIT IN ROLE pg_read_all_stats`);
});

afterAll(async () => {
  for (const role of [inherits, granted, plain, noinherit]) await pool.query(`DROP ROLE IF EXISTS ${role}`);
  await pool.query(`DROP ROLE IF EXISTS "${odd}"`);
  await pool.end();
});

describe("authorize", () => {
  it("allows a superuser", async () => {
    await expect(authorize(pool, await oid("postgres"))).resolves.toBeUndefined();
  });

  it("allows pg_read_all_stats, directly or through another role", async () => {
    await expect(authorize(pool, await oid(granted))).resolves.toBeUndefined();
    await expect(authorize(pool, await oid(inherits))).resolves.toBeUndefined();
  });

  it("denies a plain role with a GRANT hint naming it", async () => {
    await expect(authorize(pool, await oid(plain))).rejects.toMatchObject({
      code: "FORBIDDEN",
      statusCode: 403,
      sqlstate: "42501",
      message: expect.stringContaining("pg_read_all_stats"),
      hint: `GRANT pg_read_all_stats TO ${plain};`,
    });
    await expect(authorize(pool, await oid(odd))).rejects.toMatchObject({
      hint: `GRANT pg_read_all_stats TO "${odd}";`,
    });
  });

  it("denies a member that does not inherit pg_read_all_stats, with a hint that is not the GRANT it has", async () => {
    await expect(authorize(pool, await oid(noinherit))).rejects.toMatchObject({
      code: "FORBIDDEN",
      detail: `Role ${noinherit} is a member of pg_read_all_stats but does not inherit its privileges.`,
      hint: expect.stringContaining(`ALTER ROLE ${noinherit} INHERIT`),
    });
  });

  it("denies an OID that is no role", async () => {
    await expect(authorize(pool, "4294967295")).rejects.toMatchObject({
      code: "FORBIDDEN",
      detail: "No role has OID 4294967295.",
    });
  });

  it("reports an unreachable cluster as DATABASE_UNAVAILABLE", async () => {
    const dead = deadPool();
    await expect(authorize(dead, "10")).rejects.toMatchObject({
      code: "DATABASE_UNAVAILABLE",
      sqlstate: "08006",
    });
    await dead.end();
  });
});
