import { describe, expect, it } from "vitest";
import { BadRequestError } from "../../sidecar/errors.js";
import {
  parseBackendPid,
  parseColumns,
  parsePids,
  parseRole,
  parseTimeRange,
} from "../../sidecar/http/request-params.js";

describe("parseRole", () => {
  it("accepts a decimal OID and normalizes it", () => {
    expect(parseRole("16384")).toBe("16384");
    expect(parseRole("0010")).toBe("10");
    expect(parseRole("4294967295")).toBe("4294967295");
  });

  it("refuses a missing or non-decimal role with MISSING_ROLE", () => {
    for (const bad of [undefined, "", "abc", "-1", "1.5", " 10", "4294967296", "10, 11"]) {
      expect(() => parseRole(bad)).toThrow(
        expect.objectContaining({ code: "MISSING_ROLE", sqlstate: "28000" }),
      );
    }
  });
});

describe("parseBackendPid", () => {
  it("accepts a pid or nothing and refuses junk", () => {
    expect(parseBackendPid("123")).toBe(123);
    expect(parseBackendPid(undefined)).toBeUndefined();
    expect(() => parseBackendPid("x")).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
  });
});

describe("parseColumns", () => {
  it("keeps the requested order", () => {
    expect(parseColumns("smaps", "vm_flags,pid,rss").map((c) => c.name)).toEqual(["vm_flags", "pid", "rss"]);
    expect(parseColumns("summary", "pss_anon,mem_size").map((c) => c.source)).toEqual(["field", "statm"]);
  });

  it("refuses a column of the other kind with UNKNOWN_COLUMN", () => {
    expect(() => parseColumns("summary", "pid,vm_flags")).toThrow(
      expect.objectContaining({
        code: "UNKNOWN_COLUMN",
        sqlstate: "42703",
        message: 'column "vm_flags" does not exist',
      }),
    );
    expect(() => parseColumns("smaps", "pss_anon")).toThrow(
      expect.objectContaining({ code: "UNKNOWN_COLUMN" }),
    );
  });

  it("refuses empty lists, empty names and duplicates with BAD_REQUEST", () => {
    for (const bad of ["", "pid,", ",pid", "pid,rss,pid"]) {
      expect(() => parseColumns("smaps", bad)).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST", sqlstate: "22023" }),
      );
    }
  });
});

describe("parsePids", () => {
  it("reads decimal pids", () => {
    expect([...parsePids("1,42,42,2147483647")]).toEqual([1, 42, 2147483647]);
  });

  it("refuses non-decimal pids and more than 1000", () => {
    for (const bad of ["", "1,", "0x10", "+1", "1 ", "2147483648", "-3"]) {
      expect(() => parsePids(bad)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
    }
    const many = Array.from({ length: 1001 }, (_, i) => i + 1).join(",");
    expect(() => parsePids(many)).toThrow(expect.objectContaining({ message: "too many pids" }));
    expect(parsePids(many.replace(/,1001$/, "")).size).toBe(1000);
  });
});

describe("parseTimeRange", () => {
  const us = (ms: number, extra = 0) => String(BigInt(ms) * 1000n + BigInt(extra));
  const T = 1_767_268_800_000;

  it("turns each bound into the whole ms it lets through, both ends included", () => {
    expect(parseTimeRange({})).toEqual({ fromMs: -Infinity, toMs: Infinity });
    expect(parseTimeRange({ after: us(T) })).toEqual({ fromMs: T + 1, toMs: Infinity });
    expect(parseTimeRange({ after: us(T, 999) })).toEqual({ fromMs: T + 1, toMs: Infinity });
    expect(parseTimeRange({ from: us(T) })).toEqual({ fromMs: T, toMs: Infinity });
    expect(parseTimeRange({ from: us(T, 1) })).toEqual({ fromMs: T + 1, toMs: Infinity });
    expect(parseTimeRange({ before: us(T) })).toEqual({ fromMs: -Infinity, toMs: T - 1 });
    expect(parseTimeRange({ before: us(T, 1) })).toEqual({ fromMs: -Infinity, toMs: T });
    expect(parseTimeRange({ until: us(T, 999) })).toEqual({ fromMs: -Infinity, toMs: T });
    expect(parseTimeRange({ from: us(T), until: us(T) })).toEqual({ fromMs: T, toMs: T });
  });

  it("rounds the right way before 1970 too, and clamps what no sample can reach", () => {
    expect(parseTimeRange({ after: "-1500" })).toEqual({ fromMs: -1, toMs: Infinity });
    expect(parseTimeRange({ until: "-1500" })).toEqual({ fromMs: -Infinity, toMs: -2 });
    expect(parseTimeRange({ from: "9223372036854775807" }).fromMs).toBe(Infinity);
    expect(parseTimeRange({ before: "-9223372036854775808" }).toMs).toBe(-Infinity);
  });

  it("refuses what is not a whole number of µs in int64, and two bounds on one side", () => {
    for (const bad of [
      "",
      "1.5",
      "+1",
      " 1",
      "1e6",
      "0x10",
      "9223372036854775808",
      "-9223372036854775809",
      "1,2",
    ]) {
      expect(() => parseTimeRange({ after: bad }), bad).toThrow(BadRequestError);
    }
    expect(() => parseTimeRange({ after: "1", from: "2" })).toThrow(/after and from/);
    expect(() => parseTimeRange({ before: "1", until: "2" })).toThrow(/before and until/);
  });
});
