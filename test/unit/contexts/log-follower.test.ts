import { appendFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LogFollower, type LogSink, logReadError } from "../../../sidecar/contexts/log-follower.js";
import { LogUnreadableError } from "../../../sidecar/errors.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "follower-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A sink that records what it gets, file by file. */
function collect(): LogSink & { files: string[]; ended: string[] } {
  const files = [""];
  const ended: string[] = [];
  return {
    files,
    ended,
    data(chunk) {
      files[files.length - 1] += chunk.toString();
    },
    fileEnded(path) {
      ended.push(path);
      files.push("");
    },
  };
}

describe("LogFollower", () => {
  it("reads only what is appended after it starts, in bounded chunks", async () => {
    const file = join(dir, "a.log");
    writeFileSync(file, "old line 1\nold line 2\n");
    const follower = await LogFollower.start({ currentPath: async () => file, chunkBytes: 4 });
    expect(follower.offset).toBe(22);
    const sink = collect();
    expect(await follower.poll(sink)).toEqual({ bytes: 0, atEnd: true });
    appendFileSync(file, "new 1\n");
    appendFileSync(file, "new 2\n");
    expect(await follower.poll(sink)).toEqual({ bytes: 12, atEnd: true });
    appendFileSync(file, "x".repeat(40));
    expect(await follower.poll(sink, 10)).toEqual({ bytes: 12, atEnd: false });
    await follower.poll(sink);
    expect(sink.files).toEqual([`new 1\nnew 2\n${"x".repeat(40)}`]);
    await follower.close();
  });

  it("finishes the old file to its end on rotation, then reads the new one from offset 0", async () => {
    const a = join(dir, "a.log");
    const b = join(dir, "b.log");
    writeFileSync(a, "before\n");
    let current = a;
    const follower = await LogFollower.start({ currentPath: async () => current });
    const sink = collect();
    appendFileSync(a, "dump part 1\n");
    await follower.poll(sink);
    // The server writes the rest of its old file, then moves to the new one.
    appendFileSync(a, "dump part 2\n");
    writeFileSync(b, "dump part 3\n");
    current = b;
    await follower.poll(sink);
    appendFileSync(b, "dump part 4\n");
    await follower.poll(sink);
    expect(sink.files).toEqual(["dump part 1\ndump part 2\n", "dump part 3\ndump part 4\n"]);
    expect(sink.ended).toEqual([a]);
    expect(follower.path).toBe(b);
    await follower.close();
  });

  it("starts over when its file is truncated in place", async () => {
    const a = join(dir, "a.log");
    writeFileSync(a, "0123456789\n");
    const follower = await LogFollower.start({ currentPath: async () => a });
    truncateSync(a, 0);
    appendFileSync(a, "fresh\n");
    const sink = collect();
    await follower.poll(sink);
    expect(sink.files).toEqual(["", "fresh\n"]);
    await follower.close();
  });

  it("resumes at a recorded offset", async () => {
    const a = join(dir, "a.log");
    writeFileSync(a, "skip|keep\n");
    const follower = await LogFollower.resume({ currentPath: async () => a }, a, 5);
    const sink = collect();
    await follower.poll(sink);
    expect(sink.files).toEqual(["keep\n"]);
    await follower.close();
  });

  it("says which setting to change when there is no log file, or it is missing", async () => {
    await expect(LogFollower.start({ currentPath: async () => null })).rejects.toMatchObject({
      code: "LOG_UNREADABLE",
      hint: expect.stringContaining("logging_collector"),
    });
    const missing = join(dir, "nope.log");
    const error = await LogFollower.start({ currentPath: async () => missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LogUnreadableError);
    expect((error as LogUnreadableError).message).toContain(missing);
  });
});

describe("logReadError", () => {
  it("explains permission denied with log_file_mode and the group of the log files", () => {
    const denied = Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
    const error = logReadError("/var/lib/postgresql/15/main/log/postgresql.log", denied);
    expect(error).toMatchObject({ code: "LOG_UNREADABLE", sqlstate: "58030" });
    expect(error.message).toContain("permission denied");
    expect(error.hint).toContain("log_file_mode = 0640");
    expect(error.hint).toContain("pg_rotate_logfile()");
    expect(error.cause).toBe(denied);
  });
});
