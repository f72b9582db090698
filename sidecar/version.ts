/** The sidecar's version: package.json's, found from here in the source tree and in dist/ alike. */
import { readFileSync } from "node:fs";

let cached: string | undefined;

export function sidecarVersion(): string {
  if (cached !== undefined) return cached;
  cached = "unknown";
  for (const up of ["../package.json", "../../package.json"]) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(up, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === "pg-meminfo" && typeof manifest.version === "string") {
        cached = manifest.version;
        break;
      }
    } catch {
      // not there: the next one up
    }
  }
  return cached;
}
