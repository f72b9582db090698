/**
 * The sidecar must run as exactly the cluster's OS user and group, with no capabilities: reading
 * /proc/PID/smaps needs PTRACE_MODE_READ on the backend, which the same uid grants, and nothing more is
 * needed. A sidecar with more (root, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH) could be led to read any
 * process; one with another uid cannot read the backends at all.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InternalError } from "../errors.js";

export interface Identity {
  uid: number;
  gid: number;
  /** Effective capabilities, hex as in /proc/PID/status. */
  capEff: string;
}

/** Real uid and gid and effective capabilities from the text of /proc/PID/status. */
export function identityFromStatus(status: string): Identity | null {
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
  const gid = /^Gid:\s+(\d+)/m.exec(status)?.[1];
  const capEff = /^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1] ?? "0";
  if (uid === undefined || gid === undefined) return null;
  return { uid: Number(uid), gid: Number(gid), capEff };
}

async function identityOf(pid: number | "self", procRoot: string): Promise<Identity> {
  const path = join(procRoot, String(pid), "status");
  const identity = identityFromStatus(await readFile(path, "latin1"));
  if (identity === null)
    throw new InternalError(`could not read the identity of process ${pid} from ${path}`);
  return identity;
}

/** Throws unless this process runs as the postmaster's uid and gid, without capabilities. */
export async function assertClusterIdentity(postmasterPid: number, procRoot = "/proc"): Promise<void> {
  const [self, postmaster] = await Promise.all([
    identityOf("self", procRoot),
    identityOf(postmasterPid, procRoot),
  ]);
  if (self.uid !== postmaster.uid || self.gid !== postmaster.gid) {
    throw new InternalError("the sidecar must run as the operating system user and group of the cluster", {
      detail: `The sidecar runs as uid ${self.uid} gid ${self.gid}; the postmaster (pid ${postmasterPid}) as uid ${postmaster.uid} gid ${postmaster.gid}.`,
      hint: "Start it as that user, for example: runuser -u postgres -- pg-meminfo sidecar.",
    });
  }
  if (!/^0+$/.test(self.capEff)) {
    throw new InternalError("the sidecar must run without capabilities", {
      detail: `Its effective capabilities are ${self.capEff}; it needs none to read the cluster's own processes.`,
      hint: "Drop them (for example cap_drop: [ALL] in a container, or no AmbientCapabilities in systemd).",
    });
  }
}
