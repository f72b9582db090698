import { describe, expect, it } from "vitest";
import {
  CUT,
  END,
  FIELD,
  HEADER,
  KeyTable,
  SmapsTokenizer,
  T_END,
  T_INODE,
  T_MAJOR,
  T_MINOR,
  T_PATH,
  T_PERMS,
  T_START,
  VALUE,
} from "../../sidecar/proc/smaps-tokenizer.js";

function token(t: SmapsTokenizer, slot: number): string | null {
  const s = t.tokens[slot * 2] as number;
  return s < 0 ? null : t.buf.toString("latin1", s, t.tokens[slot * 2 + 1]);
}

/** What the tokenizer reports for a text: headers with their path, fields with their key. */
function lines(text: string): string[] {
  const t = new SmapsTokenizer().reset(Buffer.from(text, "latin1"));
  const out: string[] = [];
  for (let line = t.next(); line !== END; line = t.next()) {
    if (line === HEADER) out.push(`header ${token(t, T_PATH)}`);
    if (line === FIELD) out.push(`field ${t.buf.toString("latin1", t.keyStart, t.keyEnd)}`);
  }
  return out;
}

describe("SmapsTokenizer", () => {
  it("splits a header into its tokens: the path whole, with its spaces, a device of any width", () => {
    const t = new SmapsTokenizer().reset(
      Buffer.from("7f00a000-7f00b000 rw-s 00001000 103:0a 4294967296    /dev/zero (deleted)\n"),
    );
    expect(t.next()).toBe(HEADER);
    expect(
      [T_START, T_END, T_PERMS, T_MAJOR, T_MINOR, T_INODE, T_PATH].map((slot) => token(t, slot)),
    ).toEqual(["7f00a000", "7f00b000", "rw-s", "103", "0a", "4294967296", "/dev/zero (deleted)"]);
    expect(t.next()).toBe(END);
  });

  it("reads sizes, tells a value that is not one, and never reports a cut last line", () => {
    const t = new SmapsTokenizer().reset(Buffer.from("Rss:    12 kB\nPss: lots\nSwap:   7"));
    const keys = new KeyTable(["Rss", "Pss", "Swap"]);
    expect(t.next()).toBe(FIELD);
    expect(keys.find(t)).toBe(0);
    expect(t.size()).toBe(VALUE);
    expect(t.sizeValue()).toBe(12);
    expect(t.next()).toBe(FIELD);
    expect(keys.find(t)).toBe(1);
    expect(t.size()).not.toBe(VALUE);
    expect(t.next()).toBe(FIELD);
    expect(keys.find(t)).toBe(2);
    expect(t.size()).toBe(CUT);
    expect(t.next()).toBe(END);
  });

  it("finds only the keys of its table, whatever their hash neighbours", () => {
    const t = new SmapsTokenizer().reset(Buffer.from("Pss_Dirty: 1 kB\nPss: 2 kB\nPsz: 3 kB\n"));
    const keys = new KeyTable(["Pss"]);
    const found: number[] = [];
    for (let line = t.next(); line !== END; line = t.next()) found.push(keys.find(t));
    expect(found).toEqual([-1, 0, -1]);
  });

  it("skips lines that are neither, however many, without reading past the buffer", () => {
    const garbage = "no colon here\n".repeat(100_000);
    expect(
      lines(`${garbage}00400000-00401000 r-xp 00000000 08:02 17 /bin/cat\nRss: 4 kB\n${garbage}`),
    ).toEqual(["header /bin/cat", "field Rss"]);
    expect(lines("")).toEqual([]);
    expect(lines("00400000-00401000 r-xp 00000000 08:02 17 /bin/c")).toEqual([]);
  });
});
