/** Runs the sidecar on its Unix socket until SIGTERM or SIGINT. */
import { chmod, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { FastifyInstance } from "fastify";
import pg from "pg";
import { databaseError } from "./cluster/database-error.js";
import { defaultSocketPath } from "./cluster/socket-path.js";
import type { ServerLogFile } from "./contexts/server-log.js";
import { InternalError } from "./errors.js";
import { DEFAULT_SAMPLE_INTERVAL_MS } from "./history/sampler.js";
import { build } from "./http/app.js";
import type { MetricsSettings } from "./metrics/metrics-flags.js";
import { MetricsListener } from "./metrics/metrics-listener.js";
import { ScratchBuffer } from "./proc/proc-file.js";
import { readParents } from "./proc/process-stat.js";
import { ReadPool } from "./rows/read-pool.js";
import { assertClusterIdentity } from "./security/process-identity.js";
import { removeSecret, secretPathFor, writeSecret } from "./security/secret-file.js";
import { prepareSocket } from "./security/socket-dir.js";
import type { SocketLock } from "./security/socket-lock.js";

export interface ServerOptions {
  pool: pg.PoolConfig;
  /** Path of the socket file; derived from the cluster's settings when absent. */
  socket?: string;
  logLevel?: string;
  /** Worker threads reading /proc; the available cores by default, 0 reads in the main thread. */
  readThreads?: number | undefined;
  /** The log file memory-context dumps are read from, instead of the server's current_logfiles. */
  serverLog?: ServerLogFile | undefined;
  /** How long a memory-context dump may take, in ms. */
  dumpTimeoutMs?: number | undefined;
  /** Ms between sample rounds (history/sampler.ts): the default when absent, 0 turns sampling off. */
  sampleIntervalMs?: number | undefined;
  /** Bound of the history ring, in bytes (history/ring.ts). */
  historyBytes?: number | undefined;
  /** The Prometheus metrics listener (metrics/metrics-listener.ts), on the sampler's figures; none when absent. */
  metrics?: MetricsSettings | undefined;
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
  let lock: SocketLock | undefined;
  let metrics: MetricsListener | undefined;
  /** The secret file once written, removed again when the start-up fails after it. */
  let written: string | undefined;
  // An idle connection that the cluster drops must not crash the process; the next query reconnects.
  pool.on("error", (err) => app?.log.warn({ err: err.message }, "lost an idle connection to the cluster"));
  try {
    await assertClusterIdentity(await postmasterPid(pool));
    const socket = options.socket ?? (await defaultSocketPath(pool));
    await refuseOtherClustersSocket(socket, pool);
    lock = await prepareSocket(socket);
    const secretPath = secretPathFor(socket);
    const secret = await writeSecret(secretPath);
    written = secretPath;
    const reads = new ReadPool({ size: options.readThreads });
    app = await build({
      db: pool,
      secret,
      pool: reads,
      serverLog: options.serverLog,
      dumpTimeoutMs: options.dumpTimeoutMs,
      history: {
        intervalMs: options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS,
        bytes: options.historyBytes,
      },
      logger: {
        level: options.logLevel ?? "info",
        // Belt and braces: nothing logs these, and if something ever does they stay out of the log.
        redact: ["req.headers['x-pg-meminfo-signature']", "password", "*.password", "secret", "*.secret"],
      },
    });
    if (options.metrics !== undefined) {
      if (app.sampler.intervalMs === 0) {
        throw new InternalError("the metrics listener needs sampling", {
          hint: "Give --sample-interval a number of seconds above 0.",
        });
      }
      // Before the socket: a port in use stops the start-up before anything is created.
      metrics = await MetricsListener.start({ ...options.metrics, source: app.sampler });
    }
    // Created 0600 from the start: the umask closes the window before chmod.
    const umask = process.umask(0o177);
    try {
      await app.listen({ path: socket });
    } finally {
      process.umask(umask);
    }
    await chmod(socket, 0o600);
    app.log.info(
      { socket, reader: reads.description },
      `sidecar listening; /proc is read by ${reads.description}`,
    );
    const sampler = app.sampler;
    sampler.start();
    app.log.info(
      { sampleIntervalMs: sampler.intervalMs, historyBytes: sampler.ring.limit },
      sampler.intervalMs === 0
        ? "sampling is off"
        : `sampling every ${sampler.intervalMs / 1000} s into a history of ${sampler.ring.limit} bytes`,
    );
    if (metrics !== undefined) app.log.info({ metrics: metrics.url }, `Prometheus metrics at ${metrics.url}`);
    const listener = metrics;
    const running = app;
    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= (async () => {
        await listener?.close();
        await sampler.stop();
        await running.close();
        await pool.end();
        await rm(socket, { force: true });
        await removeSecret(secretPath);
        await lock?.release();
      })();
      return closing;
    };
    return { app: running, socket, close };
  } catch (err) {
    await metrics?.close();
    await app?.close();
    await pool.end();
    if (written !== undefined) await removeSecret(written);
    await lock?.release();
    throw err;
  }
}

/**
 * A socket in a directory named for a port (.s.PGMEMINFO.<port>) is where the wrappers of the
 * cluster on that port look for their sidecar: refuse to serve another cluster there.
 */
async function refuseOtherClustersSocket(socket: string, db: pg.Pool): Promise<void> {
  const named = /^\.s\.PGMEMINFO\.(\d+)$/.exec(basename(dirname(socket)))?.[1];
  if (named === undefined) return;
  let port: string | undefined;
  try {
    ({
      rows: [{ port } = { port: undefined }],
    } = await db.query<{ port: string }>("SELECT current_setting('port') AS port"));
  } catch (err) {
    throw databaseError(err, "read its port");
  }
  if (port !== undefined && port !== named) {
    throw new InternalError(`the socket "${socket}" belongs to the cluster on port ${named}`, {
      detail: `The sidecar connects to the cluster on port ${port}.`,
      hint: `Leave --socket out (the default is this cluster's own), or give --database the cluster on port ${named}.`,
    });
  }
}

/** The postmaster: the parent of the sidecar's own backend, read once at start-up. */
async function postmasterPid(db: pg.Pool): Promise<number> {
  let me: number | undefined;
  try {
    ({
      rows: [{ me } = { me: undefined }],
    } = await db.query<{ me: number }>("SELECT pg_backend_pid() AS me"));
  } catch (err) {
    throw databaseError(err, "find its postmaster");
  }
  const [postmaster = null] = me === undefined ? [] : readParents([me], new ScratchBuffer(1024));
  if (postmaster === null) {
    throw new InternalError("could not find the postmaster", {
      detail: `The parent of the sidecar's own backend (pid ${me}) could not be read from /proc.`,
      hint: "The sidecar must run on the same host as the cluster, in the same PID namespace.",
    });
  }
  return postmaster;
}

/** Closes the server on SIGTERM or SIGINT (the first one; later ones wait for it), then exits. */
export function closeOnSignals(server: RunningServer): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal (runuser and a supervisor both forward one) must not cut the cleanup short.
    if (closing) return;
    closing = true;
    server.app.log.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
