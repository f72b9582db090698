/** PostgreSQL COPY text format for one value (docs/protocol.md, "Response"). */

const COPY_NULL = "\\N";

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** Escapes backslash, tab, newline and carriage return; null becomes \N. */
export function escapeCopyText(value: string | null): string {
  if (value === null) return COPY_NULL;
  if (!SPECIAL.test(value)) return value;
  return value.replace(SPECIAL_ALL, (c) => ESCAPES[c] ?? c);
}

const UNESCAPES: Record<string, string> = { t: "\t", n: "\n", r: "\r", b: "\b", f: "\f", v: "\v" };

/** Reverse of escapeCopyText for one field (as COPY FROM reads it); \N alone is null. */
export function unescapeCopyText(field: string): string | null {
  if (field === COPY_NULL) return null;
  if (!field.includes("\\")) return field;
  return field.replace(/\\(.)/gs, (_, c: string) => UNESCAPES[c] ?? c);
}

/** Splits one COPY text line (without its newline) into its unescaped fields. */
export function parseCopyLine(line: string): (string | null)[] {
  return line.split("\t").map(unescapeCopyText);
}
