import type pg from "pg";

/** Options of a test foreign server: socket path, timeout in seconds, max_response_size. */
export interface TestServerOptions {
  socket: string;
  timeout?: string;
  maxResponseSize?: string;
}

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * A foreign server of pg_meminfo_fdw aimed at `socket`, with three small tables:
 * NAME_smaps (pid, sys_path, rss), NAME_summary (pid, pss) and NAME_pids (pid).
 */
export async function createTestServer(
  client: pg.Client,
  name: string,
  options: TestServerOptions,
): Promise<void> {
  const opts = [`socket ${literal(options.socket)}`];
  if (options.timeout !== undefined) opts.push(`timeout ${literal(options.timeout)}`);
  if (options.maxResponseSize !== undefined)
    opts.push(`max_response_size ${literal(options.maxResponseSize)}`);
  await client.query(`DROP SERVER IF EXISTS ${name} CASCADE`);
  await client.query(
    `CREATE SERVER ${name} FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (${opts.join(", ")})`,
  );
  await client.query(
    `CREATE FOREIGN TABLE ${name}_smaps (pid integer, sys_path text, rss bigint) SERVER ${name} OPTIONS (source 'smaps')`,
  );
  await client.query(
    `CREATE FOREIGN TABLE ${name}_summary (pid integer, pss bigint) SERVER ${name} OPTIONS (source 'summary')`,
  );
  await client.query(
    `CREATE FOREIGN TABLE ${name}_pids (pid integer) SERVER ${name} OPTIONS (source 'summary')`,
  );
}

export async function dropTestServer(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP SERVER IF EXISTS ${name} CASCADE`);
}

/** What a failed query reported: SQLSTATE, message, detail, hint and context. */
export interface QueryFailure {
  code: string | undefined;
  message: string;
  detail: string | undefined;
  hint: string | undefined;
  where: string | undefined;
}

/** Runs a query that must fail and returns how; a success is a test failure. */
export async function failure(
  client: pg.Client,
  text: string,
  params: unknown[] = [],
): Promise<QueryFailure> {
  try {
    await client.query(text, params);
  } catch (error) {
    const e = error as pg.DatabaseError;
    if (e.code === undefined) throw error;
    return { code: e.code, message: e.message, detail: e.detail, hint: e.hint, where: e.where };
  }
  throw new Error(`query succeeded but an error was expected: ${text}`);
}
