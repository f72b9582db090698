// Every way in, attacked: unsigned and forged requests, roles without the right privileges, a rogue
// listener, processes outside the cluster, the wrong OS identity, secrets in logs, hostile input.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { run, runChecked, runuserPath } from "../../harness/run-as.js";
import { REPO_ROOT, SidecarProcess } from "../../harness/sidecar-process.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";
import { secretPathFor } from "../../sidecar/security/secret-file.js";
import { backendPid, connect, queryError } from "../support/db.js";
import { exchange, get, statusOf } from "../support/raw-http.js";
import { secretOf, signedHeaders } from "../support/signing.js";

const socket = () => inject("sidecarSocket");
const ROLE = "x-pg-meminfo-role";

let admin: pg.Client;
let me: number;
let superuserOid: string;

beforeAll(async () => {
  admin = await connect();
  me = await backendPid(admin);
  superuserOid = String(
    (await admin.query<{ oid: number }>("SELECT oid::int FROM pg_roles WHERE rolname = current_user")).rows[0]
      ?.oid,
  );
});

afterAll(async () => {
  await admin?.end();
});

describe("requests must be signed with the sidecar's secret", () => {
  const target = () => `/v1/summary?columns=pid,pss&pid=${me}`;

  it("serves a correctly signed request", async () => {
    const res = await get(
      socket(),
      target(),
      signedHeaders(secretOf(socket()), target(), { [ROLE]: superuserOid }),
    );
    expect(res.status).toBe(200);
    expect(res.body.split("\t")[0]).toBe(String(me));
  });

  it("refuses a request without a signature, whatever role it claims", async () => {
    const res = await get(socket(), target(), { [ROLE]: superuserOid, "x-pg-meminfo-backend-pid": "1" });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({
      code: "UNAUTHENTICATED",
      sqlstate: "28000",
      message: "request is not signed",
    });
  });

  it("refuses a signature made with another secret", async () => {
    const forged = signedHeaders(randomBytes(32).toString("hex"), target(), { [ROLE]: superuserOid });
    const res = await get(socket(), target(), forged);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).message).toBe("request signature rejected");
  });

  it("refuses a signed request whose target or role was changed on the way", async () => {
    const secret = secretOf(socket());
    const headers = signedHeaders(secret, target(), { [ROLE]: superuserOid });
    expect((await get(socket(), "/v1/smaps?columns=pid", headers)).status).toBe(401);
    const other = signedHeaders(secret, target(), { [ROLE]: "1" });
    expect((await get(socket(), target(), { ...other, [ROLE]: superuserOid })).status).toBe(401);
  });

  it("refuses a stale request and a replayed nonce", async () => {
    const secret = secretOf(socket());
    const stale = signedHeaders(
      secret,
      target(),
      { [ROLE]: superuserOid },
      { time: Math.floor(Date.now() / 1000) - 120 },
    );
    const staleRes = await get(socket(), target(), stale);
    expect(staleRes.status).toBe(401);
    expect(JSON.parse(staleRes.body).detail).toMatch(/seconds from the sidecar's clock/);
    const once = signedHeaders(secret, target(), { [ROLE]: superuserOid });
    expect((await get(socket(), target(), once)).status).toBe(200);
    const replay = await get(socket(), target(), once);
    expect(replay.status).toBe(401);
    expect(JSON.parse(replay.body).detail).toMatch(/replay/);
  });

  it("keeps the secret in a 0600 file of the cluster's OS user that nobody else can read", async () => {
    const path = secretPathFor(socket());
    const st = await stat(path);
    const owner = Number((await runChecked("id", ["-u", "postgres"])).stdout.trim());
    expect(st.uid).toBe(owner);
    expect(st.mode & 0o777).toBe(0o600);
    const asNobody = await run(runuserPath(), ["-u", "nobody", "--", "cat", path]);
    expect(asNobody.code).not.toBe(0);
    expect(asNobody.stderr).toMatch(/Permission denied/);
  });
});

