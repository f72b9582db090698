/** Synthetic sample rounds for the history's unit tests: processes with labels like a busy cluster's. */
import type { ProcessLabels, ProcessSample } from "../../../sidecar/history/sample.js";

export const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** Labels of a client backend started at `start` (ms), or of another kind. */
export function labels(pid: number, start: number, kind = "client backend"): ProcessLabels {
  return {
    backendType: kind,
    datname: kind === "client backend" ? "shop" : null,
    usename: kind === "client backend" ? "web" : null,
    applicationName: kind === "client backend" ? `api-worker-${pid % 7}` : "",
    backendStart: start,
  };
}

/** One process's sample: own memory `own` bytes (pss_anon; anonymous a bit more), RSS much more. */
export function sample(
  pid: number,
  at: number,
  own: number,
  startTicks = pid * 10,
  l = labels(pid, T0 - pid * 1000),
): ProcessSample {
  return {
    pid,
    startTicks,
    sampledAt: at,
    rss: own + 20 * 1024 * 1024,
    pss: own + 4 * 1024 * 1024,
    pssAnon: own,
    pssShmem: 3 * 1024 * 1024,
    uss: own + 1024 * 1024,
    anonymous: own + 2 * 1024 * 1024,
    swap: 0,
    labels: l,
  };
}

/** A round of `n` processes (pids 1000..) at time `at`, each with a steady own memory. */
export function round(n: number, at: number, firstPid = 1000): ProcessSample[] {
  return Array.from({ length: n }, (_, i) =>
    sample(firstPid + i, at + (i % 16), (2 + (i % 5)) * 1024 * 1024),
  );
}
