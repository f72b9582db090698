/** The doctor's answer as text (a line per check, the fix under it) or as JSON. */
import { type Check, exitCode } from "./check.js";

const WIDTH = Math.max(
  ..."server extension role sidecar kernel contexts server-log history".split(" ").map((s) => s.length),
);

export function asText(checks: readonly Check[]): string {
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`${check.status.padEnd(4)}  ${check.id.padEnd(WIDTH)}  ${check.summary}`);
    if (check.fix && check.status !== "ok" && check.status !== "skip") {
      lines.push(`${" ".repeat(6 + WIDTH + 2)}fix: ${check.fix}`);
    }
  }
  const code = exitCode(checks);
  const counts = (["ok", "warn", "fail", "skip"] as const)
    .map((s) => [s, checks.filter((c) => c.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(", ");
  lines.push("", `${code === 0 ? "all ok" : code === 1 ? "warnings" : "failures"}: ${counts}`);
  return `${lines.join("\n")}\n`;
}

export function asJson(checks: readonly Check[]): string {
  return `${JSON.stringify({ exitCode: exitCode(checks), checks }, null, 2)}\n`;
}
