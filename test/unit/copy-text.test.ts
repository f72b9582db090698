import { describe, expect, it } from "vitest";
import { escapeCopyText, parseCopyLine, unescapeCopyText } from "../../sidecar/proc/copy-text.js";

describe("escapeCopyText", () => {
  it("writes NULL as \\N", () => {
    expect(escapeCopyText(null)).toBe("\\N");
  });

  it("escapes backslash, tab, newline and carriage return", () => {
    expect(escapeCopyText("a\\b\tc\nd\re")).toBe("a\\\\b\\tc\\nd\\re");
  });

  it("leaves other text alone, including a literal \\N spelled with two characters escaped", () => {
    expect(escapeCopyText("/usr/lib/é (deleted)")).toBe("/usr/lib/é (deleted)");
    expect(escapeCopyText("\\N")).toBe("\\\\N");
  });

  it("round-trips through unescapeCopyText", () => {
    for (const s of ["", "x", "\\012", "\t\t", "a\\\\b", "\\N", "\r\n"]) {
      expect(unescapeCopyText(escapeCopyText(s))).toBe(s);
    }
  });
});

describe("parseCopyLine", () => {
  it("splits on tabs and unescapes each field", () => {
    expect(parseCopyLine("1\t\\N\ta\\tb\t\\\\")).toEqual(["1", null, "a\tb", "\\"]);
  });
});
