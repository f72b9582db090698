import { describe, expect, it } from "vitest";
import { shownPath } from "../../../sidecar/contexts/log-follower.js";
import { chooseDestination, currentLogfile } from "../../../sidecar/contexts/server-log.js";

describe("where the server logs", () => {
  it("reads csvlog first, then jsonlog, then stderr; never syslog or eventlog", () => {
    expect(chooseDestination("stderr")).toBe("stderr");
    expect(chooseDestination("stderr, csvlog")).toBe("csvlog");
    expect(chooseDestination("jsonlog,stderr")).toBe("jsonlog");
    expect(chooseDestination("STDERR,syslog")).toBe("stderr");
    expect(chooseDestination("syslog")).toBeUndefined();
    expect(chooseDestination("")).toBeUndefined();
  });

  it("takes the file of a format from current_logfiles, relative paths against the data directory", () => {
    const text = "stderr log/postgresql-2026-12-01.log\ncsvlog /var/log/pg/postgresql.csv\n";
    expect(currentLogfile(text, "stderr", "/srv/pg")).toBe("/srv/pg/log/postgresql-2026-12-01.log");
    expect(currentLogfile(text, "csvlog", "/srv/pg")).toBe("/var/log/pg/postgresql.csv");
    expect(currentLogfile(text, "jsonlog", "/srv/pg")).toBeNull();
    expect(currentLogfile("", "stderr", "/srv/pg")).toBeNull();
    // A name with spaces is taken whole.
    expect(currentLogfile("stderr log/my log.log\n", "stderr", "/d")).toBe("/d/log/my log.log");
    // Through the postmaster's /proc entries: its cwd for a relative path, its root for an absolute one.
    expect(currentLogfile(text, "stderr", "/proc/7/cwd", "/proc/7/root")).toBe(
      "/proc/7/cwd/log/postgresql-2026-12-01.log",
    );
    expect(currentLogfile(text, "csvlog", "/proc/7/cwd", "/proc/7/root")).toBe(
      "/proc/7/root/var/log/pg/postgresql.csv",
    );
  });
});

describe("shownPath", () => {
  it("names a log read through the postmaster's /proc entries as the server names it", () => {
    expect(shownPath(`/proc/${process.pid}/cwd/log/postgres.log`)).toBe(`${process.cwd()}/log/postgres.log`);
    expect(shownPath("/proc/7/root/var/log/pg.csv")).toBe("/var/log/pg.csv");
    expect(shownPath("/var/log/pg.csv")).toBe("/var/log/pg.csv");
    // A process that has gone: the path as it was read.
    expect(shownPath("/proc/999999999/cwd/log/x.log")).toBe("/proc/999999999/cwd/log/x.log");
  });
});
