import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { isRoot, run, runuserPath } from "../../harness/run-as.js";
import { connect, queryError } from "../support/db.js";

describe("the sidecar's socket", () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = await connect();
  });

  afterAll(async () => {
    await client?.end();
  });

  it("is at the default path and reachable by the FDW", async () => {
    const socket = inject("sidecarSocket");
    expect(socket).toBe(join(inject("pgHost"), `.s.PGMEMINFO.${inject("pgPort")}`, "sidecar.sock"));
    const result = await client.query("SELECT count(*) FROM smap_summary");
    expect(Number(result.rows[0]?.count)).toBeGreaterThan(1);
  });

  it("lives in a 0700 directory, is 0600, and both belong to the cluster's OS user", async () => {
    const owner = (await stat(inject("dataDir"))).uid;
    const socket = inject("sidecarSocket");
    const dir = await stat(dirname(socket));
    expect(dir.isDirectory()).toBe(true);
    expect((dir.mode & 0o777).toString(8)).toBe("700");
    expect(dir.uid).toBe(owner);
    const file = await stat(socket);
    expect(file.isSocket()).toBe(true);
    expect((file.mode & 0o777).toString(8)).toBe("600");
    expect(file.uid).toBe(owner);
  });

  it.skipIf(!isRoot())("refuses another OS user (nobody) with EACCES", async () => {
    const socket = inject("sidecarSocket");
    // The cluster's socket directory is open to everyone; only the private directory keeps
    // nobody out, so the script first proves it can enter the cluster's directory.
    const script = `
      const fs = require("node:fs");
      const net = require("node:net");
      fs.accessSync(${JSON.stringify(inject("pgHost"))}, fs.constants.X_OK);
      process.stdout.write("entered ");
      const s = net.connect(${JSON.stringify(socket)});
      s.on("connect", () => { process.stdout.write("CONNECTED"); s.destroy(); });
      s.on("error", (e) => process.stdout.write(e.code));
    `;
    const result = await run(runuserPath(), ["-u", "nobody", "--", process.execPath, "-e", script], {
      cwd: "/",
      timeoutMs: 20_000,
    });
    expect(result.stdout, result.stderr).toBe("entered EACCES");
  });

  it("a server option socket naming a missing socket gives SQLSTATE 08xxx and a hint to start the sidecar", async () => {
    const missing = join(inject("pgHost"), "no-such-directory", "sidecar.sock");
    const options = await client.query<{ srvoptions: string[] | null }>(
      "SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'pg_meminfo'",
    );
    expect(options.rows.length).toBe(1);
    const has = (options.rows[0]?.srvoptions ?? []).some((o) => o.startsWith("socket="));
    await client.query("BEGIN");
    try {
      await client.query(`ALTER SERVER pg_meminfo OPTIONS (${has ? "SET" : "ADD"} socket '${missing}')`);
      const error = await queryError(client, "SELECT * FROM smap_summary");
      expect(error.code, error.message).toMatch(/^08/);
      expect(error.hint ?? "", error.message).toContain("pg-meminfo sidecar");
    } finally {
      await client.query("ROLLBACK");
    }
    const after = await client.query("SELECT count(*) FROM smap_summary");
    expect(Number(after.rows[0]?.count)).toBeGreaterThan(1);
  });
});
