/** The sidecar's HTTP application, without a listener (server.ts listens; tests use inject). */
import type { JsonSchemaToTsProvider } from "@fastify/type-provider-json-schema-to-ts";
import Fastify, { type FastifyInstance, type FastifyServerOptions } from "fastify";
import { RoleAuthorizer } from "../cluster/authorize.js";
import { Cluster } from "../cluster/cluster.js";
import type { Queryable } from "../cluster/queryable.js";
import { ReadPool } from "../rows/read-pool.js";
import { SignatureVerifier } from "../security/request-signature.js";
import { installErrorHandlers } from "./error-handlers.js";
import { installRequestAuth } from "./request-auth.js";
import { rowsRoutes } from "./rows.js";

export interface BuildOptions {
  /** Connection to the cluster (a pg Pool), for role checks and backend discovery. */
  db: Queryable;
  /** The cluster's processes, when the caller has already looked it up; made from db otherwise. */
  cluster?: Cluster;
  /** The secret requests are signed with (see lib/secret-file.ts). */
  secret: string;
  /** Fastify's logger option (pino options, a pino instance, true or false). */
  logger?: FastifyServerOptions["logger"];
  /** Root of the proc tree the memory files are read from; "/proc" by default. */
  procRoot?: string;
  /** Page size for mem_size; the machine's by default. */
  pageSize?: number;
  /** Threads reading /proc (lib/read-pool.ts): the available cores by default; 0 reads in-process. */
  readThreads?: number;
}

export async function build(options: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ?? false,
    // Fastify's default ajv drops unknown properties silently; the protocol refuses them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  }).withTypeProvider<JsonSchemaToTsProvider>();
  installErrorHandlers(app);
  installRequestAuth(app, new SignatureVerifier(options.secret));
  const pool = new ReadPool({ size: options.readThreads });
  app.addHook("onClose", () => pool.close());
  const proc = { procRoot: options.procRoot, pageSize: options.pageSize, pool };
  await app.register(rowsRoutes, {
    authorizer: new RoleAuthorizer(options.db),
    cluster: options.cluster ?? new Cluster(options.db),
    proc,
  });
  return app;
}
