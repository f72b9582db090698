/** The machine's page size, from the auxiliary vector (AT_PAGESZ); Node has no sysconf. */
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";

const AT_PAGESZ = 6n;
const FALLBACK = 4096;

let cached: Promise<number> | undefined;

async function fromAuxv(): Promise<number> {
  try {
    const auxv = await readFile("/proc/self/auxv");
    const le = endianness() === "LE";
    // 64-bit entries: (type, value) pairs of 8 bytes each.
    for (let at = 0; at + 16 <= auxv.length; at += 16) {
      const type = le ? auxv.readBigUInt64LE(at) : auxv.readBigUInt64BE(at);
      if (type === 0n) break;
      if (type === AT_PAGESZ) return Number(le ? auxv.readBigUInt64LE(at + 8) : auxv.readBigUInt64BE(at + 8));
    }
  } catch {
    // No /proc/self/auxv (unusual sandbox): the common page size is the best guess.
  }
  return FALLBACK;
}

export function pageSize(): Promise<number> {
  cached ??= fromAuxv();
  return cached;
}
