import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import {
  Cluster,
  defaultSocketPath,
  firstSocketDirectory,
  parentPidFromStat,
  socketPathFor,
} from "../../sidecar/cluster/cluster.js";
import { deadPool, one, testPool } from "../support/pool.js";

describe("socket path helpers", () => {
  it("takes the first unix_socket_directories entry, trimmed or unquoted", () => {
    expect(firstSocketDirectory(" /var/run/postgresql , /tmp")).toBe("/var/run/postgresql");
    expect(firstSocketDirectory('"/odd, dir", /tmp')).toBe("/odd, dir");
    expect(firstSocketDirectory('"a""b"')).toBe('a"b');
    expect(firstSocketDirectory("")).toBeNull();
  });

  it("resolves a relative directory against the data directory", () => {
    expect(socketPathFor("sock", 5432, "/srv/pg")).toBe("/srv/pg/sock/.s.PGMEMINFO.5432/sidecar.sock");
    expect(socketPathFor("/tmp", "5499", "/srv/pg")).toBe("/tmp/.s.PGMEMINFO.5499/sidecar.sock");
  });

  it("reads the parent pid of a stat line whose command has spaces and parentheses", () => {
    expect(parentPidFromStat("123 (postgres: a (b) c) S 77 123 123 0")).toBe(77);
    expect(parentPidFromStat("garbage")).toBeNull();
  });
});

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
      const pids = await new Cluster(pool).backendPids();
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
    await expect(new Cluster(dead).backendPids()).rejects.toMatchObject({
      code: "DATABASE_UNAVAILABLE",
      statusCode: 503,
      sqlstate: "08006",
    });
    await expect(defaultSocketPath(dead)).rejects.toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    await dead.end();
  });
});
