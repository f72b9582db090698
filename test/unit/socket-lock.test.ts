import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lockSocket } from "../../sidecar/security/socket-lock.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "pg-meminfo-lock-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the socket lock", () => {
  it("is held by one sidecar at a time, and free again once released", async () => {
    const socket = join(dir, "a.sock");
    const first = await lockSocket(socket);
    await expect(lockSocket(socket)).rejects.toThrow(`another sidecar is running for "${socket}"`);
    await first.release();
    const second = await lockSocket(socket);
    await second.release();
  });

  it("of many taken at the same moment, exactly one succeeds", async () => {
    const socket = join(dir, "race.sock");
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => lockSocket(socket)));
    const won = outcomes.filter((o) => o.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const o of outcomes) if (o.status === "fulfilled") await o.value.release();
  });

  it("goes with the sidecar, however it ends (SIGKILL)", async () => {
    const socket = join(dir, "killed.sock");
    // A process that takes the lock as the sidecar does (the compiled module) and waits to be killed.
    const module = new URL("../../dist/sidecar/security/socket-lock.js", import.meta.url).href;
    const holder = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { lockSocket } = await import(${JSON.stringify(module)});
         await lockSocket(${JSON.stringify(socket)});
         console.log("locked");
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((resolve) => holder.stdout?.once("data", resolve));
    await expect(lockSocket(socket)).rejects.toThrow("another sidecar is running");
    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("exit", resolve));
    // Its flock child sees the pipe close and exits; the lock is free within moments.
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        const after = await lockSocket(socket);
        await after.release();
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  });
});
