/**
 * pg-meminfo doctor against real setups, healthy and broken: each broken one is really made (a cluster
 * without its sidecar, a killed sidecar, the wrong socket, a listener of another OS user, an unusable
 * secret, another cluster's sidecar, roles without privileges, log settings the sidecar cannot read),
 * and the doctor must name it on the right line, with the right fix, and the right exit status.
 */
import { chmod, mkdir, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isRoot } from "../../harness/run-as.js";
import { defaultSocketPath, SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { connect } from "../support/db.js";
import { NamespacedCluster } from "../support/namespaced-cluster.js";
import { privateDir } from "../support/private-dir.js";
import { doctor, pgMeminfo, runClusterConninfo } from "../support/tool-cli.js";

const ALWAYS_OK = ["server", "extension", "role", "sidecar", "kernel", "contexts", "server-log"];

describe("pg-meminfo doctor on the run's healthy cluster", () => {
  it("says ok on every line, with one line per check, and exits 0 (1 where history is not available)", async () => {
    let run = await doctor(runClusterConninfo());
    for (const id of ALWAYS_OK) expect(run.check(id).status, `${id}: ${run.check(id).summary}`).toBe("ok");
    if (run.check("history").summary.startsWith("history not available: ")) {
      expect(run.check("history").status).toBe("warn");
      expect(run.check("history").fix).toMatch(/ALTER EXTENSION pg_meminfo UPDATE;$/);
      expect(run.code).toBe(1);
    } else {
      // The run's sidecar samples every 10 s: its first round may be a few seconds away.
      const deadline = Date.now() + 20_000;
      while (run.check("history").status !== "ok" && Date.now() < deadline) {
        await sleep(1000);
        run = await doctor(runClusterConninfo());
      }
      expect(run.check("history").summary).toMatch(/^sampling on: /);
      expect(run.code).toBe(0);
    }
    expect(run.check("sidecar").summary).toContain(inject("sidecarSocket"));
    expect(run.check("server-log").summary).toMatch(
      /memory contexts read back from the server log \(\d+ contexts/,
    );
  });

  it("prints a line per check as text, a fix under each line that is not ok, and a closing count", async () => {
    const result = await pgMeminfo(["doctor", runClusterConninfo()]);
    const lines = result.stdout.trimEnd().split("\n");
    for (const id of ALWAYS_OK)
      expect(
        lines.some((l) => new RegExp(`^ok\\s+${id}\\s+\\S`).test(l)),
        id,
      ).toBe(true);
    const warn = lines.findIndex((l) => l.startsWith("warn"));
    if (warn >= 0) expect(lines[warn + 1]).toMatch(/^\s+fix: \S/);
    expect(lines.at(-1)).toMatch(/^(all ok|warnings): 7 ok(, 1 warn)?$|^all ok: 8 ok$/);
  });

  it("answers --help with every check and the exit statuses", async () => {
    const result = await pgMeminfo(["doctor", "--help"]);
    expect(result.code).toBe(0);
    for (const id of [...ALWAYS_OK, "history"]) expect(result.stdout).toMatch(new RegExp(`^  ${id} `, "m"));
    expect(result.stdout).toContain("0 all ok, 1 a warning, 2 a failure");
  });

  it("fails the server line, skips the rest and exits 2 when no server listens", async () => {
    const run = await doctor(`host=${inject("pgHost")} port=1 user=postgres dbname=postgres`);
    expect(run.check("server").status).toBe("fail");
    expect(run.check("server").fix).toMatch(/start it|connection/);
    expect(run.checks.filter((c) => c.id !== "server").every((c) => c.status === "skip")).toBe(true);
    expect(run.code).toBe(2);
  });
});

describe("pg-meminfo doctor and the caller's role", () => {
  let admin: pg.Client;
  const roles = ["doctor_nobody", "doctor_noinherit", "doctor_reader"];

  beforeAll(async () => {
    admin = await connect();
    for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query("CREATE ROLE doctor_nobody LOGIN");
    await admin.query("CREATE ROLE doctor_noinherit LOGIN NOINHERIT IN ROLE pg_read_all_stats");
    await admin.query("CREATE ROLE doctor_reader LOGIN IN ROLE pg_read_all_stats");
  });

  afterAll(async () => {
    for (const role of roles) await admin?.query(`DROP ROLE IF EXISTS ${role}`);
    await admin?.end();
  });

  it("a role without pg_read_all_stats: the role line fails with the GRANT, the sidecar is not tried", async () => {
    const run = await doctor(runClusterConninfo("doctor_nobody"));
    expect(run.check("role").status).toBe("fail");
    expect(run.check("role").fix).toBe("GRANT pg_read_all_stats TO doctor_nobody;");
    expect(run.check("sidecar").status).toBe("skip");
    expect(run.code).toBe(2);
  });

  it("a NOINHERIT member: the role line fails with ALTER ROLE ... INHERIT or SET ROLE, not a GRANT", async () => {
    const run = await doctor(runClusterConninfo("doctor_noinherit"));
    expect(run.check("role").status).toBe("fail");
    expect(run.check("role").summary).toContain("does not inherit");
    expect(run.check("role").fix).toContain("ALTER ROLE doctor_noinherit INHERIT");
    expect(run.check("role").fix).toContain("SET ROLE pg_read_all_stats");
  });

  it("a reader without EXECUTE on pg_log_backend_memory_contexts: contexts warns with the GRANT EXECUTE", async () => {
    const run = await doctor(runClusterConninfo("doctor_reader"));
    expect(run.check("role").status).toBe("ok");
    expect(run.check("sidecar").status, JSON.stringify(run.check("sidecar"))).toBe("ok");
    expect(run.check("contexts").status).toBe("warn");
    expect(run.check("contexts").fix).toBe(
      "GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO doctor_reader;",
    );
    expect(run.check("server-log").summary).toContain("no dump tried: the role may not dump memory contexts");
    expect(run.code).toBe(1);
  });
});

describe("pg-meminfo doctor on a cluster whose sidecar is missing, killed, misplaced or not its own", () => {
  let cluster: ThrowawayCluster;
  let admin: pg.Client;
  let sidecar: SidecarProcess | undefined;
  let dir: string;
  let conninfo: string;

  const setSocket = async (path: string | null) => {
    const { rows } = await admin.query<{ o: string[] | null }>(
      "SELECT srvoptions AS o FROM pg_foreign_server WHERE srvname = 'pg_meminfo'",
    );
    const has = (rows[0]?.o ?? []).some((o) => o.startsWith("socket="));
    if (path === null) {
      if (has) await admin.query("ALTER SERVER pg_meminfo OPTIONS (DROP socket)");
    } else await admin.query(`ALTER SERVER pg_meminfo OPTIONS (${has ? "SET" : "ADD"} socket '${path}')`);
  };

  beforeAll(async () => {
    cluster = await ThrowawayCluster.create({ prefix: "pg-meminfo-doctor-" });
    await cluster.start();
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    admin = await cluster.connect();
    dir = await privateDir("pg-meminfo-doctor-sock-");
    conninfo = cluster.connectionString();
  });

  afterAll(async () => {
    await sidecar?.stop();
    await admin?.end();
    await cluster?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("not started: the sidecar line fails with the command that starts it, and that command's sidecar is ok", async () => {
    const run = await doctor(conninfo);
    const line = run.check("sidecar");
    expect(line.status).toBe("fail");
    expect(line.summary).toBe(
      `not running: no sidecar socket at ${defaultSocketPath(cluster.socketDir, cluster.port)}`,
    );
    expect(line.fix).toContain(
      `pg-meminfo sidecar --database "host=${cluster.socketDir} port=${cluster.port} dbname=postgres"`,
    );
    expect(line.error?.sqlstate).toBe("08001");
    expect(run.check("kernel").status).toBe("skip");
    expect(run.code).toBe(2);

    sidecar = await SidecarProcess.start(cluster);
    const after = await doctor(conninfo);
    for (const id of ALWAYS_OK)
      expect(after.check(id).status, `${id}: ${after.check(id).summary}`).toBe("ok");
  });

  it("killed, its socket left behind: stopped or killed, start it again", async () => {
    const killed = sidecar as SidecarProcess;
    process.kill(killed.pid as number, "SIGKILL");
    await killed.stop();
    sidecar = undefined;
    const run = await doctor(conninfo);
    expect(run.check("sidecar").status).toBe("fail");
    expect(run.check("sidecar").summary).toContain("stopped or killed and its socket");
    expect(run.check("sidecar").fix).toMatch(
      /^Start it again \(it removes the stale socket\): .*pg-meminfo sidecar/,
    );
    sidecar = await SidecarProcess.start(cluster);
    expect((await doctor(conninfo)).check("sidecar").status).toBe("ok");
  });

  it("its secret unreadable or open to others: secret unusable, restart the sidecar", async () => {
    const secret = `${(sidecar as SidecarProcess).socketPath}.secret`;
    await chmod(secret, 0o644);
    const open = await doctor(conninfo);
    expect(open.check("sidecar").status).toBe("fail");
    expect(open.check("sidecar").summary).toMatch(/^secret unusable: refusing pg_meminfo sidecar secret/);
    expect(open.check("sidecar").fix).toMatch(/^Restart the sidecar/);
    await rm(secret);
    const gone = await doctor(conninfo);
    expect(gone.check("sidecar").summary).toMatch(
      /^secret unusable: could not open pg_meminfo sidecar secret .*No such file/,
    );
    await sidecar?.stop();
    sidecar = await SidecarProcess.start(cluster);
    expect((await doctor(conninfo)).check("sidecar").status).toBe("ok");
  });

  it("history: on with the sidecar's sampling, off with --sample-interval 0 (not available without memory_history)", async () => {
    const history = (
      await admin.query<{ h: string | null }>("SELECT to_regclass('memory_history')::text AS h")
    ).rows[0]?.h;
    if (history == null) {
      const run = await doctor(conninfo);
      expect(run.check("history").summary).toMatch(
        /^history not available: pg_meminfo 1\.\d+ has no memory_history/,
      );
      return;
    }
    await sidecar?.stop();
    sidecar = await SidecarProcess.start(cluster, { extraArgs: ["--sample-interval", "0.5"] });
    const deadline = Date.now() + 10_000;
    let on = await doctor(conninfo);
    while (on.check("history").status !== "ok" && Date.now() < deadline) {
      await sleep(500);
      on = await doctor(conninfo);
    }
    expect(on.check("history").summary).toMatch(
      /^sampling on: \d+ samples in the last 10 minutes, the latest \d+ s old$/,
    );
    await sidecar.stop();
    sidecar = await SidecarProcess.start(cluster, { extraArgs: ["--sample-interval", "0"] });
    const off = await doctor(conninfo);
    expect(off.check("history").status).toBe("warn");
    expect(off.check("history").summary).toContain("history sampling is off or stopped");
    expect(off.check("history").fix).toContain("without --sample-interval 0");
    await sidecar.stop();
    sidecar = await SidecarProcess.start(cluster);
  });

  it("the server option socket naming a path where nothing listens: wrong socket, drop the option", async () => {
    const nowhere = join(dir, "nowhere", "sidecar.sock");
    await setSocket(nowhere);
    try {
      const run = await doctor(conninfo);
      expect(run.check("sidecar").status).toBe("fail");
      expect(run.check("sidecar").summary).toContain(
        `wrong socket: the server option socket is '${nowhere}'`,
      );
      expect(run.check("sidecar").fix).toContain("ALTER SERVER pg_meminfo OPTIONS (DROP socket);");
    } finally {
      await setSocket(null);
    }
  });

  it.skipIf(!isRoot())("a listener of another OS user at the socket: wrong user, with its uid", async () => {
    const rogueDir = join(dir, "rogue");
    await mkdir(rogueDir, { mode: 0o755 });
    await chmod(rogueDir, 0o755);
    const path = join(rogueDir, "sidecar.sock");
    const rogue: Server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => rogue.listen(path, resolve));
    await chmod(path, 0o777);
    await setSocket(path);
    try {
      const run = await doctor(conninfo);
      expect(run.check("sidecar").status).toBe("fail");
      expect(run.check("sidecar").summary).toMatch(
        /^wrong user: the process listening at .* runs as another OS user \(.*uid 0/,
      );
      expect(run.check("sidecar").fix).toMatch(/start the sidecar as the OS user that runs PostgreSQL/);
    } finally {
      await setSocket(null);
      await new Promise((resolve) => rogue.close(resolve));
    }
  });

  it("the socket of another cluster's sidecar: it serves another cluster, drop the socket option", async () => {
    await setSocket(inject("sidecarSocket"));
    try {
      const run = await doctor(conninfo);
      expect(run.check("sidecar").status).toBe("fail");
      expect(run.check("sidecar").summary).toContain(
        `the sidecar at ${inject("sidecarSocket")} serves another cluster (`,
      );
      expect(run.check("sidecar").fix).toContain("ALTER SERVER pg_meminfo OPTIONS (DROP socket);");
      expect(run.check("sidecar").error?.sqlstate).toBe("HV00N");
    } finally {
      await setSocket(null);
    }
  });

  it("an older extension: update it; history is not available there", async () => {
    await admin.query("DROP DATABASE IF EXISTS doctor_old");
    await admin.query("CREATE DATABASE doctor_old");
    const old = await cluster.connect("doctor_old");
    try {
      await old.query("CREATE EXTENSION pg_meminfo VERSION '1.0'");
    } finally {
      await old.end();
    }
    const run = await doctor(cluster.connectionString("doctor_old"));
    expect(run.check("extension").status).toBe("warn");
    expect(run.check("extension").summary).toMatch(/^pg_meminfo 1\.0 in schema public; 1\.\d+ is available$/);
    expect(run.check("extension").fix).toBe("ALTER EXTENSION pg_meminfo UPDATE;");
    expect(run.check("sidecar").status).toBe("ok");
    expect(run.check("history").status).toBe("warn");
    expect(run.check("history").summary).toMatch(
      /^history not available: pg_meminfo 1\.0 has no memory_history/,
    );
  });

  it("a database without the extension: CREATE EXTENSION", async () => {
    await admin.query("DROP DATABASE IF EXISTS doctor_none");
    await admin.query("CREATE DATABASE doctor_none");
    const run = await doctor(cluster.connectionString("doctor_none"));
    expect(run.check("extension").status).toBe("fail");
    expect(run.check("extension").fix).toBe("CREATE EXTENSION pg_meminfo;");
    expect(run.check("sidecar").status).toBe("skip");
    expect(run.code).toBe(2);
  });

  it("log_line_prefix without %p on a stderr log: server-log warns with the prefix that fixes it", async () => {
    await admin.query("ALTER SYSTEM SET log_line_prefix = '%m '");
    await admin.query("SELECT pg_reload_conf()");
    try {
      await sleep(300);
      const run = await doctor(conninfo);
      const line = run.check("server-log");
      expect(line.status).toBe("warn");
      expect(line.summary).toContain("has no %p");
      expect(line.fix).toContain(
        "ALTER SYSTEM SET log_line_prefix = '%m [%p] %m '; SELECT pg_reload_conf();",
      );
      expect(run.code).toBe(1);
    } finally {
      await admin.query("ALTER SYSTEM RESET log_line_prefix");
      await admin.query("SELECT pg_reload_conf()");
    }
  });

  it("logging_collector off: server-log warns with the setting and the restart", async () => {
    await admin.query("ALTER SYSTEM SET logging_collector = off");
    await admin.end();
    await cluster.stop();
    await cluster.start();
    admin = await cluster.connect();
    try {
      // The sidecar reconnects by itself; wait until it answers again.
      const deadline = Date.now() + 20_000;
      let run = await doctor(conninfo);
      while (run.check("sidecar").status !== "ok" && Date.now() < deadline) {
        await sleep(500);
        run = await doctor(conninfo);
      }
      const line = run.check("server-log");
      expect(line.status).toBe("warn");
      expect(line.summary).toContain("logging_collector is off");
      expect(line.fix).toMatch(/^ALTER SYSTEM SET logging_collector = on; then restart the server/);
    } finally {
      await admin.query("ALTER SYSTEM RESET logging_collector");
    }
  });
});

// Making a PID namespace needs root (unshare --pid).
describe.skipIf(!isRoot())(
  "pg-meminfo doctor on a cluster in a PID namespace of its own (a container)",
  () => {
    let ns: NamespacedCluster | undefined;

    beforeAll(async () => {
      ns = await NamespacedCluster.start();
      await ns.cluster.sql("CREATE EXTENSION pg_meminfo");
    });

    afterAll(async () => {
      await ns?.destroy();
    });

    it.skipIf(!isRoot())(
      "a sidecar outside cannot start; the doctor says to run it in the cluster's PID namespace",
      async () => {
        const cluster = (ns as NamespacedCluster).cluster;
        await expect(SidecarProcess.start(cluster, { startTimeoutMs: 15_000 })).rejects.toThrow(
          /exited before listening/,
        );
        const run = await doctor(cluster.connectionString());
        const line = run.check("sidecar");
        expect(line.status).toBe("fail");
        expect(line.summary).toMatch(/^not running: /);
        expect(line.fix).toContain("The postmaster is pid 1: the cluster runs in a PID namespace of its own");
        expect(line.fix).toContain('pid: "service:<db service>"');
        expect(run.code).toBe(2);
      },
    );
  },
);

describe("pg-meminfo doctor with a bad connection string", () => {
  it("says what is wrong with it on stderr and exits 2", async () => {
    const result = await pgMeminfo(["doctor", "host=/tmp nonsense"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('missing "=" after "nonsense"');
  });
});