describe("roles", () => {
  const suffix = process.pid;
  const member = `regress_sec_member_${suffix}`;
  const nested = `regress_sec_nested_${suffix}`;
  const noinherit = `regress_sec_noinherit_${suffix}`;
  const outsider = `regress_sec_outsider_${suffix}`;
  const query = "SELECT count(*)::int AS n FROM smap_summary WHERE pid = pg_backend_pid()";

  beforeAll(async () => {
    await admin.query(`CREATE ROLE ${member} IN ROLE pg_read_all_stats`);
    await admin.query(`CREATE ROLE ${nested} IN ROLE ${member}`);
    await admin.query(`CREATE ROLE ${noinherit} NOINHERIT IN ROLE pg_read_all_stats`);
    await admin.query(`CREATE ROLE ${outsider}`);
    await admin.query(`GRANT SELECT ON smap_summary TO ${outsider}, ${noinherit}`);
    await admin.query(`GRANT ${outsider} TO ${member}`);
  });

  afterAll(async () => {
    await admin.query("RESET ROLE");
    await admin.query(`DROP FUNCTION IF EXISTS regress_sec_definer_${suffix}()`);
    await admin.query(`DROP FUNCTION IF EXISTS regress_sec_definer_outsider_${suffix}()`);
    await admin.query(`REVOKE SELECT ON smap_summary FROM ${outsider}, ${noinherit}`);
    for (const role of [nested, member, noinherit, outsider])
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
  });

  async function as(role: string): Promise<{ rows?: number; code?: string }> {
    await admin.query(`SET ROLE ${role}`);
    try {
      const result = await admin.query<{ n: number }>(query);
      return { rows: result.rows[0]?.n };
    } catch (err) {
      return { code: (err as pg.DatabaseError).code };
    } finally {
      await admin.query("RESET ROLE");
    }
  }

  it("lets a direct and a nested member of pg_read_all_stats read", async () => {
    expect(await as(member)).toEqual({ rows: 1 });
    expect(await as(nested)).toEqual({ rows: 1 });
  });

  it("refuses a NOINHERIT member, who has the role but not its privileges, with a hint that fits", async () => {
    expect(await as(noinherit)).toEqual({ code: "42501" });
    await admin.query(`SET ROLE ${noinherit}`);
    try {
      const failure = await queryError(admin, query);
      // Not "GRANT pg_read_all_stats", which it has already.
      expect(failure.hint).toContain("SET ROLE pg_read_all_stats");
      expect(failure.hint).toContain(`ALTER ROLE ${noinherit} INHERIT`);
    } finally {
      await admin.query("RESET ROLE");
    }
  });

  it("follows SET ROLE: the current role's privileges count, not the session user's", async () => {
    expect(await as(outsider)).toEqual({ code: "42501" });
  });

  it("applies the owner's rights inside SECURITY DEFINER functions", async () => {
    await admin.query(
      `CREATE FUNCTION regress_sec_definer_${suffix}() RETURNS int LANGUAGE sql SECURITY DEFINER AS '${query.replaceAll("'", "''")}'`,
    );
    await admin.query(`ALTER FUNCTION regress_sec_definer_${suffix}() OWNER TO ${member}`);
    await admin.query(`GRANT EXECUTE ON FUNCTION regress_sec_definer_${suffix}() TO ${outsider}`);
    await admin.query(
      `CREATE FUNCTION regress_sec_definer_outsider_${suffix}() RETURNS int LANGUAGE sql SECURITY DEFINER AS '${query.replaceAll("'", "''")}'`,
    );
    await admin.query(`ALTER FUNCTION regress_sec_definer_outsider_${suffix}() OWNER TO ${outsider}`);

    await admin.query(`SET ROLE ${outsider}`);
    const viaMember = await admin.query<{ n: number }>(`SELECT regress_sec_definer_${suffix}() AS n`);
    await admin.query("RESET ROLE");
    expect(viaMember.rows[0]?.n).toBe(1);
    // A superuser calling a function owned by an outsider gets the outsider's rights: refused.
    const failure = await queryError(admin, `SELECT regress_sec_definer_outsider_${suffix}()`);
    expect(failure.code).toBe("42501");
  });

  it("refuses, at the sidecar, a role that was dropped and a grant that was revoked", async () => {
    const secret = secretOf(socket());
    const target = `/v1/summary?columns=pid&pid=${me}`;
    const doomed = `regress_sec_doomed_${suffix}`;
    await admin.query(`CREATE ROLE ${doomed} IN ROLE pg_read_all_stats`);
    const oid = String(
      (await admin.query<{ oid: number }>("SELECT oid::int FROM pg_roles WHERE rolname = $1", [doomed]))
        .rows[0]?.oid,
    );
    expect((await get(socket(), target, signedHeaders(secret, target, { [ROLE]: oid }))).status).toBe(200);
    await admin.query(`REVOKE pg_read_all_stats FROM ${doomed}`);
    // An allowed role is remembered for at most two seconds.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const revoked = await get(socket(), target, signedHeaders(secret, target, { [ROLE]: oid }));
    expect(revoked.status).toBe(403);
    expect(JSON.parse(revoked.body)).toMatchObject({ code: "FORBIDDEN", sqlstate: "42501" });
    await admin.query(`DROP ROLE ${doomed}`);
    const dropped = await get(socket(), target, signedHeaders(secret, target, { [ROLE]: oid }));
    expect(dropped.status).toBe(403);
    expect(JSON.parse(dropped.body).detail).toBe(`No role has OID ${oid}.`);
  });
});

