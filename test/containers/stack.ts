/**
 * One PostgreSQL version in containers, as docker-compose.yml runs it: the db container, and the
 * sidecar container in its pid namespace with the same uid, no capabilities, no new privileges, a
 * read-only root. Neither has an IP network: they share the server's socket directory on one volume
 * and the sidecar's socket and secret on another that only these two mount.
 */
import { randomBytes } from "node:crypto";
import type { HostConfig } from "dockerode";
import {
  type ContainerRuntimeClient,
  type ExecResult,
  GenericContainer,
  type StartedTestContainer,
  Wait,
} from "testcontainers";

/** Label of every container and volume the suite makes, so that leftovers of a killed run go too. */
const LABEL = "org.pg-meminfo.test";
const LABELS = { [LABEL]: "containers" };

export const SIDECAR_SOCKET = "/run/pg_meminfo/sidecar.sock";
/** uid and gid of postgres in both images. */
const PG_UID = "999:999";

const NEVER_PULL = { shouldPull: () => false };

/** GenericContainer with the create options testcontainers has no method for (pid mode, mounts). */
class Container extends GenericContainer {
  constructor(image: string) {
    super(image);
    this.withPullPolicy(NEVER_PULL).withLabels(LABELS).withNetworkMode("none");
    this.withWaitStrategy(Wait.forHealthCheck()).withStartupTimeout(180_000);
  }

  withHostConfig(extra: HostConfig): this {
    Object.assign(this.hostConfig, extra);
    return this;
  }
}

function volumeMount(Source: string, Target: string): NonNullable<HostConfig["Mounts"]>[number] {
  return { Type: "volume", Source, Target };
}

export interface PsqlOptions {
  user?: string;
  password?: string;
}

export class Stack {
  private constructor(
    readonly major: number,
    readonly db: StartedTestContainer,
    readonly sidecar: StartedTestContainer,
    private readonly client: ContainerRuntimeClient,
    private readonly volumes: string[],
  ) {}

  static async start(
    client: ContainerRuntimeClient,
    major: number,
    images: { postgres: string; sidecar: string },
  ) {
    const docker = client.container.dockerode;
    const suffix = `${major}-${randomBytes(3).toString("hex")}`;
    const pgsocket = `pg-meminfo-test-pgsocket-${suffix}`;
    const meminfo = `pg-meminfo-test-meminfo-${suffix}`;
    const volumes = [pgsocket, meminfo];
    const started: StartedTestContainer[] = [];
    try {
      for (const Name of volumes) await docker.createVolume({ Name, Labels: LABELS });
      const db = await new Container(images.postgres)
        .withName(`pg-meminfo-test-db-${suffix}`)
        .withHostConfig({
          Mounts: [volumeMount(pgsocket, "/run/postgresql"), volumeMount(meminfo, "/run/pg_meminfo")],
        })
        .start();
      started.push(db);
      const sidecar = await new Container(images.sidecar)
        .withName(`pg-meminfo-test-sidecar-${suffix}`)
        .withUser(PG_UID)
        .withDroppedCapabilities("ALL")
        .withSecurityOpt("no-new-privileges:true")
        .withCommand([
          "--database",
          "host=/run/postgresql user=postgres dbname=postgres",
          "--socket",
          SIDECAR_SOCKET,
          // Each request's url is logged at debug: the suite checks the pid the sidecar was sent.
          "--log-level",
          "debug",
        ])
        .withHostConfig({
          PidMode: `container:${db.getId()}`,
          ReadonlyRootfs: true,
          Mounts: [volumeMount(pgsocket, "/run/postgresql"), volumeMount(meminfo, "/run/pg_meminfo")],
        })
        .start();
      started.push(sidecar);
      return new Stack(major, db, sidecar, client, volumes);
    } catch (error) {
      await removeAll(client, started, volumes);
      throw error;
    }
  }

  /** psql in the db container as the OS user postgres; with user, as that role (with its password). */
  psql(sql: string, options: PsqlOptions = {}): Promise<ExecResult> {
    const args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"];
    if (options.user) args.push("-U", options.user);
    const env: Record<string, string> = options.password ? { PGPASSWORD: options.password } : {};
    return this.db.exec([...args, "-c", sql], { env });
  }

  /** Runs sql and throws with psql's message when it fails. */
  async run(sql: string, options: PsqlOptions = {}): Promise<string> {
    const result = await this.psql(sql, options);
    if (result.exitCode !== 0) {
      throw new Error(
        `psql failed (${result.exitCode}) on PostgreSQL ${this.major}: ${sql}\n${result.stderr}`,
      );
    }
    return result.stdout;
  }

  /** The rows of a query, through json_agg. */
  async rows<T>(sql: string): Promise<T[]> {
    return JSON.parse(await this.run(`SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q`)) as T[];
  }

  /** The sidecar's log so far (JSON lines; requests with their url at level debug). */
  async sidecarLog(): Promise<string> {
    // testcontainers follows the log: read what is there, then let go.
    const stream = await this.sidecar.logs();
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve) => {
      const done = setTimeout(resolve, 2000);
      stream.on("data", (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
      stream.on("end", () => {
        clearTimeout(done);
        resolve();
      });
    });
    stream.destroy();
    return Buffer.concat(chunks).toString("utf8");
  }

  async stop(): Promise<void> {
    await removeAll(this.client, [this.sidecar, this.db], this.volumes);
  }
}

async function removeAll(
  client: ContainerRuntimeClient,
  containers: StartedTestContainer[],
  volumes: string[],
) {
  for (const container of containers) {
    await container.stop({ timeout: 10_000, remove: true, removeVolumes: true }).catch(() => undefined);
  }
  for (const name of volumes) {
    await client.container.dockerode
      .getVolume(name)
      .remove()
      .catch(() => undefined);
  }
}

/** Containers and volumes a killed earlier run left (the suite runs without testcontainers' reaper). */
export async function removeLeftovers(client: ContainerRuntimeClient): Promise<number> {
  const docker = client.container.dockerode;
  const label = `${LABEL}=containers`;
  const containers = await docker.listContainers({ all: true, filters: { label: [label] } });
  for (const info of containers) {
    await docker
      .getContainer(info.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined);
  }
  const { Volumes } = await docker.listVolumes({ filters: { label: [label] } });
  for (const volume of Volumes ?? []) {
    await docker
      .getVolume(volume.Name)
      .remove()
      .catch(() => undefined);
  }
  return containers.length;
}
