import pg from "pg";
import { inject } from "vitest";

/** A connection to the run's cluster (database postgres), as `user` (default: the superuser). */
export async function connect(user?: string, applicationName = "pg-meminfo-tests"): Promise<pg.Client> {
  const client = new pg.Client({
    host: inject("pgHost"),
    port: inject("pgPort"),
    user: user ?? inject("pgUser"),
    database: "postgres",
    application_name: applicationName,
  });
  await client.connect();
  return client;
}

export async function backendPid(client: pg.Client): Promise<number> {
  const result = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  const pid = result.rows[0]?.pid;
  if (pid === undefined) throw new Error("no backend pid");
  return pid;
}

/** A session for the queries, and a second, idle one whose backend they read. */
export async function clientAndIdleBackend(): Promise<{
  client: pg.Client;
  idle: pg.Client;
  idlePid: number;
}> {
  const client = await connect();
  const idle = await connect(undefined, "pg-meminfo-tests-idle");
  return { client, idle, idlePid: await backendPid(idle) };
}

/** The text of `EXPLAIN VERBOSE <query>`, one plan line per array element. */
export async function explainVerbose(client: pg.Client, query: string): Promise<string[]> {
  const result = await client.query<{ "QUERY PLAN": string }>(`EXPLAIN VERBOSE ${query}`);
  return result.rows.map((row) => row["QUERY PLAN"]);
}

/** Plan lines that mention `pid` as a whole number, other than local Filter lines. */
export function pushedLinesMentioning(plan: string[], pid: number): string[] {
  const word = new RegExp(`(^|[^0-9])${pid}([^0-9]|$)`);
  return plan.filter((line) => word.test(line) && !/^\s*(->\s*)?Filter:/.test(line));
}

/** The SQLSTATE, hint and message of a rejected query. */
export async function queryError(
  client: pg.Client,
  text: string,
  params: unknown[] = [],
): Promise<{
  code: string | undefined;
  message: string;
  detail: string | undefined;
  hint: string | undefined;
}> {
  try {
    await client.query(text, params);
  } catch (error) {
    const e = error as pg.DatabaseError;
    return { code: e.code, message: e.message, detail: e.detail, hint: e.hint };
  }
  throw new Error(`query succeeded but an error was expected: ${text}`);
}
