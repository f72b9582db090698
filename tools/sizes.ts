/** Byte counts as people read them, the way pg_size_pretty() writes them: "2416 kB", "164 MB". */

/**
 * pg_size_pretty()'s rule: the next unit once the number reaches 10240 of the current one, rounded half
 * up. Self-contained: the HTML report runs its source in the browser too.
 */
export function formatBytes(bytes: number | null | undefined): string {
  const UNITS = ["bytes", "kB", "MB", "GB", "TB", "PB"];
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "n/a";
  const sign = bytes < 0 ? "-" : "";
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 10 * 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${sign}${Math.round(value)} ${UNITS[unit]}`;
}

/** A rate of change per minute: "+1200 kB/min", "-3 MB/min", "0 bytes/min". */
export function formatRate(bytesPerMinute: number | null | undefined): string {
  if (bytesPerMinute === null || bytesPerMinute === undefined || !Number.isFinite(bytesPerMinute))
    return "n/a";
  return `${bytesPerMinute > 0 ? "+" : ""}${formatBytes(bytesPerMinute)}/min`;
}
