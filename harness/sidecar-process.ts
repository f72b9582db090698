import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { asClusterUser, CLUSTER_OS_USER, isRoot, run } from "./run-as.js";
import type { ThrowawayCluster } from "./throwaway-cluster.js";

export const REPO_ROOT = fileURLToPath(new URL(findRepoRootRelative(), import.meta.url));

/** Works both from harness/ (vitest, tsx) and from dist/harness/ (compiled demo and bench). */
function findRepoRootRelative(): string {
  const here = fileURLToPath(new URL(".", import.meta.url));
  for (const up of ["../", "../../"]) {
    if (existsSync(join(here, up, "package.json"))) return up;
  }
  return "../";
}

/** Default socket path of the protocol: `<socket dir>/.s.PGMEMINFO.<port>/sidecar.sock`. */
export function defaultSocketPath(socketDir: string, port: number): string {
  return join(socketDir, `.s.PGMEMINFO.${port}`, "sidecar.sock");
}

export interface SidecarOptions {
  /** Override of the socket path (`--socket`). */
  socket?: string;
  /** Extra command line arguments for `pg-meminfo sidecar`. */
  extraArgs?: string[];
  /** Extra environment variables (PGPASSWORD, say). */
  env?: Record<string, string>;
  /** How long to wait for the socket to accept connections (default 20 s). */
  startTimeoutMs?: number;
  repoRoot?: string;
}

/** The sidecar (`bin/pg-meminfo sidecar`) running as the cluster's OS user. */
export class SidecarProcess {
  private output = "";
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly socketPath: string,
  ) {
    const append = (chunk: Buffer) => {
      this.output += chunk.toString("utf8");
      // A long-running sidecar logs every request: keep the last part only.
      if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
    };
    child.stdout?.on("data", append);
    child.stderr?.on("data", append);
    this.exitPromise = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.exited = { code, signal };
        resolve();
      });
      child.on("error", (error) => {
        this.output += `\n[spawn error] ${error.message}`;
        this.exited ??= { code: null, signal: null };
        resolve();
      });
    });
  }

  static async start(cluster: ThrowawayCluster, options: SidecarOptions = {}): Promise<SidecarProcess> {
    const repoRoot = options.repoRoot ?? REPO_ROOT;
    const script = join(repoRoot, "bin", "pg-meminfo");
    if (isRoot()) {
      const [test, testArgs] = asClusterUser("test", ["-x", script]);
      if ((await run(test, testArgs, { cwd: "/", timeoutMs: 10_000 })).code !== 0) {
        throw new Error(
          `the sidecar runs as ${CLUSTER_OS_USER}, who cannot run ${script}: ` +
            `the repository and its parent directories must be readable by ${CLUSTER_OS_USER}`,
        );
      }
    }
    const socketPath = options.socket ?? defaultSocketPath(cluster.socketDir, cluster.port);
    const args = [
      "sidecar",
      "--database",
      cluster.connectionString(),
      ...(options.socket ? ["--socket", options.socket] : []),
      ...(options.extraArgs ?? []),
    ];
    const [command, fullArgs] = asClusterUser(script, args);
    const child = spawn(command, fullArgs, {
      cwd: cluster.baseDir,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env, NODE: process.execPath },
    });
    const sidecar = new SidecarProcess(child, socketPath);
    try {
      await sidecar.waitReady(options.startTimeoutMs ?? 20_000);
    } catch (error) {
      await sidecar.stop();
      throw error;
    }
    return sidecar;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) {
        throw new Error(
          `sidecar exited before listening (code ${this.exited.code}, signal ${this.exited.signal}); ` +
            `its output:\n${this.output}`,
        );
      }
      // Its own line, not just a socket that accepts: another sidecar may be serving the same path.
      if (
        this.output.includes("sidecar listening") &&
        existsSync(this.socketPath) &&
        (await acceptsConnections(this.socketPath))
      )
        return;
      await sleep(100);
    }
    throw new Error(
      `sidecar did not accept connections on ${this.socketPath} within ${timeoutMs} ms; its output:\n${this.output}`,
    );
  }

  /** Pid of the node process itself (not of the runuser wrapper). */
  get pid(): number | undefined {
    const wrapper = this.child.pid;
    if (wrapper === undefined) return undefined;
    return childPidOf(wrapper) ?? wrapper;
  }

  /** Pid of the spawned process (runuser when running as root). */
  get wrapperPid(): number | undefined {
    return this.child.pid;
  }

  /** Everything the sidecar wrote to stdout and stderr so far. */
  get log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.exited === undefined;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    const target = this.pid;
    this.child.kill("SIGTERM");
    if (target !== undefined && target !== this.child.pid) signal(target, "SIGTERM");
    const timedOut = await Promise.race([
      this.exitPromise.then(() => false),
      sleep(graceMs).then(() => true),
    ]);
    // runuser may exit before the sidecar under it has removed its socket and secret.
    const deadline = Date.now() + graceMs;
    while (!timedOut && target !== undefined && isRunning(target) && Date.now() < deadline) {
      await sleep(20);
    }
    if (timedOut || (target !== undefined && isRunning(target))) {
      if (target !== undefined && target !== this.child.pid) signal(target, "SIGKILL");
      this.child.kill("SIGKILL");
      await Promise.race([this.exitPromise, sleep(2_000)]);
    }
  }
}

/** Whether a process is there and not a zombie waiting for a parent to reap it. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function childPidOf(pid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/);
    const first = Number.parseInt(children[0] ?? "", 10);
    return Number.isInteger(first) ? first : undefined;
  } catch {
    return undefined;
  }
}

/** True when something accepts a connection on the Unix socket at `path`. */
export function acceptsConnections(path: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
