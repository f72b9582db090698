/**
 * A throwaway cluster whose postmaster is pid 1 of a PID namespace of its own, as in a container:
 * `unshare --pid --fork --mount-proc`, then the postmaster as the cluster's OS user. The sockets are in
 * the shared file system, so clients on the host reach it; a process on the host cannot see its pids.
 * Never stopped with pg_ctl: its postmaster.pid says pid 1, which on the host is init.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CLUSTER_OS_USER } from "../../harness/run-as.js";
import { ThrowawayCluster } from "../../harness/throwaway-cluster.js";

export class NamespacedCluster {
  private output = "";
  private readonly exited: Promise<void>;

  private constructor(
    readonly cluster: ThrowawayCluster,
    private readonly child: ChildProcess,
  ) {
    const append = (d: Buffer) => {
      this.output += d.toString();
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    this.exited = new Promise((resolve) => child.on("exit", () => resolve()));
  }

  static async start(): Promise<NamespacedCluster> {
    const cluster = await ThrowawayCluster.create({ prefix: "pg-meminfo-pidns-" });
    const user = [`--reuid=${CLUSTER_OS_USER}`, `--regid=${CLUSTER_OS_USER}`, "--init-groups"];
    const child = spawn(
      "unshare",
      [
        "--pid",
        "--fork",
        "--mount-proc",
        "--",
        "setpriv",
        ...user,
        "--",
        join(cluster.binDir, "postgres"),
        "-D",
        cluster.dataDir,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const ns = new NamespacedCluster(cluster, child);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await cluster.sql("SELECT 1");
        return ns;
      } catch (err) {
        if (Date.now() > deadline || child.exitCode !== null) {
          await ns.destroy();
          throw new Error(`the namespaced cluster did not start: ${(err as Error).message}\n${ns.output}`);
        }
        await sleep(200);
      }
    }
  }

  /** Fast shutdown through the postmaster's pid on the host (unshare's child), then the files. */
  async destroy(): Promise<void> {
    const pid = this.child.pid;
    const children =
      pid === undefined ? "" : readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    const postmaster = Number(children.split(/\s+/)[0]);
    if (Number.isInteger(postmaster) && postmaster > 1) process.kill(postmaster, "SIGINT");
    const stopped = await Promise.race([this.exited.then(() => true), sleep(20_000).then(() => false)]);
    if (!stopped) this.child.kill("SIGKILL");
    if (existsSync(join(this.cluster.dataDir, "postmaster.pid")) && !stopped) await this.exited;
    await rm(this.cluster.baseDir, { recursive: true, force: true });
  }
}
