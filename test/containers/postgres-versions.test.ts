/**
 * pg_meminfo end to end in containers, on each PostgreSQL version Debian packages: 15 (bookworm),
 * 17 (trixie) and 18 (sid). For each, the db image (the FDW built with -Werror against that version's
 * headers) and the sidecar image run as docker-compose.yml runs them (see stack.ts), and the checks run
 * inside them with docker exec: psql in the db container, /proc read in the db container.
 *
 * Without a container engine the suite is skipped with the reason; with CI=true it fails instead.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ContainerProcess, containerProcesses, containerRollups } from "./container-proc.js";
import { findEngine, MUST_RUN } from "./engine.js";
import { type BuiltImage, ensureImage, postgresImage, SIDECAR_IMAGE, SUITES } from "./images.js";
import { removeLeftovers, SIDECAR_SOCKET, Stack } from "./stack.js";

const VERSIONS = Object.keys(SUITES).map(Number);
/** A cold build of the four images takes about 8 minutes on 2 cores; a reused one, seconds. */
const BUILD_TIMEOUT_MS = 30 * 60_000;
const TEST_TIMEOUT_MS = 120_000;

const engine = await findEngine();
if (engine.client === undefined && !MUST_RUN) {
  console.log(`containers: skipped: ${engine.reason}`);
}

if (engine.client === undefined && MUST_RUN) {
  describe("the container suite in CI", () => {
    it("has a container engine (CI=true: it must run)", () => {
      throw new Error(engine.reason);
    });
  });
}

/** The logging collector: a child of the postmaster that pg_stat_activity does not list. */
const isLogger = (process: ContainerProcess) => /^postgres: logger\b/.test(process.title);

