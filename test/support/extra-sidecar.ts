import { dirname, join } from "node:path";
import { inject } from "vitest";
import { SidecarProcess } from "../../harness/sidecar-process.js";
import type { ThrowawayCluster } from "../../harness/throwaway-cluster.js";

/** What SidecarProcess needs of a cluster, for the run's cluster (which global setup owns). */
function runCluster(): ThrowawayCluster {
  const host = inject("pgHost");
  const port = inject("pgPort");
  const user = inject("pgUser");
  const like: Pick<ThrowawayCluster, "socketDir" | "port" | "baseDir" | "connectionString"> = {
    socketDir: host,
    port,
    baseDir: dirname(inject("dataDir")),
    connectionString: (database = "postgres") => `host=${host} port=${port} user=${user} dbname=${database}`,
  };
  return like as ThrowawayCluster;
}

/**
 * A second real sidecar of the run's cluster (or of `cluster`), listening on `socket`, with more
 * command line arguments if given.
 */
export function startSidecarAt(
  socket: string,
  cluster?: ThrowawayCluster,
  extraArgs: string[] = [],
): Promise<SidecarProcess> {
  return SidecarProcess.start(cluster ?? runCluster(), { socket, extraArgs });
}

/** The run's cluster's server log: the logging collector's file (harness/throwaway-cluster.ts). */
export function runClusterLogFile(): string {
  return join(inject("dataDir"), "log", "postgres.log");
}
