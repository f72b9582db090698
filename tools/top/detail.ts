/**
 * One process up close, for top's detail view: its memory by kind (backend_memory_by_kind, read at each
 * refresh) and its largest memory contexts (memory_contexts, read when the view opens and on request
 * only: each read makes the backend write a dump to the server log).
 */
import type pg from "pg";
import { type Extension, hasRelation, missingObject, qualified } from "../extension.js";
import { formatBytes } from "../sizes.js";
import { type Problem, problemOf } from "./snapshot.js";

export interface KindRow {
  kind: string;
  rssBytes: number;
  pssBytes: number;
  ussBytes: number;
}

export interface ContextRow {
  name: string;
  totalBytes: number;
  usedBytes: number;
}

/** How many contexts the view lists. */
const CONTEXTS = 12;

export async function readKinds(db: pg.Client, ext: Extension, pid: number): Promise<KindRow[] | Problem> {
  try {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT kind, rss_bytes, pss_bytes, uss_bytes FROM ${qualified(ext, "backend_memory_by_kind")}
        WHERE pid = $1 ORDER BY uss_bytes DESC, rss_bytes DESC`,
      [pid],
    );
    return rows.map((r) => ({
      kind: String(r.kind),
      rssBytes: Number(r.rss_bytes),
      pssBytes: Number(r.pss_bytes),
      ussBytes: Number(r.uss_bytes),
    }));
  } catch (err) {
    return problemOf(err);
  }
}

export async function readContexts(
  db: pg.Client,
  ext: Extension,
  pid: number,
): Promise<ContextRow[] | Problem> {
  if (!(await hasRelation(db, ext, "memory_contexts").catch(() => false)))
    return { message: missingObject(ext, "memory_contexts") };
  try {
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT coalesce(name, summarized_contexts || ' more child contexts') AS name, total_bytes, used_bytes
         FROM ${qualified(ext, "memory_contexts")} WHERE pid = $1 ORDER BY total_bytes DESC LIMIT ${CONTEXTS}`,
      [pid],
    );
    return rows.map((r) => ({
      name: String(r.name),
      totalBytes: Number(r.total_bytes),
      usedBytes: Number(r.used_bytes),
    }));
  } catch (err) {
    return problemOf(err);
  }
}

const isProblem = (v: unknown): v is Problem => !Array.isArray(v);

/** The detail lines: the kinds table, then the contexts table (or what kept each from being read). */
export function detailLines(
  pid: number,
  kinds: KindRow[] | Problem | null,
  contexts: ContextRow[] | Problem | null,
): string[] {
  const lines = [`process ${pid}: memory by kind`, ""];
  if (kinds === null) lines.push("reading...");
  else if (isProblem(kinds))
    lines.push(`cannot read: ${kinds.sqlstate ? `${kinds.sqlstate} ` : ""}${kinds.message}`);
  else {
    lines.push(`${"KIND".padEnd(22)} ${"OWN".padStart(10)} ${"PSS".padStart(10)} ${"RSS".padStart(10)}`);
    for (const k of kinds) {
      lines.push(
        `${k.kind.padEnd(22)} ${formatBytes(k.ussBytes).padStart(10)} ${formatBytes(k.pssBytes).padStart(10)} ${formatBytes(k.rssBytes).padStart(10)}`,
      );
    }
  }
  lines.push("", `process ${pid}: largest memory contexts`, "");
  if (contexts === null) lines.push("reading...");
  else if (isProblem(contexts))
    lines.push(`cannot read: ${contexts.sqlstate ? `${contexts.sqlstate} ` : ""}${contexts.message}`);
  else {
    lines.push(`${"CONTEXT".padEnd(32)} ${"TOTAL".padStart(10)} ${"USED".padStart(10)}`);
    for (const c of contexts) {
      const name = c.name.length > 32 ? `${c.name.slice(0, 31)}…` : c.name;
      lines.push(
        `${name.padEnd(32)} ${formatBytes(c.totalBytes).padStart(10)} ${formatBytes(c.usedBytes).padStart(10)}`,
      );
    }
  }
  return lines;
}
