import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, copyFile, lstat, mkdir, mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { CLUSTER_OS_USER } from "../../harness/run-as.js";
import { secretPathFor } from "../../sidecar/security/secret-file.js";
import { startSidecarAt } from "../support/extra-sidecar.js";
import { get as rawGet } from "../support/raw-http.js";
import { secretOf, signedHeaders } from "../support/signing.js";

const BIN = fileURLToPath(new URL("../../bin/pg-meminfo", import.meta.url));
const run = promisify(execFile);

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = signedHeaders(secretOf(socketPath), path, { "x-pg-meminfo-role": "10" });
    // One request per connection, as the FDW sends it.
    const req = request({ socketPath, path, headers, agent: false }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the sidecar's socket", () => {
  it("listens on a 0600 socket in a 0700 directory and removes the socket and secret when it stops", async () => {
    const base = await mkdtemp(join(tmpdir(), "pg-meminfo-server-"));
    // The sidecar runs as the cluster's OS user, who creates the private directory in here.
    await chown(base, Number(execFileSync("id", ["-u", CLUSTER_OS_USER]).toString()), 0);
    const dir = `.s.PGMEMINFO.${inject("pgPort")}`;
    const socket = join(base, dir, "sidecar.sock");
    const sidecar = await startSidecarAt(socket);
    try {
      expect((await lstat(socket)).mode & 0o777).toBe(0o600);
      expect((await lstat(join(base, dir))).mode & 0o777).toBe(0o700);
      expect((await lstat(secretPathFor(socket))).mode & 0o777).toBe(0o600);
      const res = await get(socket, "/v1/summary?columns=pid&pid=4194304");
      expect(res).toEqual({ status: 200, body: "" });
      // At the default level (info) a request that succeeds writes no line: per-request lines are debug.
      expect(sidecar.log).toContain("sidecar listening");
      expect(sidecar.log).not.toContain("/v1/summary");
    } finally {
      await sidecar.stop();
    }
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(secretPathFor(socket))).toBe(false);
    await rm(base, { recursive: true, force: true });
  });
});

describe("one sidecar per cluster, serving its own cluster only", () => {
  async function privateBase(): Promise<string> {
    const base = await mkdtemp(join(tmpdir(), "pg-meminfo-server-"));
    await chown(base, Number(execFileSync("id", ["-u", CLUSTER_OS_USER]).toString()), 0);
    return base;
  }

  it("refuses to start on the socket directory of another port's cluster", async () => {
    const base = await privateBase();
    const socket = join(base, `.s.PGMEMINFO.${inject("pgPort") + 1}`, "sidecar.sock");
    try {
      await expect(startSidecarAt(socket)).rejects.toThrow(
        new RegExp(`the socket "${socket}" belongs to the cluster on port ${inject("pgPort") + 1}`),
      );
      expect(existsSync(socket)).toBe(false);
      expect(existsSync(secretPathFor(socket))).toBe(false);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it("of two sidecars started at the same moment, one serves and the other leaves its files alone", async () => {
    const base = await privateBase();
    const socket = join(base, "sidecar.sock");
    try {
      for (let round = 0; round < 3; round++) {
        const started = await Promise.allSettled([startSidecarAt(socket), startSidecarAt(socket)]);
        const up = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
        const down = started.flatMap((s) => (s.status === "rejected" ? [String(s.reason)] : []));
        try {
          expect(up, down.join("\n")).toHaveLength(1);
          expect(down[0]).toMatch(/another sidecar (is running for|is listening on)/);
          // The survivor's secret is the one on disk: its requests are accepted.
          expect(await get(socket, "/v1/summary?columns=pid&pid=4194304")).toEqual({ status: 200, body: "" });
        } finally {
          for (const sidecar of up) await sidecar.stop();
        }
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it("refuses a request that names another cluster, even one signed with its secret", async () => {
    const base = await privateBase();
    const socket = join(base, "sidecar.sock");
    const sidecar = await startSidecarAt(socket);
    try {
      const path = "/v1/summary?columns=pid";
      const headers = signedHeaders(secretOf(socket), path, {
        "x-pg-meminfo-role": "10",
        "x-pg-meminfo-cluster": "7000000000000000000/1",
      });
      const res = await rawGet(socket, path, headers);
      expect(res.status).toBe(421);
      expect(JSON.parse(res.body)).toMatchObject({
        code: "WRONG_CLUSTER",
        sqlstate: "HV00N",
        message: "this sidecar serves another PostgreSQL cluster",
      });
    } finally {
      await sidecar.stop();
      await rm(base, { recursive: true, force: true });
    }
  });
});

describe("pg-meminfo command", () => {
  it("refuses a password in --database, which every local user sees in ps, and says where it goes", async () => {
    for (const conninfo of [
      "host=/tmp dbname=postgres password=hunter2",
      "postgresql://postgres:hunter2@localhost/postgres",
      "postgresql://postgres@localhost/postgres?password=hunter2",
    ]) {
      const failure = await run(BIN, ["sidecar", "--database", conninfo]).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code, conninfo).toBe(1);
      expect(failure?.stderr).toContain("--database must not hold a password");
      expect(failure?.stderr).toContain("PGPASSWORD");
      expect(failure?.stderr).toContain(".pgpass");
    }
  });

  it("explains the socket and the OS user in --help", async () => {
    const { stdout } = await run(BIN, ["sidecar", "--help"]);
    expect(stdout).toContain("--database <conninfo>");
    expect(stdout).toContain("--socket <path>");
    expect(stdout).toContain("--log-level <level>");
    expect(stdout).toContain(".s.PGMEMINFO.<port>/sidecar.sock");
    expect(stdout).toContain("operating system user and group that own the cluster");
    expect(stdout).toContain("<socket>.secret (mode 0600)");
  });

  it("says how to fix a missing node binary", async () => {
    const failure = await run(BIN, ["sidecar", "--help"], {
      env: { ...process.env, NODE: "/nonexistent/node" },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(failure).toMatchObject({ code: 127 });
    expect((failure as { stderr: string }).stderr).toContain("cannot find node (/nonexistent/node)");
    expect((failure as { stderr: string }).stderr).toContain("set NODE to the path of its node binary");
  });

  it("says how to fix a sidecar that is not built", async () => {
    const root = await mkdtemp(join(tmpdir(), "pg-meminfo-unbuilt-"));
    try {
      await mkdir(join(root, "bin"));
      await copyFile(BIN, join(root, "bin", "pg-meminfo"));
      await chmod(join(root, "bin", "pg-meminfo"), 0o755);
      const failure = await run(join(root, "bin", "pg-meminfo"), ["sidecar"]).catch(
        (err: { code: number; stderr: string }) => err,
      );
      expect(failure).toMatchObject({ code: 1 });
      expect((failure as { stderr: string }).stderr).toContain("the sidecar is not built");
      expect((failure as { stderr: string }).stderr).toContain(`run "npm ci && npm run build" in ${root}`);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it.skipIf(process.getuid?.() !== 0)("refuses to run as root", async () => {
    const failure = await run(BIN, ["sidecar"]).catch((err: { code: number; stderr: string }) => err);
    expect(failure).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("the sidecar must not run as root"),
    });
  });
});
