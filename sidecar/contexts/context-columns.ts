/**
 * The columns of /v1/contexts (docs/protocol.md, "contexts") and how each is written as COPY text.
 * Names and meaning follow the server's own pg_backend_memory_contexts where it has the column.
 */
import { escapeCopyText } from "../proc/copy-text.js";
import type { ContextDump, ContextRow } from "./dump-parser.js";

export interface ContextColumn {
  readonly name: string;
  /** The value as COPY text (already escaped; \N for NULL). */
  readonly text: (row: ContextRow) => string;
}

const counter =
  (key: "totalBytes" | "totalNblocks" | "freeBytes" | "freeChunks" | "usedBytes") => (row: ContextRow) =>
    row[key];

export const CONTEXT_COLUMNS: readonly ContextColumn[] = [
  { name: "pid", text: (row) => String(row.pid) },
  { name: "name", text: (row) => escapeCopyText(row.name) },
  { name: "ident", text: (row) => escapeCopyText(row.ident) },
  { name: "parent", text: (row) => escapeCopyText(row.parent) },
  { name: "level", text: (row) => String(row.level) },
  // An int[] in COPY text: {1,2,3}.
  { name: "path", text: (row) => `{${row.path.join(",")}}` },
  { name: "type", text: (row) => escapeCopyText(row.type) },
  { name: "total_bytes", text: counter("totalBytes") },
  { name: "total_nblocks", text: counter("totalNblocks") },
  { name: "free_bytes", text: counter("freeBytes") },
  { name: "free_chunks", text: counter("freeChunks") },
  { name: "used_bytes", text: counter("usedBytes") },
  {
    name: "summarized_contexts",
    text: (row) => (row.summarizedContexts === null ? "\\N" : String(row.summarizedContexts)),
  },
];

export function findContextColumn(name: string): ContextColumn | undefined {
  return CONTEXT_COLUMNS.find((c) => c.name === name);
}

/** The rows of the dumps as COPY text, dump after dump, each in the order the server logged it. */
export function contextCopyText(dumps: readonly ContextDump[], columns: readonly ContextColumn[]): string {
  const lines: string[] = [];
  for (const dump of dumps) {
    for (const row of dump.rows) lines.push(`${columns.map((c) => c.text(row)).join("\t")}\n`);
  }
  return lines.join("");
}
