import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSmaps } from "../../sidecar/proc/copy-writer.js";
import { columns, rowsOf } from "../support/fixtures.js";

const KEYS = ["Size", "Rss", "Pss", "Pss_Dirty", "KSM", "ProtectionKey", "Swap", "THPeligible", "Locked"];

/** Path characters the kernel can print: anything but newline (printed as \012), hostile ones favoured. */
const pathChar = fc.oneof(
  fc.constantFrom(" ", "\t", "\\", "\\012", " (deleted)", "[", "]", ":", "-", "é", "€", "\r"),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }).filter((c) => !c.includes("\n")),
  fc.string({ minLength: 1, maxLength: 1 }).filter((c) => c !== "\n"),
);
const path = fc.array(pathChar, { maxLength: 12 }).map((parts) => parts.join(""));

const hex = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => n.toString(16));

const mapping = fc.record({
  start: hex,
  end: hex,
  perms: fc.constantFrom("r--p", "rw-s", "---p", "r-xp"),
  major: fc.integer({ min: 0, max: 4095 }).map((n) => n.toString(16)),
  minor: fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, "0")),
  inode: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }).map(String),
  // Paths are absolute (or [name]); an empty one means an anonymous mapping.
  path: fc.oneof(
    fc.constant(""),
    path.map((p) => `/${p}`),
  ),
  fields: fc.array(
    fc.tuple(
      fc.constantFrom(...KEYS),
      fc.oneof(
        fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }).map((n) => `${n} kB`),
        fc.string({ maxLength: 6 }),
      ),
    ),
    { maxLength: 8 },
  ),
});

type Mapping = typeof mapping extends fc.Arbitrary<infer T> ? T : never;

function render(m: Mapping): string {
  const header = `${m.start}-${m.end} ${m.perms} 00000000 ${m.major}:${m.minor} ${m.inode}`;
  const padded = m.path === "" ? `${header}\n` : `${`${header} `.padEnd(73)}${m.path}\n`;
  const fields = m.fields.map(([k, v]) => `${k}:  ${v.replaceAll("\n", " ")}\n`).join("");
  return padded + fields;
}

describe("parseSmaps on generated smaps text", () => {
  it("never throws, has one row per header and gives back each path", () => {
    const cols = columns("smaps", "start_address,sys_path,inode,dev_major,rss");
    fc.assert(
      fc.property(fc.array(mapping, { maxLength: 20 }), (maps) => {
        const rows = rowsOf(parseSmaps(Buffer.from(maps.map(render).join("")), 1, cols));
        expect(rows).toHaveLength(maps.length);
        rows.forEach((row, i) => {
          const m = maps[i];
          expect(row).toHaveLength(5);
          expect(row[0]).toBe(m?.start);
          expect(row[1]).toBe(m?.path === "" ? null : m?.path);
          expect(row[2]).toBe(m?.inode);
          expect(row[3]).toBe(m?.major);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on arbitrary bytes and always writes whole lines of the right width", () => {
    const cols = columns("smaps", "pid,sys_path,rss,vm_flags");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const out = parseSmaps(Buffer.from(bytes), 9, cols).toString();
        if (out === "") return;
        expect(out.endsWith("\n")).toBe(true);
        for (const line of out.slice(0, -1).split("\n")) {
          expect(line.split("\t")).toHaveLength(4);
          expect(line.startsWith("9\t")).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
