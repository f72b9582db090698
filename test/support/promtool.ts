/** `promtool check metrics` (Debian's prometheus package) on an exposition text. */
import { spawn } from "node:child_process";

export const PROMTOOL = process.env.PROMTOOL ?? "/usr/bin/promtool";

export interface CheckResult {
  code: number | null;
  /** What promtool printed: one line per problem. */
  output: string;
}

export function checkMetrics(text: string, timeoutMs = 20_000): Promise<CheckResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(
        new Error(
          `could not run ${PROMTOOL} (scripts/setup.sh installs Debian's prometheus): ${err.message}`,
        ),
      );
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}
