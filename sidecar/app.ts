/** The sidecar's HTTP application, without a listener (server.ts listens; tests use inject). */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { Cluster } from "./lib/cluster.js";
import type { Queryable } from "./lib/queryable.js";
import { installErrorHandlers } from "./routes/errors.js";
import { rowsRoutes } from "./routes/rows.js";

export interface BuildOptions {
  /** Connection to the cluster (a pg Pool), for role checks and backend discovery. */
  db: Queryable;
  /** Fastify's logger option (pino options, a pino instance, true or false). */
  logger?: FastifyServerOptions["logger"];
  /** Root of the proc tree the memory files are read from; "/proc" by default. */
  procRoot?: string;
  /** Page size for mem_size; the machine's by default. */
  pageSize?: number;
}

export async function build(options: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // Fastify's default ajv drops unknown properties silently; the protocol refuses them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandlers(app);
  const proc = { procRoot: options.procRoot, pageSize: options.pageSize };
  await app.register(rowsRoutes, { db: options.db, cluster: new Cluster(options.db), proc });
  return app;
}
