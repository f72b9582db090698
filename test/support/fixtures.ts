import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  type Column,
  findColumn,
  SMAPS_COLUMNS,
  type Source,
  SUMMARY_COLUMNS,
} from "../../sidecar/proc/columns.js";
import { parseCopyLine } from "../../sidecar/proc/copy-text.js";

export const FIXTURES = fileURLToPath(new URL("../fixtures/smaps/", import.meta.url));
export const PROC_ROOT = `${FIXTURES}proc`;

export function fixture(name: string): Buffer {
  return readFileSync(`${FIXTURES}${name}`);
}

export function columns(source: Source, names: string): Column[] {
  return names.split(",").map((name) => {
    const column = findColumn(source, name);
    if (column === undefined) throw new Error(`no column ${name}`);
    return column;
  });
}

export const ALL_SMAPS = SMAPS_COLUMNS;
export const ALL_SUMMARY = SUMMARY_COLUMNS;

/** COPY text → rows of unescaped fields (null for \N). */
export function rowsOf(copy: Buffer | string): (string | null)[][] {
  const text = copy.toString();
  if (text === "") return [];
  if (!text.endsWith("\n")) throw new Error("COPY text does not end with a newline");
  return text.slice(0, -1).split("\n").map(parseCopyLine);
}

/** Rows as objects keyed by column name, for readable assertions. */
export function recordsOf(copy: Buffer | string, cols: readonly Column[]): Record<string, string | null>[] {
  return rowsOf(copy).map((row) => {
    if (row.length !== cols.length) throw new Error(`row has ${row.length} fields, expected ${cols.length}`);
    return Object.fromEntries(cols.map((c, i) => [c.name, row[i] ?? null]));
  });
}
