/** libpq connection strings for pg: URIs pass through; "key=value" strings are parsed here (pg reads only URIs). */
import type { PoolConfig } from "pg";

const KEYS: Record<string, keyof PoolConfig> = {
  host: "host",
  hostaddr: "host",
  port: "port",
  user: "user",
  dbname: "database",
  password: "password",
  application_name: "application_name",
  connect_timeout: "connectionTimeoutMillis",
  options: "options",
};

/** Splits "key=value key='quoted \' value'" into pairs, as libpq does. */
export function parseKeyValue(conninfo: string): Map<string, string> {
  const pairs = new Map<string, string>();
  let i = 0;
  const n = conninfo.length;
  const space = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
  while (i < n) {
    while (i < n && space(conninfo[i])) i++;
    if (i >= n) break;
    let key = "";
    while (i < n && conninfo[i] !== "=" && !space(conninfo[i])) key += conninfo[i++];
    while (i < n && space(conninfo[i])) i++;
    if (conninfo[i] !== "=") throw new Error(`missing "=" after "${key}" in connection info string`);
    i++;
    while (i < n && space(conninfo[i])) i++;
    let value = "";
    if (conninfo[i] === "'") {
      i++;
      while (i < n && conninfo[i] !== "'") {
        if (conninfo[i] === "\\" && i + 1 < n) i++;
        value += conninfo[i++];
      }
      if (i >= n) throw new Error("unterminated quoted string in connection info string");
      i++;
    } else {
      while (i < n && !space(conninfo[i])) {
        if (conninfo[i] === "\\" && i + 1 < n) i++;
        value += conninfo[i++];
      }
    }
    pairs.set(key, value);
  }
  return pairs;
}

/** Pool settings for a conninfo; undefined conninfo leaves everything to pg's PG* environment defaults. */
export function poolConfig(conninfo: string | undefined): PoolConfig {
  if (conninfo === undefined || conninfo === "") return {};
  if (/^postgres(ql)?:\/\//.test(conninfo)) return { connectionString: conninfo };
  const config: Record<string, unknown> = {};
  for (const [key, value] of parseKeyValue(conninfo)) {
    const name = KEYS[key];
    if (name === undefined) throw new Error(`unsupported connection option "${key}"`);
    if (name === "port") config.port = Number(value);
    else if (name === "connectionTimeoutMillis") config.connectionTimeoutMillis = Number(value) * 1000;
    else config[name] = value;
  }
  return config as PoolConfig;
}

/**
 * Whether a connection string carries a password: a password key, or a URI's user:password@ or
 * ?password=. A command line is readable by every local user (ps), so the sidecar refuses one.
 */
export function passwordIn(conninfo: string | undefined): boolean {
  if (conninfo === undefined || conninfo === "") return false;
  if (/^postgres(ql)?:\/\//.test(conninfo)) {
    try {
      const uri = new URL(conninfo);
      return uri.password !== "" || uri.searchParams.has("password");
    } catch {
      // pg parses what URL cannot (several hosts): look for the parts themselves.
      return /^[^/]*\/\/[^/@]*:[^/@]*@/.test(conninfo) || /[?&]password=/.test(conninfo);
    }
  }
  try {
    return parseKeyValue(conninfo).has("password");
  } catch {
    return /(^|\s)password\s*=/.test(conninfo);
  }
}
