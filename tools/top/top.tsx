/** pg-meminfo top: the terminal view, or with --once one screen printed as text. */
import ansiEscapes from "ansi-escapes";
import { render } from "ink";
import { clientConfig, describeTarget } from "../connection.js";
import { TopApp } from "./app.js";
import { type SortKey, screenLines } from "./screen.js";
import { SnapshotSource } from "./snapshot.js";

export interface TopFlags {
  interval: number;
  once?: boolean;
  sort: SortKey;
}

export const TOP_HELP = `
One line per process of the cluster, biggest memory of its own first (OWN: USS, what the kernel frees
when the process exits), with PSS (its share of every page it maps), SHBUF (its resident part of
shared_buffers), GROWTH (own memory per minute over the history window, from memory_growth; ▲ marks
steady growth; n/a where the extension has no history), state, query start, backend type and
application name. The header has the cluster's total PSS and own memory, shared memory, the memory
limit and headroom, and how the sidecar answered.

Keys: o, p, g sort by own memory, PSS, growth; up and down (or j, k) select a process; enter shows its
memory by kind and its largest memory contexts (reading them makes it write a memory-context dump to
the server log; c reads them again); esc goes back; q quits.

When the server restarts or the sidecar is away, top shows the error and the last rows it read, and
tries again at every refresh. It is an SQL client (a connection string or the PG* environment) and
reads the extension's views only.

Examples:
  pg-meminfo top "host=/var/run/postgresql port=5432 dbname=postgres"
  pg-meminfo top --once --sort pss | head -20`;

export async function runTop(conninfo: string | undefined, flags: TopFlags): Promise<void> {
  const config = clientConfig(conninfo, "pg-meminfo top");
  const source = new SnapshotSource(config);
  const target = describeTarget(config);
  const options = { sort: flags.sort, intervalSeconds: flags.interval, target };
  if (flags.once || !process.stdout.isTTY || !process.stdin.isTTY) {
    try {
      const snapshot = await source.read();
      process.stdout.write(`${screenLines(snapshot, options).join("\n")}\n`);
      if (snapshot.serverError || (snapshot.sidecar && "error" in snapshot.sidecar)) process.exitCode = 1;
    } finally {
      await source.close();
    }
    return;
  }
  process.stdout.write(ansiEscapes.enterAlternativeScreen);
  try {
    const app = render(
      <TopApp source={source} intervalMs={flags.interval * 1000} target={target} initialSort={flags.sort} />,
      { exitOnCtrlC: true, patchConsole: false },
    );
    await app.waitUntilExit();
  } finally {
    process.stdout.write(ansiEscapes.exitAlternativeScreen);
    await source.close();
  }
}
