import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ContextDumper, type DumperOptions } from "../../../sidecar/contexts/dumper.js";
import { LogFollower } from "../../../sidecar/contexts/log-follower.js";
import { fixture, PG15 } from "./fixtures.js";

let dir: string;
let current: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "dumper-"));
  current = join(dir, "a.log");
  writeFileSync(current, "");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The real 15 capture's stderr lines of one pid. */
const LINES = fixture("pg15-three-dumps.log").toString().split("\n");
const linesOf = (pid: number) => LINES.filter((l) => l.includes(` [${pid}] `)).map((l) => `${l}\n`);

function dumper(trigger: DumperOptions["trigger"], extra: Partial<DumperOptions> = {}): ContextDumper {
  return new ContextDumper({
    trigger,
    startFollower: () => LogFollower.start({ currentPath: async () => current }),
    destination: "stderr",
    linePrefix: "%m [%p] ",
    majorVersion: 15,
    pollIntervalMs: 2,
    processExists: () => true,
    ...extra,
  });
}

const later = (ms: number, f: () => void) => setTimeout(f, ms);

describe("ContextDumper", () => {
  it("reads the dump a trigger causes, not an older one already in the log", async () => {
    // An earlier, complete dump of the same pid lies before the trigger: it must not be taken.
    writeFileSync(current, linesOf(PG15.prepared).join(""));
    const lines = linesOf(PG15.bigVariable).map((l) =>
      l.replaceAll(`[${PG15.bigVariable}]`, `[${PG15.prepared}]`),
    );
    const fresh = lines.join("").replace(`PID ${PG15.bigVariable}`, `PID ${PG15.prepared}`);
    const d = dumper(async (pid) => {
      later(5, () => appendFileSync(current, fresh));
      return pid === PG15.prepared;
    });
    const dump = await d.dump(PG15.prepared, { timeoutMs: 2000 });
    expect(dump.grandTotal.totalBytes).toBe("61750304");
    expect(dump.rows.find((r) => r.name === "SPI Proc")?.totalBytes).toBe("30016448");
  });

  it("serves interleaved dumps of several pids from one reading of the log", async () => {
    const pids = [PG15.prepared, PG15.bigVariable, PG15.caller];
    const triggered: number[] = [];
    const d = dumper(async (pid) => {
      triggered.push(pid);
      // Once all are triggered, the server logs the three dumps interleaved, in pieces.
      if (triggered.length === 3) {
        const text = LINES.slice(4).join("\n");
        for (let i = 0; i < 10; i++)
          later(2 * i, () =>
            appendFileSync(current, text.slice((i * text.length) / 10, ((i + 1) * text.length) / 10)),
          );
      }
      return true;
    });
    const dumps = await Promise.all(d.dumpMany(pids, { timeoutMs: 2000 }));
    expect(dumps.map((x) => x.pid)).toEqual(pids);
    expect(dumps.map((x) => x.rows.length)).toEqual([226, 128, 117]);
  });

  it("shares one dump among concurrent requests for the same pid", async () => {
    let triggers = 0;
    const d = dumper(async () => {
      triggers++;
      later(20, () => appendFileSync(current, linesOf(PG15.caller).join("")));
      return true;
    });
    const a = d.dump(PG15.caller, { timeoutMs: 2000 });
    const b = d.dump(PG15.caller, { timeoutMs: 2000 });
    expect(b).toBe(a);
    const [x, y] = await Promise.all([a, b]);
    expect(x).toBe(y);
    expect(triggers).toBe(1);
    // Once done, a new request triggers a new dump.
    await d.dump(PG15.caller, { timeoutMs: 2000 });
    expect(triggers).toBe(2);
  });

  it("follows a rotation in the middle of a dump", async () => {
    const lines = linesOf(PG15.bigVariable);
    const b = join(dir, "b.log");
    const d = dumper(async () => {
      later(5, () => {
        appendFileSync(current, lines.slice(0, 50).join(""));
        later(10, () => {
          // The last lines of the old file land just before the server switches files.
          appendFileSync(current, lines.slice(50, 60).join(""));
          writeFileSync(b, lines.slice(60).join(""));
          current = b;
        });
      });
      return true;
    });
    const dump = await d.dump(PG15.bigVariable, { timeoutMs: 2000 });
    expect(dump.rows).toHaveLength(128);
  });

  it("fails clearly when the pid is not a server process", async () => {
    const d = dumper(async () => false);
    await expect(d.dump(4321, { timeoutMs: 500 })).rejects.toMatchObject({
      code: "NOT_SERVER_PROCESS",
      message: "PID 4321 is not a PostgreSQL server process",
    });
  });

  it("times out naming the pid and the timeout, whether nothing or part of a dump arrived", async () => {
    const silent = dumper(async () => true);
    const error = await silent.dump(4321, { timeoutMs: 60 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DUMP_TIMEOUT", sqlstate: "57014" });
    expect((error as Error).message).toBe("memory context dump of PID 4321 did not complete within 60 ms");
    expect((error as { hint: string }).hint).toContain("holding off interrupts");

    const cut = dumper(async () => {
      appendFileSync(current, linesOf(PG15.caller).slice(0, 40).join(""));
      return true;
    });
    await expect(cut.dump(PG15.caller, { timeoutMs: 60 })).rejects.toMatchObject({
      code: "DUMP_TIMEOUT",
      detail: expect.stringContaining("Grand total line did not follow"),
    });
  });

  it("fails when the process exits before its dump is complete", async () => {
    const d = dumper(
      async () => {
        appendFileSync(current, linesOf(PG15.caller).slice(0, 10).join(""));
        return true;
      },
      { processExists: () => false, exitGraceMs: 20 },
    );
    await expect(d.dump(PG15.caller, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: "BACKEND_EXITED",
      message: `PID ${PG15.caller} exited before it logged all of its memory contexts`,
    });
  });

  it("passes on an unreadable log and refuses a stderr prefix without %p up front", async () => {
    current = join(dir, "missing.log");
    const d = dumper(async () => true);
    await expect(d.dump(1, { timeoutMs: 100 })).rejects.toMatchObject({ code: "LOG_UNREADABLE" });
    expect(() => dumper(async () => true, { linePrefix: "%m " })).toThrow(/has no %p/);
  });

  it("reads csvlog and jsonlog the same way", async () => {
    for (const [destination, ext] of [
      ["csvlog", "csv"],
      ["jsonlog", "json"],
    ] as const) {
      const text = fixture(`pg15-three-dumps.${ext}`);
      const d = dumper(
        async () => {
          later(5, () => appendFileSync(current, text));
          return true;
        },
        { destination },
      );
      const dump = await d.dump(PG15.bigVariable, { timeoutMs: 2000 });
      expect(dump.grandTotal.totalBytes).toBe("61750304");
    }
  });
});
