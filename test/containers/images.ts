/**
 * The suite's images, built from docker/Dockerfile.postgres and docker/Dockerfile.sidecar, each tagged
 * with a hash of exactly the files its build context holds and of its base image: an image whose
 * inputs did not change is reused, a changed one is rebuilt and the older builds of it are removed.
 * Builds use the host's network (only apt and npm need it) and never pull: a missing base image is
 * made by docker/base-images.sh.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ContainerRuntimeClient } from "testcontainers";

type Dockerode = ContainerRuntimeClient["container"]["dockerode"];

export const REPO_ROOT = join(import.meta.dirname, "..", "..");

/** PostgreSQL major versions tested, and the Debian suite that packages each. */
export const SUITES: Record<number, string> = { 15: "bookworm", 17: "trixie", 18: "sid" };

const LABEL_IMAGE = "org.pg-meminfo.image";
const LABEL_INPUTS = "org.pg-meminfo.inputs";

/** Build products that .dockerignore keeps out of the context. */
const NOT_INPUT = /(\.o|\.so|\.bc)$|(^|\/)(results|log)(\/|$)|(^|\/)regression\.[a-z]+$/;

/** The files of an input path; none when it does not exist (an optional tsconfig.build.json). */
function filesUnder(path: string): string[] {
  const full = join(REPO_ROOT, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true, encoding: "utf8" })
    .map((entry) => join(path, entry))
    .filter((entry) => statSync(join(REPO_ROOT, entry)).isFile() && !NOT_INPUT.test(entry))
    .sort();
}

interface ImageSpec {
  /** Repository part of the tag, and the value of the image label. */
  name: string;
  dockerfile: string;
  /** Files and folders of the build context (relative to the repository). */
  inputs: string[];
  buildArgs: Record<string, string>;
  baseSuite: string;
}

export function postgresImage(major: number): ImageSpec {
  const suite = SUITES[major];
  if (suite === undefined) throw new Error(`no Debian suite packages PostgreSQL ${major}`);
  return {
    name: `pg-meminfo-postgres-${major}`,
    dockerfile: "docker/Dockerfile.postgres",
    inputs: [
      "docker/Dockerfile.postgres",
      "docker/postgres-entrypoint.sh",
      "docker/demo-load.sh",
      "fdw",
      "sql",
    ],
    buildArgs: { PG_MAJOR: String(major) },
    baseSuite: suite,
  };
}

export const SIDECAR_IMAGE: ImageSpec = {
  name: "pg-meminfo-sidecar",
  dockerfile: "docker/Dockerfile.sidecar",
  inputs: [
    "docker/Dockerfile.sidecar",
    "docker/sidecar-healthcheck.mjs",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "tsconfig.build.json",
    "sidecar",
    "tools",
    "bin",
  ],
  buildArgs: {},
  baseSuite: "trixie",
};

/** Base images of the classic builder's stages: Dockerfile.postgres names all three suites. */
function baseSuitesOf(spec: ImageSpec): string[] {
  return spec.dockerfile.endsWith("postgres") ? Object.values(SUITES) : [spec.baseSuite];
}

async function imageId(docker: Dockerode, ref: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch {
    return undefined;
  }
}

async function ensureBaseImages(docker: Dockerode, suites: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const suite of suites) {
    if ((await imageId(docker, `debian:${suite}-slim`)) === undefined) missing.push(suite);
  }
  if (missing.length > 0) {
    await promisify(execFile)("bash", [join(REPO_ROOT, "docker/base-images.sh"), ...missing], {
      timeout: 15 * 60_000,
    });
  }
  const ids: string[] = [];
  for (const suite of suites) {
    const id = await imageId(docker, `debian:${suite}-slim`);
    if (id === undefined) throw new Error(`debian:${suite}-slim is missing after docker/base-images.sh`);
    ids.push(id);
  }
  return ids;
}

function inputsHash(files: string[], spec: ImageSpec, baseIds: string[]): string {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ args: spec.buildArgs, baseIds }));
  for (const file of files) {
    const stat = statSync(join(REPO_ROOT, file));
    hash.update(`\0${file}\0${stat.mode & 0o111 ? "x" : "-"}\0`);
    hash.update(readFileSync(join(REPO_ROOT, file)));
  }
  return hash.digest("hex").slice(0, 16);
}

async function build(docker: Dockerode, spec: ImageSpec, files: string[], tag: string, inputs: string) {
  const stream = await docker.buildImage(
    { context: REPO_ROOT, src: files },
    {
      t: tag,
      dockerfile: spec.dockerfile,
      buildargs: spec.buildArgs,
      networkmode: "host",
      labels: { [LABEL_IMAGE]: spec.name, [LABEL_INPUTS]: inputs },
      rm: true,
      forcerm: true,
    },
  );
  const output = await new Promise<Array<{ stream?: string; error?: string }>>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, result: Array<{ stream?: string }>) =>
      error ? reject(error) : resolve(result),
    );
  });
  const failure = output.find((line) => line.error);
  if (failure) {
    const log = output
      .map((line) => line.stream ?? "")
      .join("")
      .split("\n")
      .slice(-40)
      .join("\n");
    throw new Error(`building ${tag} failed: ${failure.error}\n${log}`);
  }
}

/** Images of spec.name built from other inputs: what a rebuild leaves behind. */
async function removeOlderBuilds(docker: Dockerode, spec: ImageSpec, inputs: string): Promise<void> {
  const images = await docker.listImages({ filters: { label: [`${LABEL_IMAGE}=${spec.name}`] } });
  for (const image of images) {
    if (image.Labels?.[LABEL_INPUTS] === inputs) continue;
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  }
}

export interface BuiltImage {
  tag: string;
  /** True when an image with the same inputs was already there. */
  reused: boolean;
  seconds: number;
}

/** The image of spec, reused when its inputs did not change, else built. */
export async function ensureImage(client: ContainerRuntimeClient, spec: ImageSpec): Promise<BuiltImage> {
  const started = Date.now();
  const docker = client.container.dockerode;
  const files = spec.inputs.flatMap(filesUnder);
  const baseIds = await ensureBaseImages(docker, baseSuitesOf(spec));
  const inputs = inputsHash(files, spec, baseIds);
  const tag = `${spec.name}:${inputs}`;
  const reused = (await imageId(docker, tag)) !== undefined;
  if (!reused) {
    await build(docker, spec, files, tag, inputs);
    await removeOlderBuilds(docker, spec, inputs);
  }
  return { tag, reused, seconds: Math.round((Date.now() - started) / 100) / 10 };
}
