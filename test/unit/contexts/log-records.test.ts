import { describe, expect, it } from "vitest";
import { csvFields } from "../../../sidecar/contexts/csv-records.js";
import { createRecordReader } from "../../../sidecar/contexts/log-records.js";
import { DESTINATIONS, fixture, PG15, recordsOf } from "./fixtures.js";

describe("record readers on the real PostgreSQL 15 capture", () => {
  const all = DESTINATIONS.map(({ ext, destination }) => ({
    destination,
    data: fixture(`pg15-three-dumps.${ext}`),
  }));

  it("find the same 482 records, in the same order, in stderr, csvlog and jsonlog", () => {
    const [stderr = [], csv = [], json = []] = all.map(({ data, destination }) =>
      recordsOf(data, destination),
    );
    expect(stderr).toHaveLength(482);
    // The syslogger writes each destination separately: the order of records is not the same
    // across files, but each pid's own records are.
    for (const pid of Object.values(PG15)) {
      const of = (records: typeof stderr) => records?.filter((r) => r.pid === pid).map((r) => r.message);
      expect(of(csv)).toEqual(of(stderr));
      expect(of(json)).toEqual(of(stderr));
      expect(of(stderr)?.[0]).toBe(`logging memory contexts of PID ${pid}`);
    }
    expect(stderr.at(-1)).toEqual({
      pid: PG15.caller,
      severity: "WARNING",
      message: "PID 0 is not a PostgreSQL server process",
    });
  });

  it("give the same records whatever the chunk boundaries", () => {
    for (const { data, destination } of all) {
      const whole = recordsOf(data, destination);
      for (const size of [1, 7, 100, 4093]) {
        expect(recordsOf(data, destination, "%m [%p] ", size)).toEqual(whole);
      }
    }
  });
});

describe("stderr records", () => {
  it("join continuation lines (a tab, then the rest) to their record", () => {
    const recs = recordsOf(fixture("pg17-sort.log"), "stderr");
    expect(recs[1]).toEqual({
      pid: 4343,
      severity: "LOG",
      message: "statement: SELECT *\n  FROM big\n ORDER BY 1;",
    });
  });

  it("hold the last record until flush, since a continuation could follow", () => {
    const reader = createRecordReader("stderr", { linePrefix: "%m [%p] " });
    expect(reader.push(Buffer.from("2025-11-20 10:00:00.000 UTC [1] LOG:  first\n"))).toEqual([]);
    expect(reader.push(Buffer.from("\tsecond line\n"))).toEqual([]);
    expect(reader.flush()).toEqual([{ pid: 1, severity: "LOG", message: "first\nsecond line" }]);
    expect(reader.flush()).toEqual([]);
    // A continuation after the flush has no record any more: ignored.
    expect(reader.push(Buffer.from("\torphan\n2025-11-20 10:00:00.000 UTC [2] LOG:  next\n"))).toEqual([]);
    expect(reader.end()).toEqual([{ pid: 2, severity: "LOG", message: "next" }]);
  });

  it("ignore lines of other shapes", () => {
    const reader = createRecordReader("stderr", { linePrefix: "%m [%p] " });
    const text =
      "garbage\n\n2025-11-20 10:00:00.000 UTC [x] LOG:  bad pid\n2025-11-20 10:00:00.000 UTC [3] LOG:  ok\n";
    expect([...reader.push(Buffer.from(text)), ...reader.end()]).toEqual([
      { pid: 3, severity: "LOG", message: "ok" },
    ]);
  });

  it("decode a UTF-8 character split across two chunks", () => {
    const bytes = Buffer.from("2025-11-20 10:00:00.000 UTC [4] LOG:  héllo ✓\n");
    const split = bytes.indexOf(0xe2) + 1; // inside the three bytes of ✓
    const reader = createRecordReader("stderr", { linePrefix: "%m [%p] " });
    const out = [
      ...reader.push(bytes.subarray(0, split)),
      ...reader.push(bytes.subarray(split)),
      ...reader.end(),
    ];
    expect(out.map((r) => r.message)).toEqual(["héllo ✓"]);
  });

  it("drop a line longer than the bound and keep the next ones", () => {
    const reader = createRecordReader("stderr", { linePrefix: "%m [%p] ", maxRecordBytes: 100 });
    const long = `2025-11-20 10:00:00.000 UTC [5] LOG:  ${"x".repeat(500)}\n`;
    const out: unknown[] = [];
    for (let i = 0; i < long.length; i += 30) out.push(...reader.push(Buffer.from(long.slice(i, i + 30))));
    expect(reader.buffered).toBeLessThanOrEqual(100);
    out.push(...reader.push(Buffer.from("2025-11-20 10:00:00.000 UTC [6] LOG:  short\n")), ...reader.end());
    expect(out).toEqual([{ pid: 6, severity: "LOG", message: "short" }]);
  });
});

describe("csvlog records", () => {
  it("parse quoted fields with commas, doubled quotes and newlines", () => {
    expect(csvFields('a,"b,c","say ""hi""\nthere",,d', 10)).toEqual(["a", "b,c", 'say "hi"\nthere', "", "d"]);
    expect(csvFields("a,b,c", 2)).toEqual(["a", "b"]);
  });

  it("take a record split inside a quoted field across chunks", () => {
    const data = fixture("pg17-sort.csv");
    const at = data.indexOf("FROM big");
    const reader = createRecordReader("csvlog");
    const out = [...reader.push(data.subarray(0, at)), ...reader.push(data.subarray(at)), ...reader.end()];
    expect(out[1]?.message).toBe("statement: SELECT *\n  FROM big\n ORDER BY 1;");
    expect(out).toEqual(recordsOf(data, "csvlog"));
  });

  it("skip a record over the bound, quotes and all, and read the next", () => {
    const reader = createRecordReader("csvlog", { maxRecordBytes: 200 });
    const row = (pid: number, msg: string) =>
      `2025-11-20 10:00:00.000 UTC,"u","d",${pid},"[local]",s.1,1,"",t,3/4,0,LOG,00000,"${msg}",,,,,,,,,"",x,,0\n`;
    const data = Buffer.from(row(7, 'q,""\n'.repeat(100)) + row(8, "kept"));
    const out = [];
    for (let i = 0; i < data.length; i += 50) out.push(...reader.push(data.subarray(i, i + 50)));
    out.push(...reader.end());
    expect(out).toEqual([{ pid: 8, severity: "LOG", message: "kept" }]);
  });
});

describe("jsonlog records", () => {
  it("ignore lines that are not objects with pid, error_severity and message", () => {
    const reader = createRecordReader("jsonlog");
    const text = [
      "not json",
      '{"pid":"12","error_severity":"LOG","message":"pid is a string"}',
      '{"pid":12,"message":"no severity"}',
      '{"pid":12,"error_severity":"LOG","message":"fine: \\"quoted\\"\\nnewline"}',
      "[1,2]",
      '{"pid":13,"error_severity":"LOG","message":"truncated',
    ].join("\n");
    expect([...reader.push(Buffer.from(text)), ...reader.end()]).toEqual([
      { pid: 12, severity: "LOG", message: 'fine: "quoted"\nnewline' },
    ]);
  });
});
