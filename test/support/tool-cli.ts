/** Runs the tools as a user would: bin/pg-meminfo with a command, a connection string, and a clean PG* environment. */
import { join } from "node:path";
import { inject } from "vitest";
import { type RunResult, run } from "../../harness/run-as.js";

/** The environment without PG* variables: only the connection string given says where to go. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("PG")) env[key] = value;
  return { ...env, NODE: process.execPath };
}

/** `bin/pg-meminfo ARGS...`, bounded in time. */
export function pgMeminfo(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(join(inject("repoRoot"), "bin", "pg-meminfo"), args, { env: cleanEnv(), timeoutMs });
}

/** The run's cluster as a connection string, as `user`. */
export function runClusterConninfo(user = inject("pgUser"), database = "postgres"): string {
  return `host=${inject("pgHost")} port=${inject("pgPort")} user=${user} dbname=${database}`;
}

export interface DoctorCheck {
  id: string;
  status: "ok" | "warn" | "fail" | "skip";
  summary: string;
  fix?: string;
  error?: { sqlstate?: string; message: string };
}

export interface DoctorRun {
  code: number;
  checks: DoctorCheck[];
  /** The check of that id; throws when the doctor has none. */
  check(id: string): DoctorCheck;
  stdout: string;
  stderr: string;
}

/** `pg-meminfo doctor --json CONNINFO`, parsed. */
export async function doctor(conninfo: string): Promise<DoctorRun> {
  const result = await pgMeminfo(["doctor", "--json", conninfo]);
  let parsed: { exitCode: number; checks: DoctorCheck[] };
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new Error(`doctor printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  if (parsed.exitCode !== result.code)
    throw new Error(`exit ${result.code} but the JSON says ${parsed.exitCode}`);
  return {
    code: result.code,
    checks: parsed.checks,
    stdout: result.stdout,
    stderr: result.stderr,
    check(id: string) {
      const found = parsed.checks.find((c) => c.id === id);
      if (found === undefined) throw new Error(`no check ${id} in ${result.stdout}`);
      return found;
    },
  };
}
