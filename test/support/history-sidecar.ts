/**
 * A sidecar of the run's cluster with sampling options of its own, and a database whose extension asks
 * it (its server's socket option points there): for the tests of memory_history and memory_growth,
 * which need a short --sample-interval.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { inject } from "vitest";
import type { SidecarProcess } from "../../harness/sidecar-process.js";
import { connect } from "./db.js";
import { startSidecarAt } from "./extra-sidecar.js";
import { privateDir } from "./private-dir.js";

export interface HistorySidecar {
  sidecar: SidecarProcess;
  database: string;
  /** A session in the database, as `user` (default: the superuser). */
  connect(applicationName?: string, user?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

export async function startHistorySidecar(database: string, extraArgs: string[]): Promise<HistorySidecar> {
  const dir = await privateDir("pg-meminfo-history-");
  const socket = join(dir, "sidecar.sock");
  const sidecar = await startSidecarAt(socket, undefined, extraArgs);
  const admin = await connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const open = async (applicationName = "pg-meminfo-history-tests", user?: string) => {
    const client = new pg.Client({
      host: inject("pgHost"),
      port: inject("pgPort"),
      user: user ?? inject("pgUser"),
      database,
      application_name: applicationName,
    });
    await client.connect();
    return client;
  };
  const setup = await open();
  try {
    await setup.query("CREATE EXTENSION pg_meminfo");
    await setup.query(`ALTER SERVER pg_meminfo OPTIONS (ADD socket '${socket}')`);
  } finally {
    await setup.end();
  }
  return {
    sidecar,
    database,
    connect: open,
    stop: async () => {
      await sidecar.stop();
      await rm(dir, { recursive: true, force: true });
      const cleanup = await connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}
