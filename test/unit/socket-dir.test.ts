import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  clearStaleSocket,
  preparePrivateDirectory,
  prepareSocket,
} from "../../sidecar/security/socket-dir.js";

let base: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "pg-meminfo-sockdir-"));
});

afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A socket file nobody listens on, as a killed sidecar leaves it. */
function staleSocket(path: string): void {
  const script = `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`;
  spawnSync(process.execPath, ["-e", script]);
}

describe("preparePrivateDirectory", () => {
  it("creates a missing directory with mode 0700", async () => {
    const dir = join(base, ".s.PGMEMINFO.5432");
    await preparePrivateDirectory(dir);
    const st = await lstat(dir);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o700);
  });

  it("refuses a directory that group or others can enter, and says how to fix it", async () => {
    const dir = join(base, "open");
    await mkdir(dir);
    await chmod(dir, 0o750);
    await expect(preparePrivateDirectory(dir)).rejects.toMatchObject({
      message: `socket directory "${dir}" has mode 0750, so other users can reach the socket`,
      hint: `Run: chmod 0700 '${dir}'`,
    });
  });

  it("refuses a symbolic link, even to a private directory", async () => {
    const target = join(base, "target");
    await mkdir(target, { mode: 0o700 });
    const link = join(base, "link");
    await symlink(target, link);
    await expect(preparePrivateDirectory(link)).rejects.toThrow("is a symbolic link");
  });

  // Giving a directory away takes root.
  it.skipIf(process.getuid?.() !== 0)("refuses a directory owned by another user", async () => {
    const dir = join(base, "theirs");
    await mkdir(dir, { mode: 0o700 });
    const other = 65534;
    await chown(dir, other, other);
    await expect(preparePrivateDirectory(dir)).rejects.toThrow(`is owned by uid ${other}`);
  });

  it("refuses a path that is a file", async () => {
    const file = join(base, "file");
    await writeFile(file, "");
    await expect(preparePrivateDirectory(file)).rejects.toThrow("is not a directory");
  });
});

describe("clearStaleSocket", () => {
  it("removes a socket nobody listens on", async () => {
    const path = join(base, "sidecar.sock");
    staleSocket(path);
    expect((await lstat(path)).isSocket()).toBe(true);
    await clearStaleSocket(path);
    expect(existsSync(path)).toBe(false);
  });

  it("refuses to start when another sidecar is listening", async () => {
    const path = join(base, "sidecar.sock");
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      await expect(clearStaleSocket(path)).rejects.toThrow(`another sidecar is listening on "${path}"`);
      expect(existsSync(path)).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("refuses a path that is not a socket and leaves it", async () => {
    const path = join(base, "sidecar.sock");
    await writeFile(path, "data");
    await expect(clearStaleSocket(path)).rejects.toThrow("exists and is not a socket");
    expect(existsSync(path)).toBe(true);
  });

  it("is fine with no socket at all", async () => {
    const lock = await prepareSocket(join(base, "d", "sidecar.sock"));
    expect(lock.path).toBe(join(base, "d", "sidecar.sock.lock"));
    expect((await lstat(join(base, "d"))).mode & 0o777).toBe(0o700);
    await lock.release();
  });
});
