/** Public exports of the sidecar library (no HTTP server). */
export { authorize } from "./lib/authorize.js";
export { Cluster, defaultSocketPath, firstSocketDirectory, socketPathFor } from "./lib/cluster.js";
export {
  type Column,
  type ColumnType,
  catalogue,
  findColumn,
  type Kind,
  SMAPS_COLUMNS,
  SUMMARY_COLUMNS,
} from "./lib/columns.js";
export { copyRows } from "./lib/copy-rows.js";
export { COPY_NULL, escapeCopyText, parseCopyLine, unescapeCopyText } from "./lib/copy-text.js";
export * from "./lib/errors.js";
export { type ProcOptions, readMemSizeKb, readProcFile } from "./lib/proc-reader.js";
export type { Queryable } from "./lib/queryable.js";
export { MAX_PIDS, parseColumns, parsePids, parseRole } from "./lib/request-params.js";
export { parseRollup, parseSmaps } from "./lib/smaps-parser.js";
export {
  clearStaleSocket,
  preparePrivateDirectory,
  prepareSocket,
  SocketDirError,
} from "./lib/socket-dir.js";
