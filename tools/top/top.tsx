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
