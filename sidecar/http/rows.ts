/** GET /v1/smaps, /v1/summary and /v1/by_kind: check, authorize, then stream the rows as COPY text. */
import { Readable } from "node:stream";
import type { FastifyPluginAsyncJsonSchemaToTs } from "@fastify/type-provider-json-schema-to-ts";
import type { RoleAuthorizer } from "../cluster/authorize.js";
import type { Cluster } from "../cluster/cluster.js";
import { SOURCES } from "../proc/columns.js";
import { type CopyOptions, copyRows } from "../rows/copy-rows.js";
import { rowsPacer } from "../rows/gc-pacer.js";
import { SharedReads, type SharingOptions } from "../rows/shared-reads.js";
import { parseBackendPid, parseColumns, parsePids, parseRole } from "./request-params.js";
import { RowsHeaders, RowsQuery } from "./request-schemas.js";

export interface RowsOptions {
  authorizer: RoleAuthorizer;
  cluster: Cluster;
  copy: CopyOptions;
  /** Sharing of identical requests (rows/shared-reads.ts); the defaults when absent. */
  sharing?: SharingOptions;
}

/** Yields an already read first step, then the rest; closing it closes the source. */
async function* resume(
  first: IteratorResult<Buffer, void>,
  rest: AsyncGenerator<Buffer, void, undefined>,
): AsyncGenerator<Buffer, void, undefined> {
  try {
    if (first.done) return;
    yield first.value;
    yield* rest;
  } finally {
    await rest.return(undefined);
  }
}

export const rowsRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: RowsOptions }> = async (
  app,
  options,
) => {
  const { authorizer, cluster, copy } = options;
  const shared = new SharedReads(options.sharing);
  for (const source of SOURCES) {
    app.get(
      `/v1/${source}`,
      { schema: { querystring: RowsQuery, headers: RowsHeaders } },
      async (request, reply) => {
        const role = parseRole(request.headers["x-pg-meminfo-role"]);
        const backendPid = parseBackendPid(request.headers["x-pg-meminfo-backend-pid"]);
        const columns = parseColumns(source, request.query.columns);
        const wanted = request.query.pid === undefined ? null : parsePids(request.query.pid);
        await authorizer.authorize(role);
        const started = await cluster.processes(wanted ?? undefined);
        // A wanted pid that is not the cluster's (pid 1, another user's process) simply has no rows.
        const pids = [...started.keys()];
        const membership = await cluster.membership(started);
        request.log.debug({ source, role, backendPid, processes: pids.length }, "reading rows");

        // The first process is read before the status line, so its failure is still a JSON error. A
        // later failure destroys the stream: the connection closes without the terminating chunk.
        // Identical concurrent requests share one read; a caller that goes away stops waiting for it.
        const gone = new AbortController();
        reply.raw.once("close", () => {
          gone.abort();
          // Its last buffers are written now: free them, rather than at some later scan.
          rowsPacer.ended();
        });
        const key = `${source}?${columns.map((c) => c.name).join(",")}&${pids.join(",")}`;
        const rows = shared.rows(
          key,
          (signal) => copyRows(source, pids, columns, copy, membership, signal),
          gone.signal,
        );
        const first = await rows.next();
        // Chunked even when empty: the terminating chunk is what tells the FDW the body is complete.
        return reply
          .header("content-type", "text/plain; charset=utf-8")
          .header("transfer-encoding", "chunked")
          .send(Readable.from(resume(first, rows), { objectMode: false }));
      },
    );
  }
};
