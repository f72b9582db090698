import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createRecordReader,
  type LogDestination,
  type LogRecord,
} from "../../../sidecar/contexts/log-records.js";

const DIR = fileURLToPath(new URL("../../fixtures/contexts/", import.meta.url));

export function fixture(name: string): Buffer {
  return readFileSync(join(DIR, name));
}

export const DESTINATIONS: { ext: string; destination: LogDestination }[] = [
  { ext: "log", destination: "stderr" },
  { ext: "csv", destination: "csvlog" },
  { ext: "json", destination: "jsonlog" },
];

/** Every record of a file, read in one chunk or in chunks of `chunkBytes`. */
export function recordsOf(
  data: Buffer,
  destination: LogDestination,
  linePrefix = "%m [%p] ",
  chunkBytes = data.length,
): LogRecord[] {
  const reader = createRecordReader(destination, { linePrefix });
  const out: LogRecord[] = [];
  for (let i = 0; i < data.length; i += chunkBytes)
    out.push(...reader.push(data.subarray(i, i + chunkBytes)));
  out.push(...reader.end());
  return out;
}

/** The pids of the real PostgreSQL 15 capture. */
export const PG15 = { bigVariable: 11384, prepared: 11383, caller: 11956 };
