/**
 * What top shows, as lines of text: the header (the cluster, the sidecar, growth), then one line per
 * process in the chosen order. The terminal view and --once print the same lines.
 */
import { formatBytes, formatRate } from "../sizes.js";
import type { ProcessRow, Snapshot } from "./snapshot.js";

export type SortKey = "own" | "pss" | "growth";

export const SORT_KEYS: Record<string, SortKey> = { o: "own", p: "pss", g: "growth" };

/**
 * Biggest first, then by pid. By growth: the steady growers (▲) first, fastest first, then the others by
 * their slope (a single step such as a big sort has one too), and processes without figures last.
 */
export function sortRows(rows: readonly ProcessRow[], key: SortKey): ProcessRow[] {
  const value = (r: ProcessRow): number =>
    key === "own" ? r.ussBytes : key === "pss" ? r.pssBytes : (r.growthPerMinute ?? Number.NEGATIVE_INFINITY);
  const steady = (r: ProcessRow) => (key === "growth" && r.growing ? 1 : 0);
  return [...rows].sort((a, b) => steady(b) - steady(a) || value(b) - value(a) || a.pid - b.pid);
}

interface Column {
  title: string;
  width: number;
  right?: boolean;
  cell: (r: ProcessRow) => string;
}

const time = (d: Date | null): string => (d === null ? "" : d.toTimeString().slice(0, 8));

const COLUMNS: Column[] = [
  { title: "PID", width: 7, right: true, cell: (r) => String(r.pid) },
  { title: "OWN", width: 10, right: true, cell: (r) => formatBytes(r.ussBytes) },
  { title: "PSS", width: 10, right: true, cell: (r) => formatBytes(r.pssBytes) },
  { title: "SHBUF", width: 10, right: true, cell: (r) => formatBytes(r.sharedBuffersBytes) },
  {
    title: "GROWTH",
    width: 16,
    right: true,
    cell: (r) =>
      r.growthPerMinute === null ? "n/a" : `${r.growing ? "▲ " : ""}${formatRate(r.growthPerMinute)}`,
  },
  { title: "STATE", width: 19, cell: (r) => r.state },
  { title: "QUERY START", width: 11, cell: (r) => time(r.queryStart) },
  { title: "APPLICATION", width: 24, cell: (r) => r.applicationName },
  { title: "BACKEND TYPE", width: 0, cell: (r) => r.backendType },
];

function pad(text: string, width: number, right = false): string {
  if (width === 0) return text;
  const cut = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return right ? cut.padStart(width) : cut.padEnd(width);
}

function line(cells: string[]): string {
  return cells.join(" ").trimEnd();
}

export const TABLE_HEADER = line(COLUMNS.map((c) => pad(c.title, c.width, c.right)));

export function rowLine(row: ProcessRow): string {
  return line(COLUMNS.map((c) => pad(c.cell(row), c.width, c.right)));
}

export interface HeaderOptions {
  sort: SortKey;
  intervalSeconds: number;
  /** Where top is connected, for the first line. */
  target: string;
}

const problemText = (p: { sqlstate?: string; message: string }) =>
  `${p.sqlstate ? `${p.sqlstate} ` : ""}${p.message}`;

/** The header lines: what, when, the cluster's totals, the sidecar, growth, the sort. */
export function headerLines(s: Snapshot, options: HeaderOptions): string[] {
  const lines = [
    `pg-meminfo top  ${s.server ?? options.target}  ${time(s.takenAt)}  every ${options.intervalSeconds} s, by ${options.sort}`,
  ];
  if (s.serverError) lines.push(`server: error, retrying: ${problemText(s.serverError)}`);
  const c = s.cluster;
  if (c) {
    const limit =
      c.limitBytes === null
        ? ""
        : `, limit ${formatBytes(c.limitBytes)}, headroom ${formatBytes(c.headroomBytes)}`;
    lines.push(
      `cluster: ${c.processes} processes, PSS ${formatBytes(c.totalPssBytes)}, own ${formatBytes(c.totalUssBytes)}, ` +
        `shared memory ${formatBytes(c.sharedMemoryBytes)}${limit}`,
    );
  }
  if (s.sidecar && "ms" in s.sidecar) lines.push(`sidecar: ok, answered in ${s.sidecar.ms} ms`);
  else if (s.sidecar) lines.push(`sidecar: error, retrying: ${problemText(s.sidecar.error)}`);
  if (s.rowsAt && s.rowsAt !== s.takenAt) lines.push(`rows below as of ${time(s.rowsAt)}`);
  if (s.growthNote) lines.push(`growth: n/a, ${s.growthNote}`);
  return lines;
}

/** The whole screen as --once prints it. */
export function screenLines(s: Snapshot, options: HeaderOptions): string[] {
  return [...headerLines(s, options), "", TABLE_HEADER, ...sortRows(s.rows, options.sort).map(rowLine)];
}
