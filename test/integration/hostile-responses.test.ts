import { describe, expect, it } from "vitest";
import { useFakeServer } from "../support/fake-server-fixture.js";
import { errorResponse, OK_HEAD, okResponse } from "../support/fake-sidecar.js";
import { failure } from "../support/foreign-server.js";

const ROWS = "101\t/usr/lib/a b\t10\n101\t\\N\t\\N\n102\t/tmp/x\\ty (deleted)\t7\n103\t[heap]\t0\n";
const EXPECTED = [
  { pid: 101, sys_path: "/usr/lib/a b", rss: "10" },
  { pid: 101, sys_path: null, rss: null },
  { pid: 102, sys_path: "/tmp/x\ty (deleted)", rss: "7" },
  { pid: 103, sys_path: "[heap]", rss: "0" },
];
const SELECT = "SELECT pid, sys_path, rss FROM hostile_smaps";

describe("responses cut short or malformed", () => {
  const ctx = useFakeServer("hostile", { timeout: "5" });

  it("reads a whole response, and the request carries role, pid and columns", async () => {
    await ctx.fake.respond(okResponse(ROWS, 7));
    const from = ctx.fake.events.length;
    expect((await ctx.client.query(SELECT)).rows).toEqual(EXPECTED);
    const request = await ctx.fake.waitFor<{ event: "request"; id: number; head: string }>(
      (e) => e.event === "request",
      5_000,
      from,
    );
    expect(request.head).toMatch(/^GET \/v1\/smaps\?columns=pid,sys_path,rss HTTP\/1\.1\r\n/);
    expect(request.head).toMatch(/\r\nX-Pg-Meminfo-Role: 10\r\n/i);
  });

  it("fails at every cut point of a chunked response, and succeeds only when it is whole", async () => {
    const whole = okResponse(ROWS, 9);
    const codes = new Set<string>();
    for (let cut = 0; cut < whole.length; cut++) {
      await ctx.fake.respond(whole.subarray(0, cut));
      const error = await failure(ctx.client, SELECT);
      expect(error.code, `cut at ${cut}: ${error.message}`).toMatch(/^08/);
      codes.add(`${error.code} ${error.message}`);
    }
    await ctx.fake.respond(whole);
    expect((await ctx.client.query(SELECT)).rows).toEqual(EXPECTED);
    // Every cut is either "closed before complete" or, for a cut inside the status line, the same.
    expect([...codes].join("\n")).toContain("closed the connection before the response was complete");
  });

  it("fails at every cut point of a Content-Length response", async () => {
    const body = Buffer.from(ROWS);
    const head = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`;
    const whole = Buffer.concat([Buffer.from(head), body]);
    for (let cut = 0; cut < whole.length; cut++) {
      await ctx.fake.respond(whole.subarray(0, cut));
      const error = await failure(ctx.client, SELECT);
      expect(error.code, `cut at ${cut}: ${error.message}`).toMatch(/^08/);
    }
    await ctx.fake.respond(whole);
    expect((await ctx.client.query(SELECT)).rows).toEqual(EXPECTED);
  });

  it("fails when the connection is reset in the middle of the rows", async () => {
    const whole = okResponse(ROWS, 9);
    await ctx.fake.script([{ write: whole.subarray(0, whole.length - 20) }, { sleep: 50 }, { reset: true }]);
    const error = await failure(ctx.client, SELECT);
    expect(error.code).toMatch(/^08/);
  });

  const malformedHttp: [string, Buffer | string, RegExp][] = [
    [
      "a bad status line",
      "HTTP/1.1 2OO OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      /bad status line/,
    ],
    ["not HTTP at all", "SSH-2.0-OpenSSH_9.2\r\n\r\n", /bad status line/],
    [
      "a header line without a colon",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding chunked\r\n\r\n",
      /bad header line/,
    ],
    [
      "a huge header",
      `HTTP/1.1 200 OK\r\nX-Junk: ${"a".repeat(100_000)}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      /response header too large/,
    ],
    ["a bad chunk size", `${OK_HEAD}zz\r\n`, /bad chunk size/],
    ["a chunk size with a sign", `${OK_HEAD}-5\r\nhello\r\n0\r\n\r\n`, /bad chunk size/],
    ["an absurd chunk size", `${OK_HEAD}ffffffffffffffff\r\n`, /chunk size too large/],
    [
      "chunk data longer than announced",
      `${OK_HEAD}2\r\n1\t/a\t3\n\r\n0\r\n\r\n`,
      /chunk not followed by CRLF/,
    ],
    ["a chunk size line without CR", `${OK_HEAD}5\n`, /line not ended by CRLF/],
    ["an endless chunk size line", `${OK_HEAD}${"0".repeat(5_000)}`, /line too long|chunk size too large/],
    [
      "an unknown transfer encoding",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
      /unsupported transfer encoding/,
    ],
    [
      "neither chunked nor a length",
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n1\t/a\t1\n",
      /neither chunked/,
    ],
    ["a negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", /bad Content-Length/],
    [
      "an overflowing Content-Length",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      /bad Content-Length/,
    ],
  ];

  it.each(malformedHttp)(
    "rejects %s with SQLSTATE 08P01 and says what is wrong",
    async (_name, bytes, what) => {
      await ctx.fake.respond(bytes);
      const error = await failure(ctx.client, SELECT);
      expect(error.code, error.message).toBe("08P01");
      expect(error.message).toMatch(/^malformed response from pg_meminfo sidecar: /);
      expect(error.message).toMatch(what);
      expect(error.hint).toBeTruthy();
    },
  );

  const malformedRows: [string, string, string, RegExp, RegExp][] = [
    ["a missing column", "1\t/a\t1\n2\t/b\n", "22P04", /missing data for column "rss"/, /line 2/],
    ["an extra column", "1\t/a\t1\t9\n", "22P04", /extra data after last expected column/, /line 1/],
    [
      "a bigint overflow",
      "1\t/a\t99999999999999999999\n",
      "22003",
      /out of range for type bigint/,
      /column rss/,
    ],
    ["an integer overflow", "4294967296\t/a\t1\n", "22003", /out of range for type integer/, /column pid/],
    [
      "a number that is not one",
      "1\t/a\t12kB\n",
      "22P02",
      /invalid input syntax for type bigint/,
      /column rss/,
    ],
    ["invalid UTF-8", "1\t/a\xff\xfe\t1\n", "22021", /invalid byte sequence for encoding "UTF8"/, /line 1/],
    ["a NUL byte", "1\t/a\0b\t1\n", "22021", /invalid byte sequence for encoding "UTF8": 0x00/, /line 1/],
  ];

  it.each(malformedRows)(
    "rejects a row with %s, naming the line and column",
    async (_name, rows, code, what, where) => {
      await ctx.fake.respond(okResponse(Buffer.from(rows, "latin1")));
      const error = await failure(ctx.client, SELECT);
      expect(error.code, error.message).toBe(code);
      expect(error.message).toMatch(what);
      expect(error.where ?? "", error.message).toMatch(/COPY hostile_smaps/);
      expect(error.where ?? "").toMatch(where);
    },
  );

  // COPY ends its input at an unescaped "\." and ignores what follows; the sidecar never sends one.
  const markers: [string, string][] = [
    ["on a line of its own, before more rows", "1\t/a\t1\n\\.\n2\t/b\t2\n"],
    ["at the very end", "1\t/a\t1\n\\.\n"],
    ["inside a row", "1\t/a\\.\t1\n2\t/b\t2\n"],
    ["followed by junk", "1\t/a\t1\n\\.x\n"],
  ];

  it.each(markers)("rejects an end-of-data marker %s rather than dropping rows", async (_name, rows) => {
    await ctx.fake.respond(okResponse(rows, 5));
    const error = await failure(ctx.client, SELECT);
    expect(error.code, error.message).toBe("08P01");
    expect(error.message).toMatch(/end-of-data marker in the rows/);
  });

  it("keeps an escaped backslash before a dot, which is data", async () => {
    await ctx.fake.respond(okResponse("1\t/a\\\\.b\t1\n", 3));
    expect((await ctx.client.query(SELECT)).rows).toEqual([{ pid: 1, sys_path: "/a\\.b", rss: "1" }]);
  });
});

