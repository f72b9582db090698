/** Public exports of the sidecar library (no HTTP server). */
export { authorize } from "./cluster/authorize.js";
export { Cluster, defaultSocketPath, firstSocketDirectory, socketPathFor } from "./cluster/cluster.js";
export type { Queryable } from "./cluster/queryable.js";
export * from "./errors.js";
export { MAX_PIDS, parseColumns, parsePids, parseRole } from "./http/request-params.js";
export {
  type Column,
  type ColumnType,
  catalogue,
  findColumn,
  type Kind,
  SMAPS_COLUMNS,
  SUMMARY_COLUMNS,
} from "./proc/columns.js";
export { COPY_NULL, escapeCopyText, parseCopyLine, unescapeCopyText } from "./proc/copy-text.js";
export { parseRollup, parseSmaps } from "./proc/copy-writer.js";
export { type ProcOptions, readMemSizeKb, readProcFile } from "./proc/proc-file.js";
export { copyRows } from "./rows/copy-rows.js";
export {
  clearStaleSocket,
  preparePrivateDirectory,
  prepareSocket,
  SocketDirError,
} from "./security/socket-dir.js";
