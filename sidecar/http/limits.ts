/**
 * GET /v1/limits: one row, the memory limits of the cluster (limits/memory-limits.ts), read by the read
 * pool like every other /proc read. Checked like the other sources (signature, role); it has no pid
 * column, so a pid parameter is refused.
 */
import { Readable } from "node:stream";
import type { FastifyPluginAsyncJsonSchemaToTs } from "@fastify/type-provider-json-schema-to-ts";
import type { RoleAuthorizer } from "../cluster/authorize.js";
import type { Cluster } from "../cluster/cluster.js";
import { BadRequestError } from "../errors.js";
import { findLimitColumn } from "../limits/limit-columns.js";
import type { ReadPool } from "../rows/read-pool.js";
import { parseBackendPid, parseColumnList, parseRole } from "./request-params.js";
import { RowsHeaders, RowsQuery } from "./request-schemas.js";

export interface LimitsRouteOptions {
  authorizer: RoleAuthorizer;
  cluster: Cluster;
  pool: ReadPool;
}

export const limitsRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: LimitsRouteOptions }> = async (
  app,
  options,
) => {
  const { authorizer, cluster, pool } = options;
  app.get(
    "/v1/limits",
    { schema: { querystring: RowsQuery, headers: RowsHeaders } },
    async (request, reply) => {
      const role = parseRole(request.headers["x-pg-meminfo-role"]);
      const backendPid = parseBackendPid(request.headers["x-pg-meminfo-backend-pid"]);
      const columns = parseColumnList("limits", request.query.columns, findLimitColumn);
      if (request.query.pid !== undefined) {
        throw new BadRequestError("the limits source has no pid", {
          detail: "The request has a pid parameter; the limits source has one row, the cluster's.",
        });
      }
      await authorizer.authorize(role);
      const postmasterPid = await cluster.postmasterPid();
      request.log.debug({ role, backendPid, postmasterPid }, "reading memory limits");
      const gone = new AbortController();
      reply.raw.once("close", () => gone.abort());
      const row = await pool.run(
        { type: "limits", postmasterPid, columns: columns.map((c) => c.name) },
        { admit: true, signal: gone.signal },
      );
      // Chunked like every answer with rows: the terminating chunk tells the FDW the body is complete.
      return reply
        .header("content-type", "text/plain; charset=utf-8")
        .header("transfer-encoding", "chunked")
        .send(Readable.from([row], { objectMode: false }));
    },
  );
};
