/**
 * The sidecar's --metrics-* options at start-up: what it refuses, with what message, and that a
 * refused start leaves no socket nor secret behind.
 */
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../../harness/run-as.js";
import { REPO_ROOT } from "../../harness/sidecar-process.js";
import { freePort } from "../../harness/throwaway-cluster.js";
import { startSidecarAt } from "../support/extra-sidecar.js";
import { privateDir } from "../support/private-dir.js";

describe("the sidecar's --metrics-* options at start-up", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await privateDir("pg-meminfo-metrics-start-");
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starting must fail; resolves with what the sidecar printed. */
  async function refused(name: string, args: string[]): Promise<string> {
    const socket = join(dir, name, "sidecar.sock");
    const error = await startSidecarAt(socket, undefined, args).then(
      async (sidecar) => {
        await sidecar.stop();
        throw new Error(`the sidecar started with ${args.join(" ")}`);
      },
      (err: Error) => err,
    );
    expect(existsSync(socket), "socket left behind").toBe(false);
    expect(existsSync(`${socket}.secret`), "secret left behind").toBe(false);
    return error.message;
  }

  it("refuses --metrics-listen with sampling off", async () => {
    const port = await freePort();
    const output = await refused("off", ["--sample-interval", "0", "--metrics-listen", String(port)]);
    expect(output).toContain(
      "pg-meminfo: --metrics-listen needs sampling: the metrics are the sampler's figures",
    );
    expect(output).toContain("Give --sample-interval a number of seconds above 0 (the default is 10).");
  });

  it("refuses a port another process listens on, and removes what it made", async () => {
    const port = await freePort();
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
    try {
      const output = await refused("taken", [
        "--sample-interval",
        "1",
        "--metrics-listen",
        `127.0.0.1:${port}`,
      ]);
      expect(output).toContain(`pg-meminfo: could not listen on 127.0.0.1:${port} for --metrics-listen`);
      expect(output).toContain(
        "Another process listens on that port: pick a free one (one port per sidecar).",
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("refuses a bad address and options that would do nothing", async () => {
    expect(await refused("bad", ["--metrics-listen", "localhost"])).toContain(
      "option '--metrics-listen <[host:]port>' argument 'localhost' is invalid. \"localhost\" has no port",
    );
    expect(await refused("stray", ["--metrics-top-pids", "3"])).toContain(
      "pg-meminfo: --metrics-top-pids without --metrics-listen does nothing\nAdd --metrics-listen [HOST:]PORT.",
    );
  });

  it("documents them in --help", async () => {
    const help = await run(join(REPO_ROOT, "bin", "pg-meminfo"), ["sidecar", "--help"], {
      timeoutMs: 20_000,
    });
    expect(help.code).toBe(0);
    for (const text of [
      "--metrics-listen <[host:]port>",
      "--metrics-max-label-values <n>",
      "--metrics-top-pids <n>",
      "--metrics-growth-window <seconds>",
      "Prometheus metrics (--metrics-listen): GET /metrics on a TCP port of its own",
      "The metrics are public to whoever reaches the port",
    ]) {
      expect(help.stdout).toContain(text);
    }
  });
});
