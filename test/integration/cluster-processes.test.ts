import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { Cluster } from "../../sidecar/cluster/cluster.js";
import { defaultSocketPath } from "../../sidecar/cluster/socket-path.js";
import { ScratchBuffer } from "../../sidecar/proc/proc-file.js";
import { readParents } from "../../sidecar/proc/process-stat.js";
import { deadPool, one, testPool } from "../support/pool.js";

/** The parents of pids, read directly (the sidecar reads them on its read pool). */
const parents = async (pids: number[]) => readParents(pids, new ScratchBuffer(1024));

describe("on the test cluster", () => {
  const pool = testPool();
  afterAll(() => pool.end());

  it("derives the default socket path the harness's sidecar listens on", async () => {
    expect(await defaultSocketPath(pool)).toBe(
      join(inject("pgHost"), `.s.PGMEMINFO.${inject("pgPort")}`, "sidecar.sock"),
    );
  });

  it("lists the backends and the postmaster", async () => {
    const postmaster = Number(readFileSync(join(inject("dataDir"), "postmaster.pid"), "utf8").split("\n")[0]);
    const client = await pool.connect();
    try {
      const mine = await one<number>(pool, "SELECT count(*)::int FROM pg_stat_activity");
      const me = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
      const pids = [...(await new Cluster(pool, parents).processes()).keys()];
      expect(pids).toContain(postmaster);
      expect(pids).toContain(me);
      expect(pids.length).toBeGreaterThanOrEqual(mine);
      expect([...pids].sort((a, b) => a - b)).toEqual(pids);
    } finally {
      client.release();
    }
  });

  it("raises DATABASE_UNAVAILABLE when the cluster cannot be reached", async () => {
    const dead = deadPool();
    await expect(new Cluster(dead, parents).processes()).rejects.toMatchObject({
      code: "DATABASE_UNAVAILABLE",
      statusCode: 503,
      sqlstate: "08006",
    });
    await expect(defaultSocketPath(dead)).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    await dead.end();
  });
});
