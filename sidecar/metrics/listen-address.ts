/** The address of the metrics listener: `HOST:PORT`, `[IPv6]:PORT`, or a port alone for 127.0.0.1. */
import { isIP } from "node:net";

export interface ListenAddress {
  host: string;
  port: number;
}

/** Where a port given alone listens: the metrics are public to whoever reaches the port. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/** A host name: letters, digits, dots and hyphens (what getaddrinfo resolves; no spaces, no scheme). */
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/**
 * Parses `--metrics-listen`. Throws an Error whose message says what is wrong and what is accepted.
 */
export function parseListenAddress(text: string): ListenAddress {
  const value = text.trim();
  if (/[/\s]/.test(value)) throw new Error(`"${text}" is not HOST:PORT: no scheme, path or spaces`);
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(value);
  let host: string;
  let portText: string;
  if (bracketed) {
    host = bracketed[1] ?? "";
    portText = bracketed[2] ?? "";
    if (isIP(host) !== 6) throw new Error(`"${host}" in brackets is not an IPv6 address`);
  } else if (/^[0-9]+$/.test(value)) {
    host = DEFAULT_METRICS_HOST;
    portText = value;
  } else {
    const colon = value.lastIndexOf(":");
    if (colon < 0) throw new Error(`"${text}" has no port: give HOST:PORT, [IPv6]:PORT or PORT`);
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
    if (host.includes(":")) throw new Error(`write an IPv6 address in brackets: [${host}]:${portText}`);
    if (isIP(host) === 0 && !HOST_NAME.test(host)) throw new Error(`"${host}" is not a host name or address`);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw new Error(`port "${portText}" is not a number from 1 to 65535`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new Error(`port ${port} is not from 1 to 65535`);
  return { host, port };
}

/** The address as a URL's authority: IPv6 in brackets. */
export function formatListenAddress({ host, port }: ListenAddress): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
