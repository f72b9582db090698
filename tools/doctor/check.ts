/** One line of the doctor's answer: a check, how it went, and for anything not ok the fix. */

/** `skip`: not checked, because a check it depends on did not pass (that one says why). */
export type Status = "ok" | "warn" | "fail" | "skip";

export interface Check {
  /** Stable name, for --json and scripts: server, extension, role, sidecar, ... */
  id: string;
  status: Status;
  /** One line: what was found. */
  summary: string;
  /** For warn and fail: the command or setting that fixes it. */
  fix?: string;
  /** The error as the server gave it, when one was the reason. */
  error?: { sqlstate?: string; message: string; detail?: string; hint?: string };
}

/** Exit status of the doctor: 0 all ok, 1 a warning, 2 a failure. */
export function exitCode(checks: readonly Check[]): 0 | 1 | 2 {
  if (checks.some((c) => c.status === "fail")) return 2;
  if (checks.some((c) => c.status === "warn")) return 1;
  return 0;
}

/** The parts of a pg error the doctor reads and shows. */
export function errorOf(err: unknown): NonNullable<Check["error"]> {
  const e = err as { code?: unknown; message?: unknown; detail?: unknown; hint?: unknown };
  const out: NonNullable<Check["error"]> = { message: String(e?.message ?? err) };
  if (typeof e?.code === "string") out.sqlstate = e.code;
  if (typeof e?.detail === "string") out.detail = e.detail;
  if (typeof e?.hint === "string") out.hint = e.hint;
  return out;
}
