import pg from "pg";
import { inject } from "vitest";
import { connect } from "./db.js";

/** A connection to `database` of the run's cluster, as `user` (default: the superuser). */
export async function connectTo(
  database: string,
  user?: string,
  applicationName?: string,
): Promise<pg.Client> {
  const client = new pg.Client({
    host: inject("pgHost"),
    port: inject("pgPort"),
    user: user ?? inject("pgUser"),
    database,
    ...(applicationName ? { application_name: applicationName } : {}),
  });
  await client.connect();
  return client;
}

/** Drops `name` if it is there (ending its sessions). */
export async function dropDatabase(name: string): Promise<void> {
  const admin = await connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** A new, empty database `name` of the run's cluster (dropped first if a previous run left it). */
export async function scratchDatabase(name: string): Promise<pg.Client> {
  await dropDatabase(name);
  const admin = await connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return connectTo(name);
}
