/** The server option max_response_size, and a backend's memory while a large response streams. */
import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isRoot } from "../../harness/run-as.js";
import { backendPid } from "../support/db.js";
import { useFakeServer } from "../support/fake-server-fixture.js";
import { OK_HEAD } from "../support/fake-sidecar.js";
import { failure } from "../support/foreign-server.js";

/** 4,000 rows of one pid column ("1\n"): 8,000 bytes a chunk. */
const CHUNK = "1\n".repeat(4_000);

/** Peak resident memory of a process since the last reset, in kB (VmHWM). */
function peakKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  return Number(line?.replace(/\D+/g, ""));
}

/** Resets VmHWM to the current RSS (root only: another user's process). */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

describe("max_response_size", () => {
  const ctx = useFakeServer("sized", { timeout: "10" });

  it.each([["0"], ["-1MB"], ["2TB"], ["1 parsec"], ["10mb"], [""]])(
    "refuses max_response_size '%s' when it is set",
    async (value) => {
      const error = await failure(
        ctx.client,
        `ALTER SERVER sized OPTIONS (ADD max_response_size '${value}')`,
      );
      expect(error.code).toBe("HV024");
      expect(error.message).toBe(`invalid value for option "max_response_size": "${value}"`);
      expect(error.hint).toMatch(/from 1 to 1TB/);
    },
  );

  it("is a server option only", async () => {
    const error = await failure(
      ctx.client,
      "ALTER FOREIGN TABLE sized_pids OPTIONS (ADD max_response_size '1MB')",
    );
    expect(error.code).toBe("HV00D");
  });

  it("fails a response larger than the limit with 54000 and a hint naming the option", async () => {
    await ctx.client.query("ALTER SERVER sized OPTIONS (ADD max_response_size '1MB')");
    try {
      // 8 MB of valid rows, far past the limit.
      await ctx.fake.script([{ write: OK_HEAD }, { repeat: CHUNK, times: 1_000 }, { write: "0\r\n\r\n" }]);
      const error = await failure(ctx.client, "SELECT count(pid) FROM sized_pids");
      expect(error.code).toBe("54000");
      expect(error.message).toMatch(
        /^response from pg_meminfo sidecar at ".*" is larger than 1048576 bytes$/,
      );
      expect(error.hint).toContain('"max_response_size"');
      // Exactly at the limit is fine: 131 chunks of 8,000 bytes = 1,048,000 bytes.
      await ctx.fake.script([{ write: OK_HEAD }, { repeat: CHUNK, times: 131 }, { write: "0\r\n\r\n" }]);
      const rows = await ctx.client.query<{ count: string }>("SELECT count(pid) FROM sized_pids");
      expect(rows.rows[0]?.count).toBe(String(131 * 4_000));
      await ctx.client.query("ALTER SERVER sized OPTIONS (SET max_response_size '1048000B')");
      expect((await ctx.client.query("SELECT count(pid) FROM sized_pids")).rows[0]?.count).toBe(
        String(131 * 4_000),
      );
      await ctx.client.query("ALTER SERVER sized OPTIONS (SET max_response_size '1047999')");
      expect((await failure(ctx.client, "SELECT count(pid) FROM sized_pids")).code).toBe("54000");
    } finally {
      await ctx.client.query("ALTER SERVER sized OPTIONS (DROP max_response_size)");
    }
  });

  it("does not apply to an error report, which has its own small bound", async () => {
    await ctx.client.query("ALTER SERVER sized OPTIONS (ADD max_response_size '10B')");
    try {
      const report = JSON.stringify({ sqlstate: "42501", message: "a message longer than ten bytes" });
      await ctx.fake.respond(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${report.length}\r\n\r\n${report}`,
      );
      const error = await failure(ctx.client, "SELECT count(pid) FROM sized_pids");
      expect(error).toMatchObject({ code: "42501", message: "a message longer than ten bytes" });
    } finally {
      await ctx.client.query("ALTER SERVER sized OPTIONS (DROP max_response_size)");
    }
  });

  // Peak RSS of another user's process can only be reset by root.
  it.skipIf(!isRoot())(
    "streams: a 16 MB response moves the backend's peak memory by a few MB at most",
    async () => {
      const pid = await backendPid(ctx.client);
      const small = [{ write: OK_HEAD }, { repeat: CHUNK, times: 10 }, { write: "0\r\n\r\n" }];
      const big = [{ write: OK_HEAD }, { repeat: CHUNK, times: 2_000 }, { write: "0\r\n\r\n" }];
      // Warm up: the first scan touches catalog pages and builds caches, which count in RSS.
      await ctx.fake.script(small);
      for (let i = 0; i < 3; i++) await ctx.client.query("SELECT count(pid) FROM sized_pids");

      resetPeak(pid);
      const before = peakKb(pid);
      await ctx.fake.script(big);
      const rows = await ctx.client.query<{ count: string }>("SELECT count(pid) FROM sized_pids");
      expect(rows.rows[0]?.count).toBe(String(2_000 * 4_000));
      const grown = peakKb(pid) - before;
      // A buffered response would add 16 MB; streaming needs COPY's buffers (~128 kB) and a row.
      expect(grown, `peak RSS grew by ${grown} kB`).toBeLessThan(4_096);

      // And the same over the limit: the error path does not keep what it read either.
      await ctx.client.query("ALTER SERVER sized OPTIONS (ADD max_response_size '8MB')");
      try {
        resetPeak(pid);
        const base = peakKb(pid);
        for (let i = 0; i < 3; i++) {
          expect((await failure(ctx.client, "SELECT count(pid) FROM sized_pids")).code).toBe("54000");
        }
        expect(peakKb(pid) - base).toBeLessThan(4_096);
      } finally {
        await ctx.client.query("ALTER SERVER sized OPTIONS (DROP max_response_size)");
      }
    },
  );
});