describe("the wrapper checks who listens before sending anything", () => {
  let dir: string;
  let rogue: ChildProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pg-meminfo-rogue-"));
    await runChecked("chown", ["nobody", dir]);
    await runChecked("chmod", ["0755", dir]);
  });

  afterAll(async () => {
    rogue?.kill("SIGKILL");
    await admin.query("DROP SERVER IF EXISTS regress_rogue CASCADE");
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a socket planted by another OS user, even one anybody may connect to", async () => {
    const path = join(dir, "sidecar.sock");
    const script =
      "const net=require('node:net');process.umask(0);" +
      `net.createServer(s=>{s.on('data',()=>{});s.end('HTTP/1.1 200 OK\\r\\ncontent-length: 0\\r\\n\\r\\n')}).listen(${JSON.stringify(path)},()=>console.log('ready'))`;
    rogue = spawn(runuserPath(), ["-u", "nobody", "--", process.execPath, "-e", script], { stdio: "pipe" });
    await new Promise<void>((resolve, reject) => {
      rogue?.stdout?.once("data", () => resolve());
      rogue?.once("exit", (code) => reject(new Error(`rogue listener exited with ${code}`)));
    });
    await admin.query(
      `CREATE SERVER regress_rogue FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (socket '${path}')`,
    );
    await admin.query(
      "CREATE FOREIGN TABLE regress_rogue_summary (pid int) SERVER regress_rogue OPTIONS (source 'summary')",
    );
    const failure = await queryError(admin, "SELECT * FROM regress_rogue_summary");
    expect(failure.code).toBe("08001");
    expect(failure.message).toMatch(
      /refusing pg_meminfo sidecar at ".*": it runs as another operating system user/,
    );
  });
});

describe("only the cluster's own processes are read", () => {
  let other: ThrowawayCluster;
  let otherSidecar: SidecarProcess;
  const password = `pw-${randomBytes(12).toString("hex")}`;

  beforeAll(async () => {
    other = await ThrowawayCluster.create({ prefix: "pg-meminfo-sec-" });
    await other.start();
    await other.sql("CREATE EXTENSION pg_meminfo");
    // The password comes from the environment: the sidecar refuses one on its command line.
    otherSidecar = await SidecarProcess.start(other, {
      extraArgs: ["--log-level", "trace", "--database", other.connectionString()],
      env: { PGPASSWORD: password },
    });
  });

  afterAll(async () => {
    await otherSidecar?.stop();
    await other?.destroy();
  });

  it("reads nothing of another cluster's backend, pid 1 or the sidecar itself: no rows", async () => {
    const foreign = [await other.postmasterPid(), 1];
    for (const pid of foreign) {
      const rows = await admin.query(`SELECT pss FROM smap_summary WHERE pid = ${pid}`);
      expect(rows.rows, `pid ${pid}`).toEqual([]);
    }
    const sidecarPid = otherSidecar.pid;
    expect(sidecarPid).toBeDefined();
    const client = await other.connect();
    try {
      const rows = await client.query(`SELECT pss FROM smap_summary WHERE pid = ${sidecarPid}`);
      expect(rows.rows).toEqual([]);
      // Its own postmaster it does see.
      const own = await client.query("SELECT pss FROM smap_summary WHERE pid = pg_meminfo_postmaster_pid()");
      expect(own.rows).toHaveLength(1);
    } finally {
      await client.end();
    }
  });

  it("a server pointed at another cluster's sidecar gets an error, not that cluster's data", async () => {
    await admin.query("DROP SERVER IF EXISTS regress_elsewhere CASCADE");
    await admin.query(
      `CREATE SERVER regress_elsewhere FOREIGN DATA WRAPPER pg_meminfo_fdw OPTIONS (socket '${otherSidecar.socketPath}')`,
    );
    try {
      await admin.query(
        "CREATE FOREIGN TABLE regress_elsewhere_summary (pid int) SERVER regress_elsewhere OPTIONS (source 'summary')",
      );
      // The bootstrap superuser has OID 10 in both clusters: the role alone would pass.
      const failure = await queryError(admin, "SELECT count(*) FROM regress_elsewhere_summary");
      expect(failure.code).toBe("HV00N");
      expect(failure.message).toBe("this sidecar serves another PostgreSQL cluster");
      expect(failure.detail).toContain(`this sidecar serves ${await other.name()}`);
    } finally {
      await admin.query("DROP SERVER regress_elsewhere CASCADE");
    }
  });

  it("never writes the secret, signatures or the database password to its log, even at trace level", async () => {
    const client = await other.connect();
    try {
      await client.query("SELECT count(*) FROM smap_summary");
      await client.query("SELECT count(*) FROM get_all_smaps WHERE pid = pg_backend_pid()");
      await client.query("SELECT count(*) FROM smap_summary WHERE pid = 1");
    } finally {
      await client.end();
    }
    const secret = secretOf(otherSidecar.socketPath);
    const signed = signedHeaders(secret, "/v1/summary?columns=pid", {
      [ROLE]: "10",
      "x-pg-meminfo-cluster": await other.name(),
    });
    expect((await get(otherSidecar.socketPath, "/v1/summary?columns=pid", signed)).status).toBe(200);
    await get(otherSidecar.socketPath, "/v1/summary?columns=pid", { [ROLE]: "10" });

    const log = otherSidecar.log;
    expect(log).toMatch(/request completed/);
    expect(log).not.toContain(secret);
    expect(log).not.toContain(signed["x-pg-meminfo-signature"]);
    expect(log).not.toContain(password);
  });
});

