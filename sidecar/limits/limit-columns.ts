/** The columns of /v1/limits (docs/protocol.md, "limits") and its one row as COPY text. */
import { escapeCopyText } from "../proc/copy-text.js";
import type { MemoryLimits } from "./memory-limits.js";

export interface LimitColumn {
  readonly name: string;
  /** The value as COPY text (already escaped; \N for NULL). */
  readonly text: (limits: MemoryLimits) => string;
}

const number = (value: bigint | number | null) => (value === null ? "\\N" : String(value));

export const LIMIT_COLUMNS: readonly LimitColumn[] = [
  { name: "limit_source", text: (l) => escapeCopyText(l.limitSource) },
  { name: "cgroup", text: (l) => escapeCopyText(l.cgroup) },
  { name: "memory_limit_bytes", text: (l) => number(l.limitBytes) },
  { name: "memory_used_bytes", text: (l) => number(l.usedBytes) },
  { name: "oom_kills", text: (l) => number(l.oomKills) },
  { name: "overcommit_memory", text: (l) => number(l.overcommitMemory) },
];

export function findLimitColumn(name: string): LimitColumn | undefined {
  return LIMIT_COLUMNS.find((c) => c.name === name);
}

/** The one row, with the given columns in order. */
export function limitsCopyText(limits: MemoryLimits, columns: readonly LimitColumn[]): string {
  return `${columns.map((c) => c.text(limits)).join("\t")}\n`;
}
