import { execFile } from "node:child_process";
import { existsSync } from "node:fs";

/** The OS user that owns PostgreSQL processes when the harness runs as root. */
export const CLUSTER_OS_USER = "postgres";

export const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Wrap a command so that it runs as the cluster's OS user: through `runuser` when running as root
 * (PostgreSQL refuses to run as root), unchanged otherwise.
 */
export function asClusterUser(command: string, args: readonly string[]): [string, string[]] {
  if (!isRoot()) return [command, [...args]];
  return [runuserPath(), ["-u", CLUSTER_OS_USER, "--", command, ...args]];
}

export function runuserPath(): string {
  for (const candidate of ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]) {
    if (existsSync(candidate)) return candidate;
  }
  return "runuser";
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Run a command to completion; never throws for a non-zero exit, only reports it. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      [...args],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs ?? 120_000,
        killSignal: "SIGKILL",
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        let code = 0;
        if (error) {
          const status = (error as { code?: unknown }).code;
          code = typeof status === "number" ? status : 1;
          if (error.killed) stderr += `\n[killed after ${options.timeoutMs ?? 120_000} ms]`;
        }
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Run a command and throw, with its output, when it fails. */
export async function runChecked(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${result.code}\n${result.stdout}\n${result.stderr}`.trim(),
    );
  }
  return result;
}
