import { describe, expect, it } from "vitest";
import { parseBackendPid, parseColumns, parsePids, parseRole } from "../../sidecar/http/request-params.js";

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
