/**
 * Sessions that hold or gain memory, for the demo and the tests of the tools: a sort kept in work_mem
 * behind an open cursor, and a session that grows steadily the way a leak would.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { ThrowawayCluster } from "./throwaway-cluster.js";

/** A session holding a sort of `rows` rows in work_mem, in an open transaction, behind a cursor. */
export async function holdSort(
  cluster: ThrowawayCluster,
  applicationName: string,
  rows: number,
): Promise<pg.Client> {
  const session = await cluster.connect("postgres", "postgres", applicationName);
  await session.query("SET work_mem = '512MB'");
  await session.query("BEGIN");
  await session.query(
    `DECLARE big_sort CURSOR FOR SELECT g, md5(g::text) AS h FROM generate_series(1, ${rows}) g ORDER BY h`,
  );
  await session.query("FETCH 1 FROM big_sort");
  return session;
}

/** A session that prepares (and runs) `perSecond` more statements a second until stopped. */
export interface GrowingSession {
  session: pg.Client;
  stop(): Promise<void>;
}

export async function growSteadily(
  cluster: ThrowawayCluster,
  applicationName: string,
  perSecond: number,
): Promise<GrowingSession> {
  const session = await cluster.connect("postgres", "postgres", applicationName);
  // The cluster may go away under it (a restart in a test): the loop ends, the process does not.
  session.on("error", () => undefined);
  let stopped = false;
  // One statement at a time on the session, a round a second.
  const loop = (async () => {
    for (let n = 0; !stopped; ) {
      const round = Date.now();
      for (let i = 0; i < perSecond && !stopped; i++, n++) {
        await session.query(`PREPARE growing_${n} AS SELECT ${n} + $1::int AS n, md5($1::text) AS h`);
        await session.query(`EXECUTE growing_${n}(1)`);
      }
      await sleep(Math.max(0, 1000 - (Date.now() - round)));
    }
  })().catch(() => undefined);
  return {
    session,
    async stop() {
      stopped = true;
      await loop;
      await session.end().catch(() => undefined);
    },
  };
}
