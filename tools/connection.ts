/**
 * How the tools reach a cluster: a libpq connection string (key=value or a postgresql:// URI) or, without
 * one, the PG* environment (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD, ~/.pgpass), as psql does.
 * Without a host from either, the local socket directory /var/run/postgresql where it exists, as
 * Debian's libpq; else localhost. The user is the OS user's name unless one is given, as in libpq.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import pg from "pg";
import { poolConfig } from "../sidecar/cluster/conninfo.js";

const LOCAL_SOCKET_DIR = "/var/run/postgresql";

export function clientConfig(conninfo: string | undefined, applicationName: string): pg.ClientConfig {
  const config: pg.ClientConfig = {
    connectionTimeoutMillis: 5_000,
    application_name: applicationName,
    ...poolConfig(conninfo),
  };
  if (config.connectionString === undefined) {
    if (config.host === undefined && process.env.PGHOST === undefined && existsSync(LOCAL_SOCKET_DIR))
      config.host = LOCAL_SOCKET_DIR;
    // libpq's default user is the OS user's name, also where USER is not set (services, cron).
    if (config.user === undefined && !process.env.PGUSER && !process.env.USER)
      config.user = userInfo().username;
  }
  return config;
}

/** A connected client; an error of the connection after it is up is left to the next query. */
export async function connect(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  // A connection the server ends (restart, pg_terminate_backend) must not crash the tool.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

/** Where a client config points, for messages: "host=/tmp port=5432 dbname=postgres user=me". */
export function describeTarget(config: pg.ClientConfig): string {
  if (config.connectionString !== undefined) return config.connectionString.replace(/:[^:@/]*@/, ":***@");
  const env = process.env;
  const host = config.host ?? env.PGHOST ?? "localhost";
  const port = config.port ?? env.PGPORT ?? 5432;
  const user = config.user ?? env.PGUSER ?? env.USER ?? "";
  const database = config.database ?? env.PGDATABASE ?? user;
  return `host=${host} port=${port} dbname=${database} user=${user}`;
}
