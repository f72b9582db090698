/** pg-meminfo report: one self-contained HTML file with the cluster's memory now and over its history. */
import { rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { clientConfig } from "../connection.js";
import { readReport } from "./data.js";
import { reportHtml } from "./html.js";

export interface ReportFlags {
  html: string;
  contextSeconds: number;
}

export async function runReport(conninfo: string | undefined, flags: ReportFlags): Promise<void> {
  const data = await readReport(clientConfig(conninfo, "pg-meminfo report"), {
    contextSeconds: flags.contextSeconds,
  });
  const path = resolve(flags.html);
  const partial = `${path}.partial`;
  const html = reportHtml(data);
  await writeFile(partial, html);
  await rename(partial, path);
  process.stdout.write(`pg-meminfo: wrote ${path} (${Math.round(Buffer.byteLength(html) / 1024)} kB)\n`);
}
