import pg from "pg";
import { inject } from "vitest";

/** A pool on the test cluster, as the sidecar would have it. */
export function testPool(): pg.Pool {
  return new pg.Pool({
    host: inject("pgHost"),
    port: inject("pgPort"),
    user: inject("pgUser"),
    database: "postgres",
    max: 3,
  });
}

/** A pool aimed at a port where no cluster listens. */
export function deadPool(): pg.Pool {
  const pool = new pg.Pool({ host: inject("pgHost"), port: 1, user: "postgres", database: "postgres" });
  pool.on("error", () => {});
  return pool;
}

export async function one<T>(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await pool.query(sql, params);
  if (rows.length !== 1) throw new Error(`expected one row from ${sql}`);
  return Object.values(rows[0] as object)[0] as T;
}
