/** The sidecar's own USS, from /proc/self/smaps_rollup: Private_Clean + Private_Dirty. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** USS in bytes from the text of a smaps_rollup file, or null when it has neither field. */
export function ussFromRollup(text: string): number | null {
  let kb = 0;
  let found = false;
  for (const match of text.matchAll(/^Private_(?:Clean|Dirty):\s+([0-9]+) kB$/gm)) {
    kb += Number(match[1]);
    found = true;
  }
  return found ? kb * 1024 : null;
}

/** The sidecar's own USS in bytes, or null when its smaps_rollup cannot be read. */
export function ownUss(procRoot = "/proc"): number | null {
  try {
    return ussFromRollup(readFileSync(join(procRoot, "self", "smaps_rollup"), "latin1"));
  } catch {
    return null;
  }
}
