import { dirname } from "node:path";
import { inject } from "vitest";
import type { Cluster } from "./cluster.js";
import { SidecarProcess } from "./sidecar-process.js";

/** What SidecarProcess needs of a cluster, for the run's cluster (which global setup owns). */
function runCluster(): Cluster {
  const host = inject("pgHost");
  const port = inject("pgPort");
  const user = inject("pgUser");
  const like: Pick<Cluster, "socketDir" | "port" | "baseDir" | "connectionString"> = {
    socketDir: host,
    port,
    baseDir: dirname(inject("dataDir")),
    connectionString: (database = "postgres") => `host=${host} port=${port} user=${user} dbname=${database}`,
  };
  return like as Cluster;
}

/** A second real sidecar of the run's cluster (or of `cluster`), listening on `socket`. */
export function startSidecarAt(socket: string, cluster?: Cluster): Promise<SidecarProcess> {
  return SidecarProcess.start(cluster ?? runCluster(), { socket });
}

/** The run's cluster's server log (global setup keeps it beside the data directory). */
export function runClusterLogFile(): string {
  return `${dirname(inject("dataDir"))}/postgres.log`;
}
