/**
 * A scrape reads nothing: strace follows every thread of a sidecar that sampled once (its next round
 * an hour away) while it is scraped, and sees no file opened under /proc until a query asks for rows.
 */

import { spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SidecarProcess } from "../../harness/sidecar-process.js";
import { freePort } from "../../harness/throwaway-cluster.js";
import { startSidecarAt } from "../support/extra-sidecar.js";
import { privateDir } from "../support/private-dir.js";
import { get } from "../support/raw-http.js";
import { secretOf, signedHeaders } from "../support/signing.js";

describe("scraping the metrics", () => {
  let dir: string;
  let sidecar: SidecarProcess;
  let url: string;

  beforeAll(async () => {
    dir = await privateDir("pg-meminfo-metrics-reads-");
    const port = await freePort();
    url = `http://127.0.0.1:${port}/metrics`;
    sidecar = await startSidecarAt(join(dir, "s", "sidecar.sock"), undefined, [
      "--sample-interval",
      "3600",
      "--metrics-listen",
      String(port),
    ]);
    // The first round comes at once: wait until it is served.
    for (let i = 0; i < 100 && !(await (await fetch(url)).text()).includes("pg_meminfo_processes{"); i++) {
      await sleep(100);
    }
  });

  afterAll(async () => {
    await sidecar?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("opens no /proc file, on any thread, while it is scraped", { timeout: 60_000 }, async () => {
    const log = join(dir, "strace.log");
    const strace = spawn(
      "strace",
      ["-f", "-ttt", "-e", "trace=open,openat,openat2", "-o", log, "-p", String(sidecar.pid)],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let attached = "";
    strace.stderr.on("data", (chunk: Buffer) => {
      attached += chunk.toString();
    });
    const exited = new Promise((resolve) => strace.on("exit", resolve));
    let scraped = 0;
    try {
      for (let i = 0; i < 50 && !/Process \d+ attached/.test(attached); i++) await sleep(100);
      expect(attached).toMatch(/Process \d+ attached/);
      await sleep(200);
      for (let i = 0; i < 50; i++) expect((await fetch(url)).status).toBe(200);
      scraped = Date.now() / 1000;
      await sleep(50);
      // The check can fail: a query's rows are read from /proc, and strace sees it.
      const socket = join(dir, "s", "sidecar.sock");
      const target = "/v1/summary?columns=pid,rss";
      const answer = await get(
        socket,
        target,
        signedHeaders(secretOf(socket), target, { "x-pg-meminfo-role": "10" }),
      );
      expect(answer.status).toBe(200);
      await sleep(500);
    } finally {
      strace.kill("SIGINT");
      await exited;
    }
    // "PID SECONDS.MICROS openat(AT_FDCWD, "/proc/...", ...)", seconds since the epoch
    const opens = (await readFile(log, "utf8"))
      .split("\n")
      .map((line) => /^\d+\s+(\d+\.\d+)\s+(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && (m[2] ?? "").includes('"/proc/'))
      .map((m) => ({ at: Number(m[1]), call: m[2] as string }));
    expect(opens.filter((o) => o.at <= scraped).map((o) => o.call)).toEqual([]);
    expect(opens.filter((o) => o.at > scraped).length, "the query's /proc reads were seen").toBeGreaterThan(
      0,
    );
  });
});
