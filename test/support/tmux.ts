/** A real terminal for terminal programs: a tmux server of its own, a session to type into and read. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { run, runChecked } from "../../harness/run-as.js";

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

export class TmuxSession {
  private constructor(
    /** The private server's socket (tmux -S), in a directory of its own that kill() removes. */
    readonly server: string,
    readonly name: string,
  ) {}

  /**
   * Runs `command` (argv) in a detached session of `columns` x `rows`; when it exits, the shell around
   * it prints "exit status N" and the pane stays.
   */
  static async start(
    command: string[],
    options: { columns?: number; rows?: number; env?: Record<string, string> } = {},
  ): Promise<TmuxSession> {
    const dir = await mkdtemp(join(tmpdir(), "pg-meminfo-tmux-"));
    const session = new TmuxSession(join(dir, "socket"), "t");
    const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await session.tmux(
      "new-session",
      "-d",
      "-s",
      session.name,
      "-x",
      String(options.columns ?? 160),
      "-y",
      String(options.rows ?? 40),
      ...env,
      ";",
      "respawn-pane",
      "-k",
      "-t",
      session.name,
      "sh",
      "-c",
      `${command.map(quote).join(" ")}; echo "exit status $?"; exec sleep 600`,
    );
    return session;
  }

  private tmux(...args: string[]) {
    return runChecked("tmux", ["-S", this.server, ...args], { timeoutMs: 10_000 });
  }

  /** The visible screen, one string per line. */
  async screen(): Promise<string> {
    return (await this.tmux("capture-pane", "-p", "-t", this.name)).stdout;
  }

  /** Keys as tmux names them: "p", "Enter", "Escape", "Down". */
  async send(...keys: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", this.name, ...keys);
  }

  /** Waits until the screen satisfies `test`; throws with the last screen after `timeoutMs`. */
  async waitFor(test: (screen: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = await this.screen();
      if (test(screen)) return screen;
      await sleep(200);
    }
    throw new Error(`the terminal did not show ${what} within ${timeoutMs} ms; it shows:\n${screen}`);
  }

  /** Waits until the program has exited; its exit status, which the shell around it prints. */
  async waitExit(timeoutMs = 10_000): Promise<number> {
    const screen = await this.waitFor((s) => /^exit status \d+$/m.test(s), "the program's exit", timeoutMs);
    return Number(/^exit status (\d+)$/m.exec(screen)?.[1]);
  }

  async kill(): Promise<void> {
    await run("tmux", ["-S", this.server, "kill-server"], { timeoutMs: 10_000 });
    await rm(dirname(this.server), { recursive: true, force: true });
  }
}