describe("error responses of the sidecar", () => {
  const ctx = useFakeServer("answers", { timeout: "5" });

  const reports: [number, object, string][] = [
    [403, { code: "FORBIDDEN", sqlstate: "42501", message: "permission denied: nope" }, "42501"],
    [400, { code: "UNKNOWN_COLUMN", sqlstate: "42703", message: 'no column "x"' }, "42703"],
    [404, { code: "NOT_FOUND", sqlstate: "22023", message: "not found" }, "22023"],
    [503, { code: "BUSY", sqlstate: "53300", message: "too many requests waiting" }, "53300"],
    [
      503,
      { code: "DATABASE_UNAVAILABLE", sqlstate: "08006", message: "could not reach the cluster" },
      "08006",
    ],
    [500, { code: "PROC_UNREADABLE", sqlstate: "58000", message: "could not read /proc/1/smaps" }, "58000"],
    [500, { code: "INTERNAL", sqlstate: "XX000", message: "internal error in the sidecar" }, "XX000"],
  ];

  it.each(reports)(
    "HTTP %i with a report raises its SQLSTATE, message, detail and hint",
    async (status, report, code) => {
      await ctx.fake.respond(errorResponse(status, { ...report, detail: "The detail.", hint: "The hint." }));
      const error = await failure(ctx.client, "SELECT * FROM answers_summary");
      expect(error).toMatchObject({
        code,
        message: (report as { message: string }).message,
        detail: "The detail.",
        hint: "The hint.",
      });
    },
  );

  const unreadable: [string, number, string, string][] = [
    ["not JSON", 500, "<html>Internal Server Error</html>", "HV000"],
    ["a JSON array", 502, "[1,2]", "HV000"],
    ["no message", 500, '{"sqlstate":"XX000"}', "HV000"],
    ["invalid UTF-8", 500, '{"message":"\xff"}', "HV000"],
    ["a forbidden without report", 403, "denied", "42501"],
    ["a 503 without report", 503, "busy", "08006"],
  ];

  it.each(unreadable)(
    "an error response with %s still fails with a fitting SQLSTATE",
    async (_name, status, body, code) => {
      await ctx.fake.respond(errorResponse(status, Buffer.from(body, "latin1")));
      const error = await failure(ctx.client, "SELECT * FROM answers_summary");
      expect(error.code, error.message).toBe(code);
      expect(error.message).toBe(
        `pg_meminfo sidecar answered HTTP ${status} without a readable error report`,
      );
    },
  );

  it("a report with a success SQLSTATE is still an error", async () => {
    await ctx.fake.respond(errorResponse(500, { sqlstate: "00000", message: "all is well" }));
    const error = await failure(ctx.client, "SELECT * FROM answers_summary");
    expect(error).toMatchObject({ code: "HV000", message: "all is well" });
  });

  it("an error response cut short still fails", async () => {
    const whole = errorResponse(403, { sqlstate: "42501", message: "permission denied" });
    await ctx.fake.respond(whole.subarray(0, whole.length - 5));
    const error = await failure(ctx.client, "SELECT * FROM answers_summary");
    expect(error.code).toMatch(/^08/);
  });
});
