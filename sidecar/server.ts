/** Runs the sidecar on its Unix socket until SIGTERM or SIGINT. */
import { chmod, rm } from "node:fs/promises";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { Cluster, defaultSocketPath } from "./cluster/cluster.js";
import { build } from "./http/app.js";
import { assertClusterIdentity } from "./security/process-identity.js";
import { removeSecret, secretPathFor, writeSecret } from "./security/secret-file.js";
import { prepareSocket } from "./security/socket-dir.js";

export interface ServerOptions {
  pool: pg.PoolConfig;
  /** Path of the socket file; derived from the cluster's settings when absent. */
  socket?: string;
  logLevel?: string;
  /** Threads reading /proc; the available cores by default. */
  readThreads?: number;
  /**
   * Refuse to start unless running as the postmaster's uid and gid, without capabilities (default).
   * Only tests that run the server inside a root test process turn it off.
   */
  requireClusterIdentity?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  socket: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const pool = new pg.Pool({
    application_name: "pg_meminfo sidecar",
    max: 4,
    // A cluster that hangs must give a clear error before the FDW's own timeout (10 s by default).
    connectionTimeoutMillis: 3_000,
    query_timeout: 5_000,
    ...options.pool,
  });
  let app: FastifyInstance | undefined;
  // An idle connection that the cluster drops must not crash the process; the next query reconnects.
  pool.on("error", (err) => app?.log.warn({ err: err.message }, "lost an idle connection to the cluster"));
  try {
    const cluster = new Cluster(pool);
    if (options.requireClusterIdentity !== false) {
      await assertClusterIdentity(await cluster.postmasterPid());
    }
    const socket = options.socket ?? (await defaultSocketPath(pool));
    await prepareSocket(socket);
    const secretPath = secretPathFor(socket);
    const secret = await writeSecret(secretPath);
    app = await build({
      db: pool,
      cluster,
      secret,
      readThreads: options.readThreads,
      logger: {
        level: options.logLevel ?? "info",
        // Belt and braces: nothing logs these, and if something ever does they stay out of the log.
        redact: ["req.headers['x-pg-meminfo-signature']", "password", "*.password", "secret", "*.secret"],
      },
    });
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
        await removeSecret(secretPath);
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
