import {
  type ContextStats,
  parseGrandTotal,
  parseSummary,
  splitContextLine,
  type TypedStats,
} from "./context-stats.js";

/**
 * One message of a memory-context dump (mcxt.c, every one LOG_SERVER_ONLY):
 *   header   `logging memory contexts of PID %d`
 *   context  `level: %d; %s: %s%s`  (level, name, stats, `: ` + ident cut to 100 bytes + `...`)
 *   summary  `level: %d; %d more child contexts containing %zu total in %zu blocks; %zu free (%zu chunks); %zu used`
 *   total    `Grand total: %zu bytes in %zu blocks; %zu free (%zu chunks); %zu used`
 * `level` is as logged: 0-based up to PostgreSQL 17, 1-based from 18.
 */
export type DumpLine =
  | { kind: "header"; pid: number }
  | { kind: "context"; level: number; name: string; ident: string | null; stats: TypedStats }
  | { kind: "summary"; level: number; count: number; stats: ContextStats }
  | { kind: "grand-total"; stats: ContextStats };

const HEADER = /^logging memory contexts of PID (\d{1,10})$/;
const LEVEL = /^level: (\d{1,9}); /;

/** The dump line a log message is, or undefined for any other message. */
export function parseDumpMessage(message: string, majorVersion: number): DumpLine | undefined {
  if (message.startsWith("level: ")) {
    const level = LEVEL.exec(message);
    if (!level) return undefined;
    const rest = message.slice(level[0].length);
    const depth = Number(level[1]);
    const summary = parseSummary(rest);
    if (summary) return { kind: "summary", level: depth, count: summary.count, stats: summary.stats };
    const context = splitContextLine(rest, majorVersion);
    if (context) return { kind: "context", level: depth, ...context };
    return undefined;
  }
  if (message.startsWith("Grand total: ")) {
    const stats = parseGrandTotal(message);
    return stats ? { kind: "grand-total", stats } : undefined;
  }
  const header = HEADER.exec(message);
  if (header) return { kind: "header", pid: Number(header[1]) };
  return undefined;
}
