import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { REPO_ROOT, SidecarProcess } from "../harness/sidecar-process.js";
import { ThrowawayCluster } from "../harness/throwaway-cluster.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Socket directory of the test cluster (libpq host). */
    pgHost: string;
    pgPort: number;
    pgUser: string;
    /** Path of the sidecar's Unix socket. */
    sidecarSocket: string;
    dataDir: string;
    repoRoot: string;
    /** The test cluster as requests name it: "<system identifier>/<postmaster pid>". */
    clusterName: string;
  }
}

let cluster: ThrowawayCluster | undefined;
let sidecar: SidecarProcess | undefined;

async function teardown(): Promise<void> {
  try {
    await sidecar?.stop();
  } finally {
    sidecar = undefined;
    await cluster?.destroy();
    cluster = undefined;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  try {
    cluster = await ThrowawayCluster.create({ prefix: "pg-meminfo-test-" });
    await cluster.start();
    const available = await cluster.sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_meminfo'");
    if (available.length === 0) {
      throw new Error(
        `extension pg_meminfo is not installed in ${cluster.binDir}/..: run \`make -C fdw install\` ` +
          "(as root) before the tests",
      );
    }
    await cluster.sql("CREATE EXTENSION pg_meminfo");
    sidecar = await SidecarProcess.start(cluster);
  } catch (error) {
    const log = cluster ? await cluster.log() : "";
    await teardown();
    if (log && error instanceof Error) error.message += `\n--- server log ---\n${log}`;
    throw error;
  }
  project.provide("pgHost", cluster.socketDir);
  project.provide("pgPort", cluster.port);
  project.provide("pgUser", cluster.user);
  project.provide("sidecarSocket", sidecar.socketPath);
  project.provide("dataDir", cluster.dataDir);
  project.provide("repoRoot", REPO_ROOT);
  project.provide("clusterName", await cluster.name());
  return teardown;
}
