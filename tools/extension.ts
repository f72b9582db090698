/** Where the extension lives in the database the tools are connected to, and which of its objects exist. */
import type pg from "pg";
import { quoteIdent } from "../sidecar/cluster/authorize.js";

export interface Extension {
  /** The schema the extension's objects are in. */
  schema: string;
  /** The installed version (pg_extension.extversion). */
  version: string;
  /** The version ALTER EXTENSION ... UPDATE goes to (the control file's default_version). */
  defaultVersion: string | null;
}

/** The extension in this database, or null when it is not created here. */
export async function findExtension(db: pg.ClientBase): Promise<Extension | null> {
  const { rows } = await db.query<{ schema: string; version: string; default_version: string | null }>(
    "SELECT n.nspname AS schema, e.extversion AS version, a.default_version " +
      "FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace " +
      "LEFT JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = 'pg_meminfo'",
  );
  const row = rows[0];
  return row === undefined
    ? null
    : { schema: row.schema, version: row.version, defaultVersion: row.default_version };
}

/** `schema.name`, each quoted as an SQL identifier where it needs it. */
export function qualified(extension: Extension, name: string): string {
  return `${quoteIdent(extension.schema)}.${quoteIdent(name)}`;
}

/** Whether the extension has a table or view of that name (extension 1.0 has no memory_contexts, say). */
export async function hasRelation(db: pg.ClientBase, extension: Extension, name: string): Promise<boolean> {
  const { rows } = await db.query<{ oid: string | null }>("SELECT to_regclass($1)::oid AS oid", [
    qualified(extension, name),
  ]);
  return rows[0]?.oid != null;
}

/** Whether the extension has a function of that name, whatever its arguments. */
export async function hasFunction(db: pg.ClientBase, extension: Extension, name: string): Promise<boolean> {
  const { rows } = await db.query(
    "SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2",
    [extension.schema, name],
  );
  return rows.length > 0;
}

/** The sentence for an object the connected extension lacks, naming what brings it. */
export function missingObject(extension: Extension, name: string): string {
  const update =
    extension.defaultVersion !== null && extension.defaultVersion !== extension.version
      ? `ALTER EXTENSION pg_meminfo UPDATE (installed ${extension.version}, available ${extension.defaultVersion})`
      : `a newer pg_meminfo (installed ${extension.version})`;
  return `pg_meminfo ${extension.version} has no ${name}; it needs ${update}`;
}
