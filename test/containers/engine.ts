/**
 * The container engine the suite runs on, found the way testcontainers finds one (DOCKER_HOST,
 * ~/.testcontainers.properties, /var/run/docker.sock, a rootless socket). Testcontainers' reaper
 * container would come from a registry: it is off, and the suite removes what it made itself.
 */
import type { ContainerRuntimeClient } from "testcontainers";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
// The containers publish no port, so the host they would be reached at does not matter; without this,
// testcontainers asks for the gateway of the default bridge, which an engine without one (as
// scripts/docker-engine.sh starts it) does not have.
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "localhost";

export type Engine =
  | { client: ContainerRuntimeClient; reason?: undefined }
  | { client?: undefined; reason: string };

const FIND_TIMEOUT_MS = 30_000;

export async function findEngine(): Promise<Engine> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${FIND_TIMEOUT_MS / 1000} s`)), FIND_TIMEOUT_MS);
  });
  try {
    const client = await Promise.race([getContainerRuntimeClient(), timeout]);
    return { client };
  } catch (error) {
    const where = process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : "the default sockets";
    return {
      reason:
        `no container engine answers at ${where} (${(error as Error).message}); ` +
        "start one with: export DOCKER_HOST=$(bash scripts/docker-engine.sh start)",
    };
  } finally {
    clearTimeout(timer);
  }
}

/** In CI the suite must run: a missing engine is a failure there, elsewhere a reason to skip. */
export const MUST_RUN = process.env.CI === "true";
