/**
 * A backend that exits and whose pid is taken by a process outside the cluster: that process's memory
 * is never reported under the old backend's pid, whether the pid is taken before the listing or
 * between the listing and the read. The pid is reused on purpose through
 * /proc/sys/kernel/ns_last_pid (root only).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot } from "../../harness/run-as.js";
import { Cluster } from "../../sidecar/cluster/cluster.js";
import { copyRows } from "../../sidecar/rows/copy-rows.js";
import { ReadPool } from "../../sidecar/rows/read-pool.js";
import { parentsFrom } from "../../sidecar/rows/read-task.js";
import { backendPid, connect } from "../support/db.js";
import { columns } from "../support/fixtures.js";
import { testPool } from "../support/pool.js";

const NS_LAST_PID = "/proc/sys/kernel/ns_last_pid";

/** Starts `command` so that it gets `pid`, the pid of a process that has exited; retried a few times. */
async function spawnWithPid(pid: number, command: string, args: string[]): Promise<ChildProcess> {
  for (let attempt = 0; attempt < 10; attempt++) {
    writeFileSync(NS_LAST_PID, String(pid - 1));
    const child = spawn(command, args, { stdio: "ignore" });
    if (child.pid === pid) return child;
    child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`could not start a process with pid ${pid}`);
}

async function exitedBackend(): Promise<number> {
  const session = await connect();
  const pid = await backendPid(session);
  await session.end();
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  if (existsSync(`/proc/${pid}`)) throw new Error(`backend ${pid} did not exit`);
  return pid;
}

const canReusePids = isRoot() && existsSync(NS_LAST_PID);

describe.skipIf(!canReusePids)("a backend's pid reused by another process", () => {
  let client: pg.Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    client = await connect();
  });

  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await client?.end();
  });

  /** Rows of the FDW for `pid`, or the SQLSTATE it refused them with. */
  async function rowsFor(pid: number): Promise<{ summary: unknown[] | string; smaps: unknown[] | string }> {
    const ask = (sql: string) =>
      client.query(sql, [pid]).then(
        (r) => r.rows,
        (e: pg.DatabaseError) => e.code ?? "none",
      );
    return {
      summary: await ask("SELECT pid, pss FROM smap_summary WHERE pid = $1"),
      smaps: await ask("SELECT pid, sys_path FROM get_all_smaps WHERE pid = $1"),
    };
  }

  it.each([
    ["root", []],
    [
      "the cluster's OS user (the sidecar could read it)",
      ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"],
    ],
  ])("run by %s: no rows under the old pid, and not in the full list", async (_who, prefix) => {
    const pid = await exitedBackend();
    const command = [...prefix, "sleep", "60"];
    const child = await spawnWithPid(pid, command[0] as string, command.slice(1));
    children.push(child);
    // The pid is alive again, running sleep (setpriv execs it), and is not the postmaster's child.
    const comm = () => readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    for (let i = 0; i < 100 && comm() !== "sleep"; i++) await new Promise((r) => setTimeout(r, 20));
    expect(comm()).toBe("sleep");

    const { summary, smaps } = await rowsFor(pid);
    // Nothing: the pid is no process of the cluster.
    expect(summary).toEqual([]);
    expect(smaps).toEqual([]);
    const all = await client.query<{ pid: number }>("SELECT pid FROM smap_summary");
    expect(all.rows.map((r) => r.pid)).not.toContain(pid);
    const mappings = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM get_all_smaps WHERE sys_path LIKE '%/sleep'",
    );
    expect(mappings.rows[0]?.n).toBe(0);
    child.kill("SIGKILL");
  });

  it("taken by a new backend: its rows are the new backend's", async () => {
    const pid = await exitedBackend();
    let session: pg.Client | undefined;
    for (let attempt = 0; attempt < 10 && session === undefined; attempt++) {
      writeFileSync(NS_LAST_PID, String(pid - 1));
      const candidate = await connect(undefined, "pg-meminfo-reused-pid");
      if ((await backendPid(candidate)) === pid) session = candidate;
      else await candidate.end();
    }
    if (session === undefined) throw new Error(`no new backend got pid ${pid}`);
    try {
      const rows = await session.query<{ pid: number }>(
        "SELECT pid FROM smap_summary WHERE pid = pg_backend_pid()",
      );
      expect(rows.rows).toEqual([{ pid }]);
      const app = await client.query<{ application_name: string }>(
        "SELECT application_name FROM pg_stat_activity WHERE pid = $1",
        [pid],
      );
      expect(app.rows).toEqual([{ application_name: "pg-meminfo-reused-pid" }]);
    } finally {
      await session.end();
    }
  });
});

describe.skipIf(!canReusePids)("a backend's pid taken between the listing and the read", () => {
  const children: ChildProcess[] = [];
  const db = testPool();
  const reads = new ReadPool({ size: 0 });
  const cluster = new Cluster(db, async (pids) =>
    parentsFrom(await reads.run({ type: "parents", pids, procRoot: undefined })),
  );

  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await reads.close();
    await db.end();
  });

  /** Rows of the sidecar's streaming path for what the cluster listed, read after `between` ran. */
  async function readAfter(pid: number, between: () => Promise<void>, procRoot?: string): Promise<string> {
    const listed = await cluster.processes(new Set([pid]));
    expect([...listed.keys()]).toContain(pid);
    const membership = await cluster.membership(listed);
    await between();
    let text = "";
    for await (const chunk of copyRows(
      "summary",
      [...listed.keys()],
      columns("summary", "pid,pss"),
      {
        pool: reads,
        procRoot,
      },
      membership,
    )) {
      text += chunk.toString();
    }
    return text;
  }

  it.each([
    [
      "the cluster's OS user (not the postmaster's child)",
      ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups"],
    ],
    [
      "another OS user (its files the sidecar could not even open)",
      ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"],
    ],
  ])("run by %s, started at once: left out, nothing opened", async (_who, prefix) => {
    const session = await connect();
    const pid = await backendPid(session);
    // The process at the pid is not even opened: its memory file here is a directory, which a read
    // would fail on (PROC_UNREADABLE) if identity were checked only afterwards.
    const fixture = await mkdtemp(join(tmpdir(), "pg-meminfo-reuse-"));
    await mkdir(join(fixture, String(pid), "smaps_rollup"), { recursive: true });
    try {
      const text = await readAfter(
        pid,
        async () => {
          await session.end();
          for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++)
            await new Promise((r) => setTimeout(r, 20));
          const command = [...prefix, "sleep", "60"];
          children.push(await spawnWithPid(pid, command[0] as string, command.slice(1)));
          const comm = () => readFileSync(`/proc/${pid}/comm`, "utf8").trim();
          for (let i = 0; i < 100 && comm() !== "sleep"; i++) await new Promise((r) => setTimeout(r, 20));
          expect(comm()).toBe("sleep");
        },
        fixture,
      );
      expect(text).toBe("");
    } finally {
      await rm(fixture, { recursive: true, force: true });
    }
  });
});
