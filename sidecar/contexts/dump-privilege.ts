/**
 * Whether the calling role may make a backend log its memory contexts: EXECUTE on
 * pg_log_backend_memory_contexts(integer), checked on the sidecar's own connection (superusers have it).
 * The caller needs it on top of pg_read_all_stats (cluster/authorize.ts): what it could do itself.
 */
import { quoteIdent } from "../cluster/authorize.js";
import { databaseError } from "../cluster/database-error.js";
import type { Queryable } from "../cluster/queryable.js";
import { ForbiddenError } from "../errors.js";

const QUERY =
  "SELECT r.rolname, has_function_privilege(r.oid, 'pg_catalog.pg_log_backend_memory_contexts(integer)', " +
  "'EXECUTE') AS allowed FROM pg_roles r WHERE r.oid = $1";

const MESSAGE = "permission denied: must have EXECUTE on pg_log_backend_memory_contexts(integer)";

/** Resolves when the role (an OID in decimal) may dump memory contexts; throws FORBIDDEN otherwise. */
export async function authorizeDump(db: Queryable, roleOid: string): Promise<void> {
  let rows: { rolname: string; allowed: boolean }[];
  try {
    ({ rows } = await db.query<{ rolname: string; allowed: boolean }>(QUERY, [roleOid]));
  } catch (err) {
    throw databaseError(err, "check the role's privileges");
  }
  const row = rows[0];
  if (row?.allowed === true) return;
  if (row === undefined) throw new ForbiddenError(MESSAGE, { detail: `No role has OID ${roleOid}.` });
  throw new ForbiddenError(MESSAGE, {
    detail: `Reading the memory contexts of a backend makes it write them to the server log, which role ${quoteIdent(row.rolname)} may not ask for.`,
    hint: `GRANT EXECUTE ON FUNCTION pg_log_backend_memory_contexts(integer) TO ${quoteIdent(row.rolname)};`,
  });
}
