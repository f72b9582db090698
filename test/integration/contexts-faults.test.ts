/**
 * memory_contexts when things go wrong, on the run's cluster and its real log: a backend that exits
 * before it dumps, one that cannot answer (stopped) past the dump timeout, a log the sidecar cannot
 * read, a log_line_prefix without %p. A second sidecar reads the log named by --server-log.
 */
import { chmod, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { SidecarProcess } from "../../harness/sidecar-process.js";
import { whileStopped } from "../support/backends.js";
import { backendPid, connect } from "../support/db.js";
import { runClusterLogFile, startSidecarAt } from "../support/extra-sidecar.js";
import { failure } from "../support/foreign-server.js";
import { privateDir } from "../support/private-dir.js";

let admin: pg.Client;
let target: pg.Client;
let targetPid: number;

beforeAll(async () => {
  admin = await connect();
});

afterAll(async () => {
  await admin.end();
});

async function newTarget(): Promise<void> {
  target = await connect(undefined, "contexts-target");
  target.on("error", () => {});
  targetPid = await backendPid(target);
}

/** Runs the query until it fails (a reload reaches the sidecar's connection a moment later). */
async function eventualFailure(query: string): Promise<Awaited<ReturnType<typeof failure>>> {
  for (let i = 0; i < 100; i++) {
    try {
      await admin.query(query);
    } catch {
      return failure(admin, query);
    }
    await sleep(50);
  }
  throw new Error(`still no failure: ${query}`);
}

describe("memory_contexts of a backend that exits or cannot answer", () => {
  beforeAll(newTarget);
  afterAll(() => target.end().catch(() => undefined));

  it("a backend that exits before it logs its contexts: a clear error naming the pid", async () => {
    // The dump is asked for while the backend is stopped; then it is terminated, and dies on SIGCONT
    // before it gets to the dump (a pending termination comes first).
    let pending: ReturnType<typeof failure> | undefined;
    await whileStopped(targetPid, async () => {
      pending = failure(admin, `SELECT * FROM memory_contexts WHERE pid = ${targetPid}`);
      await sleep(300);
      const other = await connect();
      await other.query("SELECT pg_terminate_backend($1)", [targetPid]);
      await other.end();
    });
    const error = await (pending as ReturnType<typeof failure>);
    expect(error.code).toBe("55000");
    expect(error.message).toBe(`PID ${targetPid} exited before it logged its memory contexts`);
    expect(error.hint).toContain("exited or been terminated");
  });
});

describe("a sidecar reading --server-log, with --dump-timeout 1", () => {
  let dir: string;
  let sidecar: SidecarProcess;

  beforeAll(async () => {
    await newTarget();
    dir = await privateDir("pg-meminfo-contexts-");
    const socket = join(dir, "sidecar.sock");
    sidecar = await startSidecarAt(socket, undefined, [
      "--server-log",
      runClusterLogFile(),
      "--dump-timeout",
      "1",
    ]);
    await admin.query("DROP SERVER IF EXISTS ctx_log CASCADE");
    await admin.query(
      `CREATE SERVER ctx_log FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (socket '${socket}', timeout '5')`,
    );
    await admin.query(
      "CREATE FOREIGN TABLE ctx_log_contexts (pid integer, name text, level integer, total_bytes bigint) " +
        "SERVER ctx_log OPTIONS (source 'contexts')",
    );
  });

  afterAll(async () => {
    await admin.query("DROP SERVER IF EXISTS ctx_log CASCADE");
    await sidecar?.stop();
    await rm(dir, { recursive: true, force: true });
    await target.end();
  });

  it("reads the dump from the file it was given", async () => {
    const { rows } = await admin.query<{ name: string; level: number }>(
      `SELECT name, level FROM ctx_log_contexts WHERE pid = ${targetPid} LIMIT 1`,
    );
    expect(rows).toEqual([{ name: "TopMemoryContext", level: 0 }]);
  });

  it("a backend that does not answer within the dump timeout: 57014 naming the pid and the timeout", async () => {
    const started = performance.now();
    const error = await whileStopped(targetPid, () =>
      failure(admin, `SELECT * FROM ctx_log_contexts WHERE pid = ${targetPid}`),
    );
    expect(error.code).toBe("57014");
    expect(error.message).toBe(`memory context dump of PID ${targetPid} did not complete within 1000 ms`);
    expect(error.detail).toBe("Nothing of its dump appeared in the server log.");
    expect(error.hint).toContain("holding off interrupts");
    expect(performance.now() - started).toBeLessThan(4000);
  });
});

describe("a server log the sidecar cannot read", () => {
  beforeAll(newTarget);
  afterAll(() => target.end());

  it("a log file it may not open: 58030, and the hint names log_file_mode", async () => {
    const log = runClusterLogFile();
    await chmod(log, 0o000);
    try {
      const error = await failure(admin, `SELECT * FROM memory_contexts WHERE pid = ${targetPid}`);
      expect(error.code).toBe("58030");
      expect(error.message).toBe(`cannot read the server log "${log}": permission denied`);
      expect(error.hint).toContain("log_file_mode = 0640");
    } finally {
      await chmod(log, 0o600);
    }
    const { rows } = await admin.query(
      `SELECT count(*)::int AS n FROM memory_contexts WHERE pid = ${targetPid}`,
    );
    expect(rows[0]?.n).toBeGreaterThan(50);
  });

  it("a stderr log_line_prefix without %p: 22023, and the hint says to add it", async () => {
    await admin.query("ALTER SYSTEM SET log_line_prefix = '%m '");
    await admin.query("SELECT pg_reload_conf()");
    try {
      const error = await eventualFailure(`SELECT * FROM memory_contexts WHERE pid = ${targetPid}`);
      expect(error.code).toBe("22023");
      expect(error.message).toBe(
        "log_line_prefix '%m ' has no %p: stderr log lines do not say which process wrote them",
      );
      expect(error.hint).toContain("Add %p to log_line_prefix");
    } finally {
      await admin.query("ALTER SYSTEM RESET log_line_prefix");
      await admin.query("SELECT pg_reload_conf()");
    }
    // Back to a prefix with %p: dumps work again once the reload is seen.
    for (let i = 0; i < 100; i++) {
      const ok = await admin
        .query(`SELECT count(*)::int AS n FROM memory_contexts WHERE pid = ${targetPid}`)
        .then(() => true)
        .catch(() => false);
      if (ok) return;
      await sleep(50);
    }
    throw new Error("dumps did not work again after log_line_prefix was reset");
  });
});

describe("a sidecar whose role may not call pg_log_backend_memory_contexts", () => {
  const role = `pgmi_ctx_sidecar_${process.pid}`;
  let dir: string;
  let sidecar: SidecarProcess | undefined;

  beforeAll(async () => {
    await newTarget();
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    dir = await privateDir("pg-meminfo-contexts-role-");
    const socket = join(dir, "sidecar.sock");
    // The last --database wins: the run's cluster, as that role.
    const database = `host=${inject("pgHost")} port=${inject("pgPort")} user=${role} dbname=postgres`;
    sidecar = await startSidecarAt(socket, undefined, ["--database", database]);
    await admin.query("DROP SERVER IF EXISTS ctx_role CASCADE");
    await admin.query(
      `CREATE SERVER ctx_role FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (socket '${socket}', timeout '5')`,
    );
    await admin.query(
      "CREATE FOREIGN TABLE ctx_role_contexts (pid integer, name text) SERVER ctx_role OPTIONS (source 'contexts')",
    );
  });

  afterAll(async () => {
    await admin.query("DROP SERVER IF EXISTS ctx_role CASCADE");
    await sidecar?.stop();
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await rm(dir, { recursive: true, force: true });
    await target.end();
  });

  it("a superuser's query fails with 42501, and the hint names the GRANT for the sidecar's role", async () => {
    const error = await failure(admin, `SELECT * FROM ctx_role_contexts WHERE pid = ${targetPid}`);
    expect(error.code).toBe("42501");
    expect(error.message).toBe(
      "permission denied: the sidecar's role cannot make backends log their memory contexts",
    );
    expect(error.hint).toBe(`GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${role};`);
  });
});
