/** Maps an error of a query to the protocol: unreachable database → DATABASE_UNAVAILABLE, else INTERNAL. */
import { DatabaseUnavailableError, InternalError, SidecarError } from "../errors.js";

/**
 * SQLSTATE classes that mean "cannot talk to the cluster": connection exceptions, invalid
 * authorization, invalid catalog name (database dropped), insufficient resources, operator intervention.
 */
const UNAVAILABLE_CLASSES = new Set(["08", "28", "3D", "53", "57"]);

function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code))
    return UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  // No SQLSTATE: a socket error (ECONNREFUSED, ENOENT), a timeout or a dropped connection.
  return true;
}

export function databaseError(err: unknown, what: string): SidecarError {
  if (err instanceof SidecarError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isUnavailable(err)) {
    return new DatabaseUnavailableError(`could not reach the cluster to ${what}`, {
      detail: `${message}.`,
      hint: "Check that the cluster is running and that the sidecar's --database settings are right.",
      cause: err,
    });
  }
  return new InternalError(`query to ${what} failed`, { detail: `${message}.`, cause: err });
}
