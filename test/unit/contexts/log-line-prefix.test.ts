import { describe, expect, it } from "vitest";
import { compileLinePrefix } from "../../../sidecar/contexts/log-line-prefix.js";
import { LogFormatError } from "../../../sidecar/errors.js";

describe("compileLinePrefix", () => {
  it("reads pid, severity and message after the default prefix '%m [%p] '", () => {
    const m = compileLinePrefix("%m [%p] ");
    expect(m.match("2026-12-01 19:49:22.577 UTC [11384] LOG:  level: 0; TopMemoryContext: x")).toEqual({
      pid: 11384,
      severity: "LOG",
      message: "level: 0; TopMemoryContext: x",
    });
    expect(m.match("2026-12-01 19:49:22 UTC [11384] LOG:  no milliseconds")).toBeUndefined();
    expect(m.match("\tcontinuation")).toBeUndefined();
  });

  it("reads the Debian-style prefix '%t [%p]: [%l-1] user=%u,db=%d '", () => {
    const m = compileLinePrefix("%t [%p]: [%l-1] user=%u,db=%d ");
    expect(m.match("2025-11-20 10:00:00 CEST [5151]: [12-1] user=repl,db=shop WARNING:  careful: x")).toEqual(
      {
        pid: 5151,
        severity: "WARNING",
        message: "careful: x",
      },
    );
    // Empty user and database (a background process).
    expect(
      m.match("2025-11-20 10:00:00 UTC [77]: [1-1] user=,db= LOG:  checkpoint starting: time")?.pid,
    ).toBe(77);
  });

  it("takes what follows %q as optional, as non-session processes print it", () => {
    const m = compileLinePrefix("%m [%p] %q%u@%d ");
    expect(m.match("2025-11-20 10:00:00.123 UTC [90] LOG:  checkpoint starting: time")?.pid).toBe(90);
    expect(m.match("2025-11-20 10:00:00.123 UTC [91] app@shop LOG:  statement: SELECT 1")).toEqual({
      pid: 91,
      severity: "LOG",
      message: "statement: SELECT 1",
    });
  });

  it("cannot attribute lines whose %p comes after %q in a non-session process", () => {
    const m = compileLinePrefix("%m %q[%p] ");
    expect(m.match("2025-11-20 10:00:00.123 UTC [92] LOG:  hello")?.pid).toBe(92);
    expect(m.match("2025-11-20 10:00:00.123 UTC LOG:  hello")).toBeUndefined();
  });

  it("understands padded escapes and literal percent signs", () => {
    const m = compileLinePrefix("%% %-8p| %5l ");
    expect(m.match("% 4242    |    17 LOG:  hi")?.pid).toBe(4242);
  });

  it("refuses a prefix without %p, naming the setting and how to fix it", () => {
    let error: unknown;
    try {
      compileLinePrefix("%m [%a] ");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LogFormatError);
    const e = error as LogFormatError;
    expect(e.code).toBe("LOG_FORMAT");
    expect(e.message).toContain("log_line_prefix");
    expect(e.message).toContain("%p");
    expect(e.hint).toContain("csvlog");
    // %%p is a literal "%p", not the pid.
    expect(() => compileLinePrefix("%%p ")).toThrow(LogFormatError);
  });
});
