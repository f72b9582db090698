/** Where the cluster's sidecar socket goes by default, from the cluster's own settings. */
import { isAbsolute, join, resolve } from "node:path";
import { InternalError } from "../errors.js";
import { databaseError } from "./database-error.js";
import type { Queryable } from "./queryable.js";

/** First entry of a unix_socket_directories value (comma-separated, entries may be double-quoted). */
export function firstSocketDirectory(value: string): string | null {
  const text = value.trimStart();
  let entry: string;
  if (text.startsWith('"')) {
    let out = "";
    let i = 1;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        if (text[i + 1] === '"') {
          out += '"';
          i++;
          continue;
        }
        break;
      }
      out += c;
    }
    entry = out;
  } else {
    entry = (text.split(",", 1)[0] ?? "").trim();
  }
  return entry === "" ? null : entry;
}

/** Where the sidecar of a cluster listens: <first socket directory>/.s.PGMEMINFO.<port>/sidecar.sock. */
export function socketPathFor(socketDirectory: string, port: number | string, dataDirectory: string): string {
  const dir = isAbsolute(socketDirectory) ? socketDirectory : resolve(dataDirectory, socketDirectory);
  return join(dir, `.s.PGMEMINFO.${port}`, "sidecar.sock");
}

/** The default socket path, from the cluster's own settings. */
export async function defaultSocketPath(db: Queryable): Promise<string> {
  let row: { dirs: string; port: string; datadir: string } | undefined;
  try {
    const { rows } = await db.query<{ dirs: string; port: string; datadir: string }>(
      "SELECT current_setting('unix_socket_directories') AS dirs, current_setting('port') AS port, " +
        "current_setting('data_directory') AS datadir",
    );
    row = rows[0];
  } catch (err) {
    throw databaseError(err, "read its socket settings");
  }
  const dir = row === undefined ? null : firstSocketDirectory(row.dirs);
  if (row === undefined || dir === null) {
    throw new InternalError("the cluster has no unix socket directory", {
      detail: "unix_socket_directories is empty, so there is no default place for the sidecar's socket.",
      hint: "Give the socket path with --socket, and the same path in the foreign server's socket option.",
    });
  }
  if (dir.startsWith("@")) {
    throw new InternalError("the cluster's first socket directory is an abstract socket namespace", {
      detail: `unix_socket_directories starts with "${dir}", which is not a directory.`,
      hint: "Give the socket path with --socket, and the same path in the foreign server's socket option.",
    });
  }
  return socketPathFor(dir, row.port, row.datadir);
}
