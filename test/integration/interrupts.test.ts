/**
 * statement_timeout, pg_cancel_backend and pg_terminate_backend interrupt a scan that waits on a slow
 * sidecar; the connection to it is closed and the server does not restart.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { backendPid, connect } from "../support/db.js";
import { runClusterLogFile } from "../support/extra-sidecar.js";
import { FakeSidecar, OK_HEAD } from "../support/fake-sidecar.js";
import { createTestServer, dropTestServer, failure } from "../support/foreign-server.js";

/** Signs of a crash and restart of the cluster in its log. */
const CRASH =
  /terminated by signal|was terminated|all server processes terminated|reinitializing|server process .* exited with exit code [^0]/;

async function postmasterPid(): Promise<number> {
  return Number.parseInt(
    (await readFile(join(inject("dataDir"), "postmaster.pid"), "utf8")).split("\n")[0] ?? "",
    10,
  );
}

/** The backend, not the fake, closed the connection of the request that started after event `from`. */
async function expectClosedByBackend(fake: FakeSidecar, from: number): Promise<void> {
  const closed = await fake.waitFor<{ event: "closed"; byClient: boolean }>(
    (e) => e.event === "closed",
    5_000,
    from,
  );
  expect(closed.byClient).toBe(true);
}

describe("interrupting a scan that waits on the sidecar", () => {
  let fake: FakeSidecar;
  let admin: pg.Client;

  beforeAll(async () => {
    fake = await FakeSidecar.start();
    admin = await connect();
    // A long timeout: only the interrupt under test may end the wait.
    await createTestServer(admin, "slow", { socket: fake.socketPath, timeout: "60" });
    // Rows trickle: the head, one row, then nothing for a long time.
    await fake.script([{ write: `${OK_HEAD}7\r\n1\t/a\t1\n\r\n` }, { mark: "waiting" }, { sleep: 60_000 }]);
  });

  afterAll(async () => {
    if (admin) await dropTestServer(admin, "slow");
    await admin?.end();
    await fake?.stop();
  });

  it("statement_timeout = 200ms: 57014 within about half a second, and the socket is closed", async () => {
    const session = await connect();
    try {
      await session.query("SET statement_timeout = '200ms'");
      const from = fake.events.length;
      const start = performance.now();
      const error = await failure(session, "SELECT * FROM slow_smaps");
      const ms = performance.now() - start;
      expect(error.code).toBe("57014");
      expect(error.message).toBe("canceling statement due to statement timeout");
      expect(ms).toBeGreaterThanOrEqual(190);
      // ~0.5 s expected; 3 s of slack for a loaded 2-core machine, still far below the 60 s timeout.
      expect(ms).toBeLessThan(3_000);
      await expectClosedByBackend(fake, from);
      // The session goes on.
      expect((await session.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await session.end();
    }
  });

  it("pg_cancel_backend: 57014, the socket is closed, the session goes on", async () => {
    const session = await connect();
    try {
      const pid = await backendPid(session);
      const from = fake.events.length;
      const pending = failure(session, "SELECT * FROM slow_smaps");
      await fake.waitFor((e) => e.event === "mark", 10_000, from);
      const start = performance.now();
      expect((await admin.query("SELECT pg_cancel_backend($1) AS ok", [pid])).rows[0]?.ok).toBe(true);
      const error = await pending;
      expect(error.code).toBe("57014");
      expect(error.message).toBe("canceling statement due to user request");
      expect(performance.now() - start).toBeLessThan(3_000);
      await expectClosedByBackend(fake, from);
      expect((await session.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await session.end();
    }
  });

  it("pg_terminate_backend: the backend exits cleanly, without a crash-restart of the server", async () => {
    const postmaster = await postmasterPid();
    const logBefore = (await readFile(runClusterLogFile(), "utf8")).length;
    const session = await connect();
    session.on("error", () => {});
    const pid = await backendPid(session);
    const from = fake.events.length;
    const pending = failure(session, "SELECT * FROM slow_smaps");
    await fake.waitFor((e) => e.event === "mark", 10_000, from);
    expect((await admin.query("SELECT pg_terminate_backend($1, 5000) AS ok", [pid])).rows[0]?.ok).toBe(true);
    const error = await pending;
    expect(error.code).toBe("57P01");
    const closed = await fake.waitFor<{ event: "closed"; byClient: boolean }>(
      (e) => e.event === "closed",
      5_000,
      from,
    );
    expect(closed.byClient).toBe(true);
    await session.end().catch(() => {});

    expect(await postmasterPid()).toBe(postmaster);
    const gone = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [pid]);
    expect(gone.rows[0]?.n).toBe(0);
    // The logging collector writes what the backend sent it a moment later.
    let log = "";
    for (let i = 0; i < 100 && !log.includes("terminating connection"); i++) {
      if (i > 0) await sleep(20);
      log = (await readFile(runClusterLogFile(), "utf8")).slice(logBefore);
    }
    expect(log).not.toMatch(CRASH);
    expect(log).toContain("terminating connection due to administrator command");
    // Every other session survived.
    expect((await admin.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
  });
});
