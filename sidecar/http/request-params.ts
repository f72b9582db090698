/** Checks of the request's parameters (docs/protocol.md, "Request"); each throws the protocol's error. */

import { BadRequestError, MissingRoleError, UnknownColumnError } from "../errors.js";
import { type Column, findColumn, type Source } from "../proc/columns.js";

const MAX_PIDS = 1000;
const MAX_OID = 4294967295;
const MAX_PID = 2147483647;
const DECIMAL = /^[0-9]{1,10}$/;

/** The calling role's OID (decimal text) from X-Pg-Meminfo-Role. */
export function parseRole(header: string | undefined): string {
  if (header === undefined || header === "") {
    throw new MissingRoleError("missing role", {
      detail: "The request has no X-Pg-Meminfo-Role header.",
      hint: "The header carries the OID of the calling role, in decimal.",
    });
  }
  if (!DECIMAL.test(header) || Number(header) > MAX_OID) {
    throw new MissingRoleError("invalid role", {
      detail: `X-Pg-Meminfo-Role "${header}" is not an OID in decimal.`,
    });
  }
  return String(Number(header));
}

/** The calling backend's pid from X-Pg-Meminfo-Backend-Pid (only logged); undefined when absent. */
export function parseBackendPid(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  if (!DECIMAL.test(header) || Number(header) > MAX_PID) {
    throw new BadRequestError("invalid backend pid", {
      detail: `X-Pg-Meminfo-Backend-Pid "${header}" is not a pid in decimal.`,
    });
  }
  return Number(header);
}

/** The requested columns, in request order; unknown names and duplicates are refused. */
export function parseColumns(source: Source, text: string): Column[] {
  return parseColumnList(source, text, (name) => findColumn(source, name));
}

/** The columns named in `text` that `find` knows, in request order, for the source named `source`. */
export function parseColumnList<C>(source: string, text: string, find: (name: string) => C | undefined): C[] {
  if (text === "")
    throw new BadRequestError("no columns requested", { detail: "The columns parameter is empty." });
  const names = text.split(",");
  const seen = new Set<string>();
  return names.map((name) => {
    if (name === "")
      throw new BadRequestError("empty column name", { detail: `The columns parameter is "${text}".` });
    const column = find(name);
    if (column === undefined) {
      throw new UnknownColumnError(`column "${name}" does not exist`, {
        detail: `The ${source} source has no column named "${name}".`,
      });
    }
    if (seen.has(name)) {
      throw new BadRequestError(`column "${name}" requested more than once`);
    }
    seen.add(name);
    return column;
  });
}

/** The requested pids: decimal, comma-separated, at most MAX_PIDS. */
export function parsePids(text: string): Set<number> {
  const parts = text.split(",");
  if (parts.length > MAX_PIDS) {
    throw new BadRequestError("too many pids", {
      detail: `The request names ${parts.length} pids; at most ${MAX_PIDS} are accepted.`,
    });
  }
  const pids = new Set<number>();
  for (const part of parts) {
    if (!DECIMAL.test(part) || Number(part) > MAX_PID) {
      throw new BadRequestError(`invalid pid "${part}"`, { detail: "A pid is a positive decimal integer." });
    }
    pids.add(Number(part));
  }
  return pids;
}
