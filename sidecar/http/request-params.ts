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

/** The time parameters of the history source, microseconds since the Unix epoch (docs/protocol.md). */
export interface TimeParams {
  after?: string | undefined;
  from?: string | undefined;
  before?: string | undefined;
  until?: string | undefined;
}

const MICROS = /^-?[0-9]{1,19}$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Beyond this many ms from the epoch there is no sample (Date's own range). */
const FAR_MS = 8.64e15;

function micros(name: string, text: string): bigint {
  const value = MICROS.test(text) ? BigInt(text) : null;
  if (value === null || value < INT64_MIN || value > INT64_MAX) {
    throw new BadRequestError(`invalid ${name} "${text}"`, {
      detail: "A time is a whole number of microseconds since 1970-01-01 00:00 UTC, in decimal.",
    });
  }
  return value;
}

/** ⌊a / 1000⌋ and ⌈a / 1000⌉ for any sign, as ms numbers (far values clamp to ±Infinity). */
function msOf(value: bigint, round: "floor" | "ceil"): number {
  let q = value / 1000n;
  const r = value % 1000n;
  if (round === "floor" && r < 0n) q -= 1n;
  if (round === "ceil" && r > 0n) q += 1n;
  const ms = Number(q);
  if (ms > FAR_MS) return Number.POSITIVE_INFINITY;
  return ms < -FAR_MS ? Number.NEGATIVE_INFINITY : ms;
}

/**
 * The samples the time parameters let through, as whole ms from fromMs to toMs, both included
 * (samples are taken at whole ms): after (>), from (>=), before (<), until (<=); at most one of
 * after and from, and one of before and until.
 */
export function parseTimeRange(params: TimeParams): { fromMs: number; toMs: number } {
  const { after, from, before, until } = params;
  if (after !== undefined && from !== undefined) {
    throw new BadRequestError("after and from both given", {
      detail: "Give at most one lower bound on the time: after (>) or from (>=).",
    });
  }
  if (before !== undefined && until !== undefined) {
    throw new BadRequestError("before and until both given", {
      detail: "Give at most one upper bound on the time: before (<) or until (<=).",
    });
  }
  let fromMs = Number.NEGATIVE_INFINITY;
  let toMs = Number.POSITIVE_INFINITY;
  if (after !== undefined) fromMs = msOf(micros("after", after), "floor") + 1;
  if (from !== undefined) fromMs = msOf(micros("from", from), "ceil");
  if (before !== undefined) toMs = msOf(micros("before", before), "ceil") - 1;
  if (until !== undefined) toMs = msOf(micros("until", until), "floor");
  return { fromMs, toMs };
}
