/**
 * The doctor's verdicts on errors and settings, on the exact texts the wrapper and the sidecar produce
 * (fdw/sidecar_client.c, fdw/request_signature.c, sidecar/errors.ts), including the ones a test machine
 * cannot produce for real: an old kernel without smaps_rollup or Pss_Dirty, a busy sidecar.
 */
import { describe, expect, it } from "vitest";
import { exitCode } from "../../tools/doctor/check.js";
import { judgeKernel } from "../../tools/doctor/checks.js";
import { judgeLogSettings, prefixHasPid } from "../../tools/doctor/log-settings.js";
import { classifySidecarError, type SidecarSetup } from "../../tools/doctor/sidecar-errors.js";

const SOCKET = "/var/run/postgresql/.s.PGMEMINFO.5432/sidecar.sock";
const setup: SidecarSetup = {
  socket: SOCKET,
  socketOption: null,
  defaultSocket: SOCKET,
  startCommand:
    'sudo -u postgres pg-meminfo sidecar --database "host=/var/run/postgresql port=5432 dbname=postgres"',
  postmasterPid: 4242,
};

const connectError = (errno: string) => ({
  sqlstate: "08001",
  message: `could not connect to pg_meminfo sidecar at "${SOCKET}": ${errno}`,
});

describe("the doctor's verdict on the sidecar's errors", () => {
  it("no socket at the default path: not running, with the start command", () => {
    const v = classifySidecarError(connectError("No such file or directory"), setup);
    expect(v.status).toBe("fail");
    expect(v.summary).toBe(`not running: no sidecar socket at ${SOCKET}`);
    expect(v.fix).toContain(setup.startCommand);
    expect(v.fix).not.toContain("PID namespace");
  });

  it("no socket and the postmaster is pid 1: the fix says to run the sidecar in the cluster's PID namespace", () => {
    const v = classifySidecarError(connectError("No such file or directory"), { ...setup, postmasterPid: 1 });
    expect(v.fix).toContain("PID namespace of its own");
    expect(v.fix).toContain("--pid container:");
  });

  it("no socket at a path the server option names: wrong socket, drop the option or start it there", () => {
    const other = "/srv/meminfo/sidecar.sock";
    const v = classifySidecarError(
      {
        sqlstate: "08001",
        message: `could not connect to pg_meminfo sidecar at "${other}": No such file or directory`,
      },
      { ...setup, socket: other, socketOption: other },
    );
    expect(v.summary).toContain(`wrong socket: the server option socket is '${other}'`);
    expect(v.fix).toContain("ALTER SERVER pg_meminfo OPTIONS (DROP socket);");
    expect(v.fix).toContain(`--socket '${other}'`);
  });

  it("a refused connection: killed, its socket left behind", () => {
    const v = classifySidecarError(connectError("Connection refused"), setup);
    expect(v.summary).toContain("stopped or killed");
    expect(v.fix).toMatch(/^Start it again/);
  });

  it("a socket directory of another user: wrong user", () => {
    expect(classifySidecarError(connectError("Permission denied"), setup).summary).toMatch(/^wrong user/);
  });

  it("a listener of another uid: wrong user, with the uids of the detail", () => {
    const v = classifySidecarError(
      {
        sqlstate: "08001",
        message: `refusing pg_meminfo sidecar at "${SOCKET}": it runs as another operating system user`,
        detail: "The process listening there runs as uid 0; PostgreSQL runs as uid 999.",
      },
      setup,
    );
    expect(v.summary).toBe(
      `wrong user: the process listening at ${SOCKET} runs as another OS user (The process listening there runs as uid 0; PostgreSQL runs as uid 999)`,
    );
  });

  it.each([
    `could not open pg_meminfo sidecar secret "${SOCKET}.secret": Permission denied`,
    `refusing pg_meminfo sidecar secret "${SOCKET}.secret"`,
    `pg_meminfo sidecar secret "${SOCKET}.secret" does not hold a secret`,
  ])("an unusable secret (%s): restart the sidecar", (message) => {
    const v = classifySidecarError({ sqlstate: "08001", message }, setup);
    expect(v.summary).toMatch(/^secret unusable: /);
    expect(v.fix).toMatch(/^Restart the sidecar/);
  });

  it("a timeout: stopped or hung, with the timeout option", () => {
    const v = classifySidecarError(
      { sqlstate: "08006", message: `pg_meminfo sidecar at "${SOCKET}" did not answer within 10000 ms` },
      setup,
    );
    expect(v.summary).toMatch(/^not answering/);
    expect(v.fix).toContain("timeout");
  });

  it("another cluster's sidecar: serves another cluster, with the identities of the detail", () => {
    const v = classifySidecarError(
      {
        sqlstate: "HV00N",
        message: "this sidecar serves another PostgreSQL cluster",
        detail: "The request comes from cluster 7301/41; this sidecar serves 7302/55.",
      },
      setup,
    );
    expect(v.summary).toBe(
      `the sidecar at ${SOCKET} serves another cluster (The request comes from cluster 7301/41; this sidecar serves 7302/55)`,
    );
    expect(v.fix).toContain(setup.startCommand);
  });

  it("the sidecar losing the database, a forged signature, /proc unreadable, a protocol error", () => {
    const cases: [string, string, RegExp][] = [
      ["08006", "could not reach the cluster to check the role's privileges", /cannot reach the database/],
      ["28000", "request signature rejected", /rejects the extension's requests/],
      ["58000", "could not read /proc/42/smaps", /cannot read \/proc/],
      ["08P01", "malformed response from pg_meminfo sidecar: bad status line", /does not fit this extension/],
    ];
    for (const [sqlstate, message, summary] of cases) {
      const v = classifySidecarError({ sqlstate, message }, setup);
      expect(v.status, message).toBe("fail");
      expect(v.summary, message).toMatch(summary);
      expect(v.fix, message).toBeTruthy();
    }
  });

  it("a busy sidecar is a warning; an unknown error fails with the server's own hint", () => {
    expect(
      classifySidecarError({ sqlstate: "53300", message: "the pg_meminfo sidecar is too busy" }, setup)
        .status,
    ).toBe("warn");
    const v = classifySidecarError({ sqlstate: "XX000", message: "something new", hint: "Do this." }, setup);
    expect(v).toEqual({
      status: "fail",
      summary: "the sidecar query failed: XX000 something new",
      fix: "Do this.",
    });
  });
});

describe("the doctor's verdict on the kernel", () => {
  it("no smap_summary row for a backend that has smaps: no smaps_rollup, Linux 4.14", () => {
    const v = judgeKernel(0, 0);
    expect(v.status).toBe("fail");
    expect(v.fix).toContain("4.14");
  });

  it("a row without pss_dirty: no Pss_Dirty, Linux 6.0, a warning", () => {
    const v = judgeKernel(1, 0);
    expect(v.status).toBe("warn");
    expect(v.fix).toContain("6.0");
  });

  it("both: ok", () => {
    expect(judgeKernel(1, 1).status).toBe("ok");
  });
});

describe("the doctor's verdict on the log settings", () => {
  it("the collector off, no readable destination, a stderr prefix without %p: each a warning with its fix", () => {
    expect(judgeLogSettings({ collector: false, destinations: "stderr", prefix: "%m [%p] " }).fix).toContain(
      "logging_collector = on",
    );
    expect(judgeLogSettings({ collector: true, destinations: "syslog", prefix: "%m [%p] " }).fix).toBe(
      "ALTER SYSTEM SET log_destination = 'syslog,csvlog'; SELECT pg_reload_conf();",
    );
    expect(judgeLogSettings({ collector: true, destinations: "stderr", prefix: "%m " }).fix).toContain(
      "log_line_prefix = '%m [%p] %m '",
    );
  });

  it("a prefix without %p is fine when csvlog or jsonlog is logged too", () => {
    expect(judgeLogSettings({ collector: true, destinations: "stderr,csvlog", prefix: "%m " }).status).toBe(
      "ok",
    );
    expect(judgeLogSettings({ collector: true, destinations: "jsonlog", prefix: "" }).status).toBe("ok");
  });

  it("%p padded or after %q counts; %%p does not", () => {
    expect(prefixHasPid("%m [%-10p] ")).toBe(true);
    expect(prefixHasPid("%m %q[%p] ")).toBe(true);
    expect(prefixHasPid("%m %%p ")).toBe(false);
  });
});

describe("the doctor's exit status", () => {
  const check = (status: "ok" | "warn" | "fail" | "skip") => ({ id: "x", status, summary: "" });
  it("is 0 when all is ok or skipped, 1 with a warning, 2 with a failure", () => {
    expect(exitCode([check("ok"), check("skip")])).toBe(0);
    expect(exitCode([check("ok"), check("warn")])).toBe(1);
    expect(exitCode([check("warn"), check("fail"), check("ok")])).toBe(2);
  });
});
