/**
 * Property: a mapping path survives the whole way, byte for byte: smaps text with a hostile path →
 * the sidecar's real parser (COPY text) → served by the fake sidecar → the FDW and COPY → a Postgres
 * row. Bytes that are not UTF-8 become U+FFFD by design (docs/protocol.md); everything else, tabs,
 * backslashes, "\012", CR, spaces and " (deleted)" included, comes back exactly.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findColumn } from "../../sidecar/proc/columns.js";
import { parseSmaps } from "../../sidecar/proc/copy-writer.js";
import { useFakeServer } from "../support/fake-server-fixture.js";
import { okResponse } from "../support/fake-sidecar.js";

const COLUMNS = ["pid", "sys_path", "rss"].map((name) => {
  const column = findColumn("smaps", name);
  if (!column) throw new Error(`no column ${name}`);
  return column;
});

/** Path pieces the kernel can print (a newline in a name is printed as \012), hostile ones favoured. */
const piece = fc.oneof(
  fc
    .constantFrom(
      " ",
      "  ",
      "\t",
      "\\",
      "\\\\",
      "\\012",
      "\\t",
      "\\.",
      "\r",
      " (deleted)",
      "é",
      "€",
      "😀",
      "\\N",
    )
    .map((text) => Buffer.from(text)),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 3 }).map((text) => Buffer.from(text)),
  fc.uint8Array({ minLength: 1, maxLength: 3 }).map((bytes) => Buffer.from(bytes)),
);
const pathBytes = fc
  .array(piece, { minLength: 1, maxLength: 10 })
  .map((parts) => Buffer.concat(parts))
  .filter((b) => !b.includes(0x0a) && !b.includes(0x00));

/** What Postgres must hold for a path: its bytes as UTF-8, each invalid sequence as U+FFFD. */
function expected(path: Buffer): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(path);
}

describe("a path's round trip through the sidecar's parser, the FDW and COPY", () => {
  const ctx = useFakeServer("roundtrip", { timeout: "5" });

  it("gives back every path byte for byte (invalid UTF-8 as U+FFFD)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(pathBytes, { minLength: 1, maxLength: 6 }), async (paths) => {
        const smaps = Buffer.concat(
          paths.flatMap((path, i) => [
            Buffer.from(
              `${(i * 4096).toString(16)}-${(i * 4096 + 4096).toString(16)} r--p 00000000 08:01 ${1000 + i}`.padEnd(
                73,
              ),
            ),
            Buffer.from("/"),
            path,
            Buffer.from(`\nRss:                 ${i} kB\n`),
          ]),
        );
        const copy = parseSmaps(smaps, 4242, COLUMNS);
        await ctx.fake.respond(okResponse(copy, 13));
        const rows = await ctx.client.query<{ pid: number; sys_path: string; rss: string }>(
          "SELECT pid, sys_path, rss FROM roundtrip_smaps",
        );
        // The kernel pads before the path; the path itself begins at its first non-space byte.
        expect(rows.rows).toEqual(
          paths.map((path, i) => ({
            pid: 4242,
            sys_path: expected(Buffer.concat([Buffer.from("/"), path])),
            rss: String(i),
          })),
        );
      }),
      { numRuns: 150 },
    );
  });
});
