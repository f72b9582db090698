/** Whether the calling role may read other backends' memory: superuser or privileges of pg_read_all_stats. */

import { ForbiddenError } from "../errors.js";
import { databaseError } from "./database-error.js";
import type { Queryable } from "./queryable.js";

const ALLOWED_QUERY =
  "SELECT r.rolsuper OR pg_has_role(r.oid, 'pg_read_all_stats', 'USAGE') AS allowed, r.rolname, " +
  "pg_has_role(r.oid, 'pg_read_all_stats', 'MEMBER') AS member " +
  "FROM pg_roles r WHERE r.oid = $1";

const MESSAGE = "permission denied: must be superuser or have the privileges of pg_read_all_stats";

/** How long a role found allowed stays allowed without asking the database again. */
const ALLOW_CACHE_MS = 2000;

/**
 * Checks roles on the sidecar's own connection. An allowed role is remembered for ALLOW_CACHE_MS, so a
 * revoked grant or a dropped role is refused within that time; a refusal is never remembered, so a new
 * grant works at once.
 */
export class RoleAuthorizer {
  readonly #db: Queryable;
  readonly #now: () => number;
  readonly #allowedUntil = new Map<string, number>();

  constructor(db: Queryable, options: { now?: () => number } = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
  }

  /** Resolves when the role (an OID in decimal) is allowed; throws FORBIDDEN otherwise. */
  async authorize(roleOid: string): Promise<void> {
    const now = this.#now();
    const until = this.#allowedUntil.get(roleOid);
    if (until !== undefined && until > now) return;
    this.#allowedUntil.delete(roleOid);
    await authorize(this.#db, roleOid);
    this.#allowedUntil.set(roleOid, now + ALLOW_CACHE_MS);
  }
}

/** Resolves when the role (an OID in decimal) is allowed; throws FORBIDDEN otherwise. */
export async function authorize(db: Queryable, roleOid: string): Promise<void> {
  let rows: { allowed: boolean | null; rolname: string; member: boolean | null }[];
  try {
    ({ rows } = await db.query<{ allowed: boolean | null; rolname: string; member: boolean | null }>(
      ALLOWED_QUERY,
      [roleOid],
    ));
  } catch (err) {
    throw databaseError(err, "check the role's privileges");
  }
  const row = rows[0];
  if (row?.allowed === true) return;
  if (row === undefined) {
    throw new ForbiddenError(MESSAGE, { detail: `No role has OID ${roleOid}.` });
  }
  const name = quoteIdent(row.rolname);
  if (row.member === true) {
    throw new ForbiddenError(MESSAGE, {
      detail: `Role ${name} is a member of pg_read_all_stats but does not inherit its privileges.`,
      hint:
        `Run SET ROLE pg_read_all_stats first, or let the role inherit them: ALTER ROLE ${name} INHERIT ` +
        `(on PostgreSQL 16 and later, GRANT pg_read_all_stats TO ${name} WITH INHERIT TRUE).`,
    });
  }
  throw new ForbiddenError(MESSAGE, {
    detail: `Role ${name} is not a superuser and has not the privileges of pg_read_all_stats.`,
    hint: `GRANT pg_read_all_stats TO ${quoteIdent(row.rolname)};`,
  });
}

/** Quotes a role name as an SQL identifier when it needs it. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}
