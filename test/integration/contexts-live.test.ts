import { isAbsolute, join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import type { ContextDump } from "../../sidecar/contexts/dump-parser.js";
import { ContextDumper } from "../../sidecar/contexts/dumper.js";
import { LogFollower } from "../../sidecar/contexts/log-follower.js";
import type { LogDestination } from "../../sidecar/contexts/log-records.js";

let cluster: ThrowawayCluster;
let control: pg.Client;
let holder: pg.Client;
let holding: Promise<unknown>;
let holderPid: number;
let major: number;
const BIG = 64 * 1024 * 1024;

beforeAll(async () => {
  // Its own cluster, logging through the collector to stderr, csvlog and jsonlog files at once.
  cluster = await ThrowawayCluster.create({
    prefix: "pg-meminfo-contexts-live-",
    settings: { log_destination: "'stderr,csvlog,jsonlog'" },
  });
  await cluster.start();
  control = await cluster.connect("postgres", cluster.user, "control");
  holder = await cluster.connect("postgres", cluster.user, "holder");
  major = Math.floor(
    Number((await control.query("SHOW server_version_num")).rows[0].server_version_num) / 10000,
  );
  holderPid = (await holder.query("SELECT pg_backend_pid() AS pid")).rows[0].pid;
  // A PL/pgSQL variable of 64 MB, held while the session sleeps (pg_sleep answers interrupts).
  holding = holder
    .query(`DO $$ DECLARE s text := repeat('x', ${BIG}); BEGIN PERFORM pg_sleep(60); END $$`)
    .catch(() => undefined);
  // Wait until the variable exists.
  for (let i = 0; i < 100; i++) {
    const { rows } = await control.query("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", [
      holderPid,
    ]);
    if (rows[0]?.wait_event === "PgSleep") break;
    await new Promise((r) => setTimeout(r, 50));
  }
});

afterAll(async () => {
  await control?.query("SELECT pg_terminate_backend($1)", [holderPid]).catch(() => undefined);
  await holding;
  await holder?.end().catch(() => undefined);
  await control?.end().catch(() => undefined);
  await cluster?.destroy();
});

function dumperFor(client: pg.Client, destination: LogDestination, triggerClient = client): ContextDumper {
  const format = destination === "csvlog" ? "csvlog" : destination;
  return new ContextDumper({
    // The simple query protocol (no parameters): no unnamed prepared statement of its own in the dump.
    trigger: async (pid) =>
      (await triggerClient.query(`SELECT pg_log_backend_memory_contexts(${Number(pid)}) AS ok`)).rows[0]
        .ok === true,
    startFollower: () => LogFollower.start({ currentPath: () => currentLogfile(client, format) }),
    destination,
    linePrefix: PREFIX,
    majorVersion: major,
  });
}

/** The throwaway cluster's log_line_prefix. */
const PREFIX = "%m [%p] %q%u@%d ";

/** pg_current_logfile(format) as an absolute path. */
async function currentLogfile(client: pg.Client, format: string): Promise<string | null> {
  const { rows } = await client.query<{ path: string | null }>("SELECT pg_current_logfile($1) AS path", [
    format,
  ]);
  const path = rows[0]?.path ?? null;
  return path === null || isAbsolute(path) ? path : join(cluster.dataDir, path);
}

const sum = (dump: ContextDump, key: "totalBytes" | "freeBytes" | "totalNblocks" | "freeChunks") =>
  dump.rows.reduce((acc, r) => acc + BigInt(r[key]), 0n);

describe("memory contexts of a live backend, through the server log", () => {
  for (const destination of ["stderr", "csvlog", "jsonlog"] as const) {
    it(`${destination}: the context that holds a 64 MB variable shows about 64 MB, and rows add up`, async () => {
      const dump = await dumperFor(control, destination).dump(holderPid, { timeoutMs: 10_000 });
      const largest = [...dump.rows].sort((a, b) => Number(BigInt(b.totalBytes) - BigInt(a.totalBytes)))[0];
      expect(largest?.name).toBe("SPI Proc");
      expect(Number(largest?.totalBytes)).toBeGreaterThan(BIG);
      expect(Number(largest?.totalBytes)).toBeLessThan(BIG * 1.01);
      expect(sum(dump, "totalBytes")).toBe(BigInt(dump.grandTotal.totalBytes));
      expect(sum(dump, "freeBytes")).toBe(BigInt(dump.grandTotal.freeBytes));
      expect(sum(dump, "totalNblocks")).toBe(BigInt(dump.grandTotal.totalNblocks));
      expect(sum(dump, "freeChunks")).toBe(BigInt(dump.grandTotal.freeChunks));
    });
  }

  it("dumps the calling backend itself, matching its pg_backend_memory_contexts in names and levels", async () => {
    const self = await cluster.connect("postgres", cluster.user, "self");
    try {
      const pid = (await self.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
      // Let the view's first use build the caches it needs, so that both readings see them.
      await self.query("SELECT count(*) FROM pg_backend_memory_contexts");
      const dump = await dumperFor(control, "csvlog", self).dump(pid, { timeoutMs: 10_000 });
      const { rows } = await self.query<{ name: string; level: number; parent: string | null }>(
        "SELECT name, level, parent FROM pg_backend_memory_contexts",
      );
      // Contexts of the statement running at each moment (the dump ran inside the trigger's
      // statement, the view inside its own) differ; the rest of the tree is the session's.
      const transient = new Set([
        "TopPortalContext",
        "PortalContext",
        "ExecutorState",
        "ExprContext",
        "MessageContext",
      ]);
      const stable = (list: { name: string | null; level: number; parent: string | null }[]) =>
        list
          .filter((r) => r.name !== null && !transient.has(r.name) && !transient.has(r.parent ?? ""))
          .map((r) => `${r.level} ${r.name}`)
          .sort();
      expect(stable(dump.rows)).toEqual(stable(rows));
      expect(dump.rows.filter((r) => r.summarizedContexts !== null)).toEqual([]);
    } finally {
      await self.end();
    }
  });
});
