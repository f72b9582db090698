/** A request naming a live process outside the cluster gets a clear error, not an empty answer. */
import type { Cluster } from "../cluster/cluster.js";
import { ForeignProcessError } from "../errors.js";

/** Throws FOREIGN_PROCESS for the first wanted pid that is a live process but not one of `members`. */
export async function refuseForeign(
  cluster: Cluster,
  wanted: ReadonlySet<number>,
  members: number[],
): Promise<void> {
  const foreign = await cluster.foreignProcesses(wanted, new Set(members));
  if (foreign.length === 0) return;
  throw new ForeignProcessError(`process ${foreign[0]} is not a process of this PostgreSQL cluster`, {
    detail: "pg_meminfo reads only the postmaster and the processes pg_stat_activity lists.",
    hint: "Take the pid from pg_stat_activity.",
  });
}