describe.skipIf(engine.client === undefined)("pg_meminfo in containers", { timeout: TEST_TIMEOUT_MS }, () => {
  const client = engine.client;
  if (client === undefined) return;
  let sidecarImage: Promise<BuiltImage> | undefined;

  beforeAll(async () => {
    const removed = await removeLeftovers(client);
    if (removed > 0) console.log(`containers: removed ${removed} containers left by an earlier run`);
  }, TEST_TIMEOUT_MS);

  function report(what: string, image: BuiltImage): void {
    console.log(
      `containers: ${what}: ${image.tag} ${image.reused ? "reused" : `built in ${image.seconds} s`}`,
    );
  }

  describe.each(VERSIONS)("PostgreSQL %i", (major) => {
    let stack: Stack;

    beforeAll(async () => {
      sidecarImage ??= ensureImage(client, SIDECAR_IMAGE).then((image) => {
        report("sidecar", image);
        return image;
      });
      const [postgres, sidecar] = await Promise.all([
        ensureImage(client, postgresImage(major)),
        sidecarImage,
      ]);
      report(`PostgreSQL ${major}`, postgres);
      stack = await Stack.start(client, major, { postgres: postgres.tag, sidecar: sidecar.tag });
    }, BUILD_TIMEOUT_MS);

    afterAll(async () => {
      await stack?.stop();
    }, TEST_TIMEOUT_MS);

    it(`runs PostgreSQL ${major}`, async () => {
      const [row] = await stack.rows<{ major: number }>(
        "SELECT current_setting('server_version_num')::int / 10000 AS major",
      );
      expect(row?.major).toBe(major);
    });

    it("loads the extension built against its headers, pointed at the sidecar's socket", async () => {
      await stack.run("CREATE EXTENSION pg_meminfo");
      await stack.run(`ALTER SERVER pg_meminfo OPTIONS (ADD socket '${SIDECAR_SOCKET}')`);
      const rows = await stack.rows<{ extversion: string; default_version: string }>(
        "SELECT e.extversion, a.default_version FROM pg_extension e " +
          "JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'pg_meminfo'",
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]?.extversion).toBe(rows[0]?.default_version);
    });

    it("has a row for every PostgreSQL process of the db container, and for no other process", async () => {
      const before = await containerProcesses(stack.db);
      // Each query's own backend comes and goes with it: `me` names it.
      const summary = await stack.rows<{ pid: number; me: number }>(
        "SELECT pid, pg_backend_pid() AS me FROM smap_summary",
      );
      const memory = await stack.rows<{ pid: number; me: number; backend_type: string; rss_bytes: number }>(
        "SELECT pid, pg_backend_pid() AS me, backend_type, rss_bytes FROM backend_memory",
      );
      const after = await containerProcesses(stack.db);
      const detail = JSON.stringify({ before, summary, memory });

      // Everything in the container is the postmaster (pid 1) and its children: no other program runs.
      expect(before.filter((p) => p.pid !== 1 && p.ppid !== 1)).toEqual([]);
      const stable = before
        .filter((p) => after.some((q) => q.pid === p.pid) && !isLogger(p))
        .map((p) => p.pid);
      expect(stable.length, detail).toBeGreaterThanOrEqual(5);
      const inContainer = new Set([...before, ...after].map((p) => p.pid));
      for (const [name, rows] of [
        ["smap_summary", summary],
        ["backend_memory", memory],
      ] as const) {
        const pids = rows.map((row) => row.pid);
        expect(new Set(pids).size, `${name}: one row per process`).toBe(pids.length);
        expect(
          stable.filter((pid) => !pids.includes(pid)),
          `${name} misses processes: ${detail}`,
        ).toEqual([]);
        const strangers = pids.filter((pid) => !inContainer.has(pid) && pid !== rows[0]?.me);
        expect(strangers, `${name} lists strangers: ${detail}`).toEqual([]);
      }
      for (const row of memory) expect(row.rss_bytes, `rss of ${row.backend_type}`).toBeGreaterThan(0);
      expect(memory.find((row) => row.pid === 1)?.backend_type).toBe("postmaster");
    });

    it("agrees with the container's /proc/PID/smaps_rollup", async () => {
      const processes = await containerProcesses(stack.db);
      const pids = processes
        .filter((p) => /^postgres: (checkpointer|background writer)/.test(p.title))
        .map((p) => p.pid);
      expect(pids.length, JSON.stringify(processes)).toBe(2);
      const columns = ["mem_size", "rss", "private_clean", "private_dirty", "anonymous", "swap"];
      const fields = ["VmSize", "Rss", "Private_Clean", "Private_Dirty", "Anonymous", "Swap"];
      const query = `SELECT pid, ${columns.join(", ")}, pss FROM smap_summary WHERE pid IN (${pids.join(", ")}) ORDER BY pid`;
      const attempts: string[] = [];
      for (let attempt = 0; attempt < 10; attempt++) {
        const proc = await containerRollups(stack.db, pids);
        const rows = await stack.rows<Record<string, number>>(query);
        const again = await containerRollups(stack.db, pids);
        const sql = rows.map((row) => columns.map((column) => row[column]));
        const fromProc = pids.map((pid) => fields.map((field) => proc.get(pid)?.[field]));
        const steady = JSON.stringify([...proc]) === JSON.stringify([...again]);
        if (steady && JSON.stringify(sql) === JSON.stringify(fromProc)) {
          for (const row of rows) expect(row.pss).toBeLessThanOrEqual(Number(row.rss));
          return;
        }
        attempts.push(`sql ${JSON.stringify(sql)} /proc ${JSON.stringify(fromProc)} steady ${steady}`);
      }
      throw new Error(`smap_summary never matched /proc:\n${attempts.join("\n")}`);
    });

    it("pushes a pid condition down to the sidecar", async () => {
      const [checkpointer] = (await containerProcesses(stack.db)).filter((p) =>
        p.title.startsWith("postgres: checkpointer"),
      );
      expect(checkpointer).toBeDefined();
      const pid = checkpointer?.pid ?? 0;
      const plan = (
        await stack.run(`EXPLAIN VERBOSE SELECT pid, rss FROM smap_summary WHERE pid = ${pid}`)
      ).split("\n");
      expect(
        plan.filter((line) => new RegExp(`Sidecar Pid Filter: .*\\b${pid}\\b`).test(line)),
        plan.join("\n"),
      ).toHaveLength(1);
      expect(await stack.rows(`SELECT pid FROM smap_summary WHERE pid = ${pid}`)).toEqual([{ pid }]);
      // The sidecar got the pid in its request, and so read that one process.
      const requests = (await stack.sidecarLog()).match(/"url":"\/v1\/summary\?[^"]*"/g) ?? [];
      expect(
        requests.filter((url) => url.endsWith(`&pid=${pid}"`)),
        requests.join("\n"),
      ).not.toEqual([]);
    });

    it("reads the memory contexts of a backend from the server log, numbered as that version numbers them", async () => {
      // The log line format differs between 15/16, 17 and 18; 18 numbers levels from 1.
      const top = major >= 18 ? 1 : 0;
      const [own] = await stack.rows<{ names: string[]; levels: number[]; total: string; view: string }>(
        `SELECT array_agg(name ORDER BY name) FILTER (WHERE level = ${top}) AS names,
                array_agg(DISTINCT level ORDER BY level) AS levels,
                sum(total_bytes)::text AS total,
                (SELECT total_bytes::text FROM backend_memory_contexts_top WHERE pid = pg_backend_pid()) AS view
           FROM memory_contexts WHERE pid = pg_backend_pid()`,
      );
      expect(own?.names).toEqual(["TopMemoryContext"]);
      expect(own?.levels.slice(0, 3)).toEqual([top, top + 1, top + 2]);
      expect(Number(own?.total)).toBeGreaterThan(256 * 1024);
      expect(Number(own?.view)).toBeGreaterThan(256 * 1024);
      const checkpointer = (await containerProcesses(stack.db)).find((p) =>
        p.title.startsWith("postgres: checkpointer"),
      );
      const [other] = await stack.rows<{ n: number }>(
        `SELECT count(*)::int AS n FROM memory_contexts WHERE pid = ${checkpointer?.pid ?? 0} AND name = 'TopMemoryContext'`,
      );
      expect(other?.n).toBe(1);
    });

    it("refuses a role without pg_read_all_stats with 42501", async () => {
      const role = `plain_${randomBytes(3).toString("hex")}`;
      const password = randomBytes(12).toString("hex");
      await stack.run(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
      try {
        for (const table of [
          "smap_summary",
          "get_all_smaps",
          "backend_memory_by_kind",
          "memory_contexts WHERE pid = 1",
        ]) {
          const result = await stack.psql(`SELECT count(*) FROM ${table}`, { user: role, password });
          expect(result.exitCode, result.stdout).not.toBe(0);
          expect(result.stderr).toMatch(/ERROR: {2}42501: /);
        }
      } finally {
        await stack.run(`DROP ROLE ${role}`);
      }
    });
  });
});
