import { chmod, chown, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLUSTER_OS_USER, isRoot, runChecked } from "./run-as.js";

/** A fresh 0700 temporary directory owned by the cluster's OS user, for sockets of test sidecars. */
export async function privateDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o700);
  if (isRoot()) {
    const uid = Number((await runChecked("id", ["-u", CLUSTER_OS_USER])).stdout.trim());
    const gid = Number((await runChecked("id", ["-g", CLUSTER_OS_USER])).stdout.trim());
    await chown(dir, uid, gid);
  }
  return dir;
}
