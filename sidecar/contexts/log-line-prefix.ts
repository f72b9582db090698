import { LogFormatError } from "../errors.js";

/**
 * A matcher for the stderr lines of a server, built from its log_line_prefix: it finds where a record
 * starts, which process wrote it (`%p`), its severity and its message.
 */
export interface LinePrefixMatcher {
  /** The log_line_prefix it was built from. */
  readonly prefix: string;
  /** pid, severity and first message line of a record's first line, or undefined for any other line. */
  match(line: string): { pid: number; severity: string; message: string } | undefined;
}

const TIMESTAMP = String.raw`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`;
const ANY = ".*?";

/** What each escape of log_line_prefix prints (elog.c, log_line_prefix()), as a regular expression. */
const ESCAPES: Record<string, string> = {
  a: ANY, // application name
  u: ANY, // user name
  d: ANY, // database name
  r: ANY, // remote host and port
  h: ANY, // remote host
  b: ANY, // backend type
  i: ANY, // command tag
  v: ANY, // virtual transaction id ("3/4", or empty)
  p: String.raw`\d+`,
  P: String.raw`\d*`, // parallel group leader, empty when none
  t: `${TIMESTAMP} \\S+`,
  m: `${TIMESTAMP}\\.\\d{3} \\S+`,
  n: String.raw`\d+\.\d{3}`,
  s: `${TIMESTAMP} \\S+`,
  e: "[0-9A-Z]{5}",
  c: "[0-9a-f]+\\.[0-9a-f]+",
  l: String.raw`\d+`,
  x: String.raw`\d+`,
  Q: String.raw`-?\d+`,
  L: ANY, // local address (PostgreSQL 18)
};

function escapeLiteral(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * Build the matcher of a log_line_prefix. Refuses a prefix without `%p`: without it no line of a stderr
 * log says which backend wrote it.
 */
export function compileLinePrefix(prefix: string): LinePrefixMatcher {
  let pattern = "";
  let optionalFrom = -1;
  let sawPid = false;
  for (let i = 0; i < prefix.length; i++) {
    const ch = prefix[i] as string;
    if (ch !== "%") {
      pattern += escapeLiteral(ch);
      continue;
    }
    // %[-]digits pads the value with spaces (on the right when negative, on the left otherwise).
    const padding = /^-?\d+/.exec(prefix.slice(i + 1));
    if (padding) i += padding[0].length;
    const letter = prefix[i + 1];
    i++;
    if (letter === undefined) break;
    if (letter === "%") {
      pattern += "%";
      continue;
    }
    if (letter === "q") {
      // Non-session processes stop printing the prefix here.
      if (optionalFrom < 0) optionalFrom = pattern.length;
      continue;
    }
    let value = ESCAPES[letter];
    if (value === undefined) continue; // unknown escapes print nothing
    if (letter === "p" && !sawPid) {
      value = `(?<pid>${value})`;
      sawPid = true;
    }
    pattern += padding ? ` *${value} *` : value;
  }
  if (!sawPid) {
    throw new LogFormatError(
      `log_line_prefix '${prefix}' has no %p: stderr log lines do not say which process wrote them`,
      {
        hint: "Add %p to log_line_prefix (for example log_line_prefix = '%m [%p] '), or log to csvlog or jsonlog, which always carry the process ID.",
      },
    );
  }
  if (optionalFrom >= 0) pattern = `${pattern.slice(0, optionalFrom)}(?:${pattern.slice(optionalFrom)})?`;
  const regex = new RegExp(`^${pattern}(?<severity>[^\\s:]+):  (?<message>.*)$`, "s");
  return {
    prefix,
    match(line: string) {
      const groups = regex.exec(line)?.groups;
      // A pid after %q is not printed by non-session processes: such lines cannot be attributed.
      if (!groups || groups.pid === undefined) return undefined;
      return {
        pid: Number(groups.pid),
        severity: groups.severity as string,
        message: groups.message as string,
      };
    },
  };
}
