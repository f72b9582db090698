/** The sidecar's HTTP application, without a listener (server.ts listens; tests use inject). */
import type { JsonSchemaToTsProvider } from "@fastify/type-provider-json-schema-to-ts";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { RoleAuthorizer } from "../cluster/authorize.js";
import { Cluster } from "../cluster/cluster.js";
import type { Queryable } from "../cluster/queryable.js";
import { ContextDumps } from "../contexts/context-dumps.js";
import type { ServerLogFile } from "../contexts/server-log.js";
import { HistoryRing } from "../history/ring.js";
import { Sampler, type SamplerLog } from "../history/sampler.js";
import type { ReadPool } from "../rows/read-pool.js";
import { parentsFrom } from "../rows/read-task.js";
import { SignatureVerifier } from "../security/request-signature.js";
import { contextsRoutes } from "./contexts.js";
import { answerClientError, installErrorHandlers } from "./error-handlers.js";
import { historyRoutes } from "./history.js";
import { limitsRoutes } from "./limits.js";
import { installRequestAuth } from "./request-auth.js";
import { rowsRoutes } from "./rows.js";

export interface BuildOptions {
  /** Connection to the cluster (a pg Pool), for role checks and backend discovery. */
  db: Queryable;
  /** The secret requests are signed with (see security/secret-file.ts). */
  secret: string;
  /** The one bound on /proc reads; closed with the app. */
  pool: ReadPool;
  /** Fastify's logger option (pino options, a pino instance, true or false). */
  logger?: FastifyServerOptions["logger"];
  /** Root of the proc tree the memory files (smaps, smaps_rollup, statm) are read from; "/proc" by default. */
  procRoot?: string | undefined;
  /** A log file to read memory-context dumps from, instead of the server's current_logfiles. */
  serverLog?: ServerLogFile | undefined;
  /** How long a memory-context dump may take (context-dumps.ts, DEFAULT_DUMP_TIMEOUT_MS). */
  dumpTimeoutMs?: number | undefined;
  /**
   * The sampler's interval (0, the default here, turns it off) and its ring's bound in bytes (the
   * default of history/ring.ts when absent). The app makes the sampler; server.ts starts it.
   */
  history?: { intervalMs: number; bytes?: number | undefined } | undefined;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The sampler of the history source (history/sampler.ts); started by server.ts, stopped on close. */
    sampler: Sampler;
  }
}

export async function build(options: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    disableRequestLogging: true,
    clientErrorHandler: answerClientError,
    // Fastify's default ajv drops unknown properties silently; the protocol refuses them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // GET only (docs/protocol.md): no HEAD routes made from the GET ones.
    exposeHeadRoutes: false,
  }).withTypeProvider<JsonSchemaToTsProvider>();
  installErrorHandlers(app);
  const { pool, procRoot } = options;
  // The sampler stops before the pool it reads through closes.
  app.addHook("onClose", async () => {
    await app.sampler.stop();
    await pool.close();
  });
  // Which processes are the cluster's is always read from the real /proc.
  const parents = async (pids: number[]) =>
    parentsFrom(await pool.run({ type: "parents", pids, procRoot: undefined }));
  const authorizer = new RoleAuthorizer(options.db);
  const cluster = new Cluster(options.db, parents);
  installRequestAuth(app, new SignatureVerifier(options.secret), cluster);
  await app.register(rowsRoutes, { authorizer, cluster, copy: { pool, procRoot } });
  await app.register(limitsRoutes, { authorizer, cluster, pool });
  const sampler = new Sampler({
    db: options.db,
    pool,
    cluster,
    intervalMs: options.history?.intervalMs ?? 0,
    ring: new HistoryRing(options.history?.bytes),
    log: app.log as SamplerLog,
  });
  app.decorate("sampler", sampler);
  await app.register(historyRoutes, { authorizer, ring: sampler.ring });
  const dumps = new ContextDumps({
    db: options.db,
    postmasterPid: () => cluster.postmasterPid(),
    serverLog: options.serverLog,
    timeoutMs: options.dumpTimeoutMs,
  });
  await app.register(contextsRoutes, { db: options.db, authorizer, cluster, dumps });
  return app;
}
