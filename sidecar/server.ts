/** Runs the sidecar on its Unix socket until SIGTERM or SIGINT. */
import { chmod, rm } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { build } from "./app.js";
import { defaultSocketPath } from "./lib/cluster.js";
import { prepareSocket } from "./lib/socket-dir.js";

export interface ServerOptions {
  pool: pg.PoolConfig;
  /** Path of the socket file; derived from the cluster's settings when absent. */
  socket?: string;
  logLevel?: string;
}

export interface RunningServer {
  app: FastifyInstance;
  socket: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const pool = new pg.Pool({ application_name: "pg_meminfo sidecar", max: 4, ...options.pool });
  // An idle connection that the cluster drops must not crash the process; the next query reconnects.
  pool.on("error", () => {});
  let app: FastifyInstance | undefined;
  try {
    const socket = options.socket ?? (await defaultSocketPath(pool));
    await prepareSocket(socket);
    app = await build({ db: pool, logger: { level: options.logLevel ?? "info" } });
    // Created 0600 from the start: the umask closes the window before chmod.
    const umask = process.umask(0o177);
    try {
      await app.listen({ path: socket });
    } finally {
      process.umask(umask);
    }
    await chmod(socket, 0o600);
    const running = app;
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        await running.close();
        await pool.end();
        await rm(socket, { force: true });
      })();
      return closing;
    };
    return { app: running, socket, close };
  } catch (err) {
    await app?.close();
    await pool.end();
    throw err;
  }
}

/** Closes the server on SIGTERM or SIGINT, then lets the process exit. */
export function closeOnSignals(server: RunningServer): void {
  const onSignal = (signal: NodeJS.Signals) => {
    server.app.log.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
}
