/** Backends in known states for the memory-context tests: holding memory, stopped, idle. */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";

/**
 * Makes the session hold a PL/pgSQL text variable of `bytes` (in its "SPI Proc" context) while it
 * sleeps for up to a minute; resolves once the variable exists, with `done`, which settles when the
 * statement ends (terminate the backend to end it early).
 */
export async function holdVariable(
  session: pg.Client,
  observer: pg.Client,
  pid: number,
  bytes: number,
): Promise<{ done: Promise<unknown> }> {
  // The session ends by pg_terminate_backend: its connection error is expected.
  session.on("error", () => {});
  const done = session
    .query(`DO $$ DECLARE s text := repeat('x', ${bytes}); BEGIN PERFORM pg_sleep(60); END $$`)
    .catch(() => undefined);
  for (let i = 0; i < 200; i++) {
    const { rows } = await observer.query("SELECT wait_event FROM pg_stat_activity WHERE pid = $1", [pid]);
    if (rows[0]?.wait_event === "PgSleep") return { done };
    await sleep(25);
  }
  throw new Error(`backend ${pid} did not start sleeping`);
}

/**
 * Runs `body` while the process is stopped (SIGSTOP): it answers no interrupt, so a dump it is asked
 * for waits. The process continues (SIGCONT) when `body` ends, whatever happens.
 */
export async function whileStopped<T>(pid: number, body: () => Promise<T>): Promise<T> {
  process.kill(pid, "SIGSTOP");
  try {
    return await body();
  } finally {
    process.kill(pid, "SIGCONT");
  }
}

/** The lines of `text` that a stderr log prefix '... [pid] ...' attributes to `pid`. */
export function logLinesOf(text: string, pid: number): string[] {
  return text.split("\n").filter((line) => line.includes(` [${pid}] `));
}

/** Drops every context named in `names` and everything below it, from depth-first rows with levels. */
export function withoutSubtrees<R extends { name: string | null; level: number }>(
  rows: readonly R[],
  names: ReadonlySet<string>,
): R[] {
  const kept: R[] = [];
  let skipBelow: number | undefined;
  for (const row of rows) {
    if (skipBelow !== undefined && row.level > skipBelow) continue;
    skipBelow = undefined;
    if (row.name !== null && names.has(row.name)) {
      skipBelow = row.level;
      continue;
    }
    kept.push(row);
  }
  return kept;
}
