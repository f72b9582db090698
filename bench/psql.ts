/**
 * A psql session that times queries the way a DBA sees them: every row sent to psql, which formats
 * it and writes it to /dev/null. `\timing` gives the time psql measured for each statement.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { ThrowawayCluster } from "../harness/throwaway-cluster.js";

export class PsqlSession {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiting: { resolve: (ms: number) => void; reject: (err: Error) => void }[] = [];
  #errors = "";

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.#child = child;
    createInterface({ input: child.stdout }).on("line", (line) => {
      const ms = /^Time: ([0-9.]+) ms/.exec(line)?.[1];
      if (ms === undefined) return;
      const errors = this.#errors;
      this.#errors = "";
      const waiter = this.#waiting.shift();
      if (errors === "") waiter?.resolve(Number(ms));
      else waiter?.reject(new Error(`psql: ${errors.trim()}`));
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      this.#errors += `${line}\n`;
    });
  }

  /** psql on the cluster's socket, as `applicationName` (so the bench can find its backend). */
  static async open(cluster: ThrowawayCluster, applicationName: string): Promise<PsqlSession> {
    const child = spawn(
      `${cluster.binDir}/psql`,
      ["-X", "-q", "-A", "-t", "-o", "/dev/null", "-v", "ON_ERROR_STOP=0", cluster.connectionString()],
      { env: { ...process.env, PGAPPNAME: applicationName }, stdio: "pipe" },
    );
    const session = new PsqlSession(child);
    child.stdin.write("\\timing on\n");
    await session.time("SELECT 1");
    return session;
  }

  /** Runs one statement; resolves with psql's own timing of it, in ms. */
  time(sql: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#child.stdin.write(`${sql};\n`);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#child.once("exit", () => resolve());
      this.#child.stdin.end("\\q\n");
    });
  }
}
