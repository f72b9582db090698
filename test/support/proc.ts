import { readFileSync } from "node:fs";

/** One mapping of /proc/PID/smaps, parsed independently of the sidecar. */
export interface Mapping {
  start: string;
  end: string;
  permissions: string;
  offset: string;
  device: string;
  inode: string;
  /** Rest of the header line after the inode, without the padding before it ("" when none). */
  path: string;
  /** Size fields in kB (Rss, Pss, ...). */
  fields: Record<string, number>;
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (\d+)(?: +(.*))?$/;
const FIELD = /^(\w+):\s+(\d+) kB$/;

export function parseSmaps(text: string): Mapping[] {
  const mappings: Mapping[] = [];
  for (const line of text.split("\n")) {
    const header = HEADER.exec(line);
    if (header) {
      mappings.push({
        start: header[1] ?? "",
        end: header[2] ?? "",
        permissions: header[3] ?? "",
        offset: header[4] ?? "",
        device: header[5] ?? "",
        inode: header[6] ?? "",
        path: header[7] ?? "",
        fields: {},
      });
      continue;
    }
    const field = FIELD.exec(line);
    const current = mappings.at(-1);
    if (field && current) current.fields[field[1] ?? ""] = Number(field[2]);
  }
  return mappings;
}

export function readSmaps(pid: number): Mapping[] {
  return parseSmaps(readFileSync(`/proc/${pid}/smaps`, "utf8"));
}

/** Size fields of /proc/PID/smaps_rollup, in kB. */
export function readRollup(pid: number): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").split("\n")) {
    const field = FIELD.exec(line);
    if (field) fields[field[1] ?? ""] = Number(field[2]);
  }
  return fields;
}

export function processExists(pid: number): boolean {
  try {
    readFileSync(`/proc/${pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

/** Parent pid from /proc/PID/stat, undefined when the process is gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces: fields start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[1]);
  } catch {
    return undefined;
  }
}
