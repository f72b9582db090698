/**
 * One sidecar per socket: before it touches the socket or the secret, a sidecar takes an exclusive
 * lock on <socket>.lock and holds it while it runs. Two sidecars started at the same moment cannot
 * both have it, so the one that loses leaves the other's files alone.
 *
 * Node has no flock(2); the lock is held by util-linux's flock(1), a child that runs `cat` on a pipe
 * from the sidecar. The kernel drops the lock when that child exits, and the child exits when the
 * pipe closes, so the lock goes with the sidecar however it ends (SIGKILL included).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { SocketDirError } from "./socket-dir.js";

/** Exit status of flock(1) when another process holds the lock. */
const HELD = 75;

export interface SocketLock {
  readonly path: string;
  release(): Promise<void>;
}

export function lockPathFor(socket: string): string {
  return `${socket}.lock`;
}

/** Takes the lock of `socket`, or fails at once when another sidecar holds it. */
export async function lockSocket(socket: string): Promise<SocketLock> {
  const path = lockPathFor(socket);
  const child = spawn(
    "flock",
    ["--exclusive", "--nonblock", "--conflict-exit-code", String(HELD), path, "-c", "echo locked; exec cat"],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (text: string) => {
    stderr += text;
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (message: string, hint: string) => reject(new SocketDirError(message, hint));
    child.once("error", (err) =>
      failed(
        `could not run flock to lock "${path}": ${err.message}`,
        "Install util-linux (it provides flock), which every Debian system has.",
      ),
    );
    child.once("exit", (code) => {
      if (code === HELD) {
        failed(
          `another sidecar is running for "${socket}" (it holds "${path}")`,
          "Stop the other sidecar first; one cluster needs only one.",
        );
      } else {
        failed(
          `could not lock "${path}": ${stderr.trim() || `flock exited with ${code}`}`,
          "Check the socket directory.",
        );
      }
    });
    child.stdout?.once("data", () => {
      child.removeAllListeners("exit");
      resolve();
    });
  });
  child.stdout?.resume();
  // The sidecar must not wait for its lock holder to exit.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    (stream as { unref?: () => void } | null)?.unref?.();
  return { path, release: () => release(child) };
}

function release(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    // Held again while it goes: a start-up that fails has closed everything else, and a process with
    // nothing left to wait for would exit before saying why.
    child.ref();
    child.stdin?.end();
  });
}
