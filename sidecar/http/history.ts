/**
 * GET /v1/history: the samples of the history ring (history/ring.ts) as COPY text, filtered by pid and
 * time. Checked like the other sources (signature, role). It reads no /proc file: the rows are what
 * the sampler took of the cluster's processes, so a pid is not checked against the cluster (a pid
 * that was never sampled simply has no rows).
 */
import { Readable } from "node:stream";
import type { FastifyPluginAsyncJsonSchemaToTs } from "@fastify/type-provider-json-schema-to-ts";
import type { RoleAuthorizer } from "../cluster/authorize.js";
import { findHistoryColumn, historyRows } from "../history/history-rows.js";
import type { HistoryRing } from "../history/ring.js";
import { parseBackendPid, parseColumnList, parsePids, parseRole, parseTimeRange } from "./request-params.js";
import { HistoryQuery, RowsHeaders } from "./request-schemas.js";

export interface HistoryRouteOptions {
  authorizer: RoleAuthorizer;
  ring: HistoryRing;
}

export const historyRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: HistoryRouteOptions }> = async (
  app,
  options,
) => {
  const { authorizer, ring } = options;
  app.get(
    "/v1/history",
    { schema: { querystring: HistoryQuery, headers: RowsHeaders } },
    async (request, reply) => {
      const role = parseRole(request.headers["x-pg-meminfo-role"]);
      const backendPid = parseBackendPid(request.headers["x-pg-meminfo-backend-pid"]);
      const columns = parseColumnList("history", request.query.columns, findHistoryColumn);
      const pids = request.query.pid === undefined ? null : parsePids(request.query.pid);
      const { fromMs, toMs } = parseTimeRange(request.query);
      await authorizer.authorize(role);
      request.log.debug({ role, backendPid, samples: ring.size, fromMs, toMs }, "reading the history");
      // Chunked like every answer with rows: the terminating chunk tells the FDW the body is complete.
      return reply
        .header("content-type", "text/plain; charset=utf-8")
        .header("transfer-encoding", "chunked")
        .send(Readable.from(historyRows(ring, columns, { pids, fromMs, toMs }), { objectMode: false }));
    },
  );
};
