/**
 * Whether the sidecar can read memory-context dumps back from the server log, judged from the server's
 * log settings (the rules of sidecar/contexts/server-log.ts and log-line-prefix.ts) and, where the doctor
 * could make one, from a real dump of its own session.
 */
import { compileLinePrefix } from "../../sidecar/contexts/log-line-prefix.js";
import { chooseDestination } from "../../sidecar/contexts/server-log.js";
import type { Check } from "./check.js";

export interface LogSettings {
  collector: boolean;
  destinations: string;
  prefix: string;
}

type Verdict = Pick<Check, "status" | "summary" | "fix">;

/** Whether log_line_prefix lets the sidecar tell which process wrote a stderr line (it has %p). */
export function prefixHasPid(prefix: string): boolean {
  try {
    compileLinePrefix(prefix);
    return true;
  } catch {
    return false;
  }
}

/** The verdict from the settings alone. */
export function judgeLogSettings(settings: LogSettings): Verdict {
  if (!settings.collector) {
    return {
      status: "warn",
      summary:
        "logging_collector is off: memory_contexts cannot find the server log (unless the sidecar runs with --server-log)",
      fix:
        "ALTER SYSTEM SET logging_collector = on; then restart the server; or start the sidecar with " +
        "--server-log <the file the server's standard error goes to>",
    };
  }
  const destination = chooseDestination(settings.destinations);
  if (destination === undefined) {
    return {
      status: "warn",
      summary: `log_destination is '${settings.destinations}': no file the sidecar can read memory contexts from`,
      fix: `ALTER SYSTEM SET log_destination = '${settings.destinations},csvlog'; SELECT pg_reload_conf();`,
    };
  }
  if (destination === "stderr" && !prefixHasPid(settings.prefix)) {
    return {
      status: "warn",
      summary: `log_line_prefix '${settings.prefix}' has no %p: a stderr log does not say which process wrote a line`,
      fix: `ALTER SYSTEM SET log_line_prefix = '%m [%p] ${settings.prefix.replaceAll("'", "''")}'; SELECT pg_reload_conf(); -- or add csvlog to log_destination`,
    };
  }
  return {
    status: "ok",
    summary: `the logging collector writes ${destination}${destination === "stderr" ? " with %p in log_line_prefix" : ""}`,
  };
}
