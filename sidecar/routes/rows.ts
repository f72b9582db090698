/** GET /v1/smaps and GET /v1/summary: check, authorize, then stream the rows as COPY text. */
import { Readable } from "node:stream";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { authorize } from "../lib/authorize.js";
import type { Cluster } from "../lib/cluster.js";
import type { Kind } from "../lib/columns.js";
import { copyRows } from "../lib/copy-rows.js";
import type { ProcOptions } from "../lib/proc-reader.js";
import type { Queryable } from "../lib/queryable.js";
import { parseBackendPid, parseColumns, parsePids, parseRole } from "../lib/request-params.js";

export interface RowsOptions {
  db: Queryable;
  cluster: Cluster;
  proc: ProcOptions;
}

const Query = Type.Object(
  {
    columns: Type.String(),
    pid: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

// The role header is checked by parseRole, so that its absence is MISSING_ROLE and not BAD_REQUEST.
const Headers = Type.Object({
  "x-pg-meminfo-role": Type.Optional(Type.String()),
  "x-pg-meminfo-backend-pid": Type.Optional(Type.String()),
});

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

export const rowsRoutes: FastifyPluginAsyncTypebox<RowsOptions> = async (app, options) => {
  const { db, cluster, proc } = options;
  for (const kind of ["smaps", "summary"] as const satisfies readonly Kind[]) {
    app.get(`/v1/${kind}`, { schema: { querystring: Query, headers: Headers } }, async (request, reply) => {
      const role = parseRole(request.headers["x-pg-meminfo-role"]);
      const backendPid = parseBackendPid(request.headers["x-pg-meminfo-backend-pid"]);
      const columns = parseColumns(kind, request.query.columns);
      const wanted = request.query.pid === undefined ? null : parsePids(request.query.pid);
      await authorize(db, role);
      const all = await cluster.backendPids();
      const pids = wanted === null ? all : all.filter((pid) => wanted.has(pid));
      request.log.debug({ kind, role, backendPid, processes: pids.length }, "reading rows");

      // The first process is read before the status line, so its failure is still a JSON error. A
      // later failure destroys the stream: the connection closes without the terminating chunk.
      const rows = copyRows(kind, pids, columns, proc);
      const first = await rows.next();
      // Chunked even when empty: the terminating chunk is what tells the FDW the body is complete.
      return reply
        .header("content-type", "text/plain; charset=utf-8")
        .header("transfer-encoding", "chunked")
        .send(Readable.from(resume(first, rows), { objectMode: false }));
    });
  }
};
