/** The kernel's floor: `cat` of the same /proc files, the least any reader of them can cost. */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { performance } from "node:perf_hooks";

/** Milliseconds `cat` takes to read the files (output to /dev/null). */
export function catMs(files: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const devNull = openSync("/dev/null", "w");
    const started = performance.now();
    const child = spawn("cat", files, { stdio: ["ignore", devNull, "ignore"] });
    child.on("error", (error) => {
      closeSync(devNull);
      reject(error);
    });
    // cat exits 1 when a process ended between listing and reading; the time still counts.
    child.on("exit", () => {
      const ms = performance.now() - started;
      closeSync(devNull);
      resolve(ms);
    });
  });
}

export function procFiles(pids: readonly number[], file: string): string[] {
  return pids.map((pid) => `/proc/${pid}/${file}`);
}