describe("the sidecar runs as exactly the cluster's OS user, without capabilities", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "pg-meminfo-identity-"));
    await runChecked("chmod", ["0777", dir]);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const database = () => `host=${inject("pgHost")} port=${inject("pgPort")} user=postgres dbname=postgres`;
  const sidecarArgs = (name: string) => [
    join(REPO_ROOT, "bin", "pg-meminfo"),
    "sidecar",
    "--database",
    database(),
    "--socket",
    join(dir, name, "sidecar.sock"),
  ];

  it("refuses to start as another OS user", async () => {
    const result = await run(runuserPath(), ["-u", "nobody", "--", ...sidecarArgs("nobody")], {
      timeoutMs: 30_000,
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/must run as the operating system user and group of the cluster/);
  });

  it("refuses to start with a capability such as CAP_SYS_PTRACE", async () => {
    const result = await run(
      "setpriv",
      [
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--inh-caps=+sys_ptrace",
        "--ambient-caps=+sys_ptrace",
        ...sidecarArgs("caps"),
      ],
      { timeoutMs: 30_000 },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/must run without capabilities/);
  });
});

describe("hostile input gets a clear error and changes nothing", () => {
  const healthy = async () => {
    const target = `/v1/summary?columns=pid&pid=${me}`;
    return (await get(socket(), target, signedHeaders(secretOf(socket()), target, { [ROLE]: superuserOid })))
      .status;
  };

  it("refuses an oversized request header", async () => {
    const answer = await exchange(
      socket(),
      `GET /v1/summary?columns=pid HTTP/1.1\r\nHost: x\r\nX-Junk: ${"a".repeat(100_000)}\r\n\r\n`,
    );
    expect(statusOf(answer)).toBe(431);
    // In the protocol's error format, not Node's or fastify's own.
    const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    expect(body).toMatchObject({
      code: "BAD_REQUEST",
      sqlstate: "22023",
      message: "request headers too large",
    });
    expect(await healthy()).toBe(200);
  });

  it("refuses malformed request lines and header lines", async () => {
    const nonsense = await exchange(socket(), "NONSENSE\r\n\r\n");
    expect(statusOf(nonsense)).toBe(400);
    expect(JSON.parse(nonsense.slice(nonsense.indexOf("\r\n\r\n") + 4))).toMatchObject({
      code: "BAD_REQUEST",
    });
    expect(statusOf(await exchange(socket(), "GET /v1/summary HTTP/1.1\r\nno colon here\r\n\r\n"))).toBe(400);
    expect(await healthy()).toBe(200);
  });

  it("refuses unknown parameters, non-numeric and too many pids, even when signed", async () => {
    const secret = secretOf(socket());
    const many = Array.from({ length: 1_001 }, (_, i) => i + 2).join(",");
    for (const [target, message] of [
      ["/v1/summary?columns=pid&verbose=1", 'unknown query parameter "verbose"'],
      ["/v1/summary?columns=pid&pid=12;rm", 'invalid pid "12;rm"'],
      ["/v1/summary?columns=pid&pid=-1", 'invalid pid "-1"'],
      [`/v1/summary?columns=pid&pid=${many}`, "too many pids"],
    ] as const) {
      const res = await get(socket(), target, signedHeaders(secret, target, { [ROLE]: superuserOid }));
      expect(res.status, target).toBe(400);
      expect(JSON.parse(res.body)).toMatchObject({ code: "BAD_REQUEST", sqlstate: "22023", message });
    }
    expect(await healthy()).toBe(200);
  });
});
