/**
 * Small text files of /proc and /sys read whole, synchronously, into a reused buffer (the memory limits'
 * files: a line or a few dozen). A file that cannot be read, whatever the reason, is null: each
 * figure that depends on it is then NULL.
 */
import { closeSync, openSync, readSync } from "node:fs";
import type { ScratchBuffer } from "../proc/proc-file.js";

/** Contents of the file at `path` as latin1 text, or null when it is missing, unreadable or empty. */
export function readSmallFile(path: string, scratch: ScratchBuffer): string | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  let length = 0;
  try {
    for (;;) {
      if (length === scratch.buf.length) scratch.grow();
      const n = readSync(fd, scratch.buf, length, scratch.buf.length - length, null);
      if (n === 0) break;
      length += n;
    }
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
  return length === 0 ? null : scratch.buf.toString("latin1", 0, length);
}

const MAX_BIGINT = 2n ** 63n - 1n;
const DECIMAL = /^[0-9]{1,19}$/;

/** A non-negative decimal that fits a bigint column, or null. */
export function bigintFrom(text: string | null | undefined): bigint | null {
  if (text === null || text === undefined || !DECIMAL.test(text)) return null;
  const value = BigInt(text);
  return value <= MAX_BIGINT ? value : null;
}

/** The value of the `key value` line of a flat keyed file (memory.events, memory.oom_control), or null. */
export function keyedValue(text: string | null, key: string): bigint | null {
  if (text === null) return null;
  for (const line of text.split("\n")) {
    const [name, value, extra] = line.trim().split(/\s+/);
    if (name === key && extra === undefined) return bigintFrom(value);
  }
  return null;
}
