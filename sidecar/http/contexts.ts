/**
 * GET /v1/contexts: the memory contexts of the requested backends, from dumps they write to the server
 * log. Checked like the other sources (signature, role, cluster membership), plus EXECUTE on
 * pg_log_backend_memory_contexts(integer); pid is required. Every dump is complete before the status
 * line, so any failure is a JSON error.
 */
import { Readable } from "node:stream";
import type { FastifyPluginAsyncJsonSchemaToTs } from "@fastify/type-provider-json-schema-to-ts";
import type { RoleAuthorizer } from "../cluster/authorize.js";
import type { Cluster } from "../cluster/cluster.js";
import type { Queryable } from "../cluster/queryable.js";
import { contextCopyText, findContextColumn } from "../contexts/context-columns.js";
import type { ContextDumps } from "../contexts/context-dumps.js";
import { authorizeDump } from "../contexts/dump-privilege.js";
import { BadRequestError, NotServerProcessError } from "../errors.js";
import { parseBackendPid, parseColumnList, parsePids, parseRole } from "./request-params.js";
import { RowsHeaders, RowsQuery } from "./request-schemas.js";

export interface ContextsRouteOptions {
  db: Queryable;
  authorizer: RoleAuthorizer;
  cluster: Cluster;
  dumps: ContextDumps;
}

export const contextsRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: ContextsRouteOptions }> = async (
  app,
  options,
) => {
  const { db, authorizer, cluster, dumps } = options;
  app.get(
    "/v1/contexts",
    { schema: { querystring: RowsQuery, headers: RowsHeaders } },
    async (request, reply) => {
      const role = parseRole(request.headers["x-pg-meminfo-role"]);
      const backendPid = parseBackendPid(request.headers["x-pg-meminfo-backend-pid"]);
      const columns = parseColumnList("contexts", request.query.columns, findContextColumn);
      if (request.query.pid === undefined) {
        throw new BadRequestError("memory contexts are read only for the backends named by pid", {
          detail: "The request has no pid parameter.",
          hint: "Add WHERE pid = ... or pid = ANY(...); a dump of every backend floods the server log.",
        });
      }
      const wanted = parsePids(request.query.pid);
      await authorizer.authorize(role);
      await authorizeDump(db, role);
      // A wanted pid that is not the cluster's (pid 1, another user's process) simply has no rows.
      const members = new Set((await cluster.processes(wanted)).keys());
      const postmaster = await cluster.postmasterPid();
      if (wanted.has(postmaster)) {
        throw new NotServerProcessError(
          `PID ${postmaster} is the postmaster, which cannot log its memory contexts`,
          {
            hint: "Take the pid of a backend or an auxiliary process from pg_stat_activity.",
          },
        );
      }
      const pids = [...wanted].filter((pid) => members.has(pid)).sort((a, b) => a - b);
      request.log.debug({ role, backendPid, pids }, "dumping memory contexts");
      const body = pids.length === 0 ? "" : contextCopyText(await dumps.dump(pids), columns);
      // Chunked like every answer with rows: the terminating chunk tells the FDW the body is complete.
      return reply
        .header("content-type", "text/plain; charset=utf-8")
        .header("transfer-encoding", "chunked")
        .send(Readable.from(body === "" ? [] : [Buffer.from(body)], { objectMode: false }));
    },
  );
};
