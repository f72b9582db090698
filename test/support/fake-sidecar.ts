/**
 * Drives fake-sidecar-server.mjs: a stand-in sidecar, running as the cluster's OS user, that answers the
 * FDW with whatever bytes a test scripts, so the FDW can be fed cut, malformed and hostile responses.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { asClusterUser } from "../../harness/run-as.js";
import { privateDir } from "./private-dir.js";

const SCRIPT = fileURLToPath(new URL("./fake-sidecar-server.mjs", import.meta.url));

/** One step of what the fake does with a connection once the request head has arrived. */
export type Step =
  | { write: Buffer | string }
  | { chunk: Buffer | string }
  | { repeat: Buffer | string; times: number }
  | { sleep: number }
  | { mark: string }
  | { hang: true }
  | { end: true }
  | { reset: true };

export type FakeEvent =
  | { event: "listening" }
  | { event: "ack"; seq: number }
  | { event: "request"; id: number; head: string }
  | { event: "mark"; id: number; name: string }
  | { event: "closed"; id: number; written: number; byClient: boolean };

const b64 = (data: Buffer | string) => Buffer.from(data).toString("base64");

function encode(step: Step): Record<string, unknown> {
  if ("write" in step) return { write: b64(step.write) };
  if ("chunk" in step) return { chunk: b64(step.chunk) };
  if ("repeat" in step) return { repeat: b64(step.repeat), times: step.times };
  return step;
}

/** The head of a 200 chunked COPY response. */
export const OK_HEAD =
  "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n";

/** A whole successful response: the head, the body in chunks of chunkSize, the terminating chunk. */
export function okResponse(body: Buffer | string, chunkSize = 64): Buffer {
  const data = Buffer.from(body);
  const parts: Buffer[] = [Buffer.from(OK_HEAD)];
  for (let at = 0; at < data.length; at += chunkSize) {
    const piece = data.subarray(at, at + chunkSize);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

/** An error response as the real sidecar sends it: a JSON report (or any bytes) with a length. */
export function errorResponse(status: number, body: object | Buffer): Buffer {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const head =
    `HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${data.length}\r\n` +
    "Connection: close\r\n\r\n";
  return Buffer.concat([Buffer.from(head), data]);
}

export class FakeSidecar {
  readonly events: FakeEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private seq = 0;
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly dir: string,
    readonly socketPath: string,
  ) {
    createInterface({ input: child.stdout ?? process.stdin }).on("line", (line) => {
      this.events.push(JSON.parse(line) as FakeEvent);
      for (const wake of this.waiters) wake();
    });
    child.on("exit", () => {
      this.exited = true;
      for (const wake of this.waiters) wake();
    });
  }

  /** Starts a fake on a fresh private directory owned by the cluster's OS user. */
  static async start(): Promise<FakeSidecar> {
    const dir = await privateDir("pg-meminfo-fake-");
    const socketPath = join(dir, "fake.sock");
    const [command, args] = asClusterUser(process.execPath, [SCRIPT, socketPath]);
    const child = spawn(command, args, { cwd: "/", stdio: ["pipe", "pipe", "inherit"] });
    const fake = new FakeSidecar(child, dir, socketPath);
    await fake.waitFor((e) => e.event === "listening", 20_000);
    return fake;
  }

  /** Pid of the spawned process (runuser when running as root). */
  get wrapperPid(): number | undefined {
    return this.child.pid;
  }

  /** Pid of the node process of the fake (not of the runuser wrapper). */
  get pid(): number | undefined {
    const wrapper = this.child.pid;
    if (wrapper === undefined) return undefined;
    try {
      const children = readFileSync(`/proc/${wrapper}/task/${wrapper}/children`, "utf8").trim();
      const first = Number.parseInt(children.split(/\s+/)[0] ?? "", 10);
      return Number.isInteger(first) ? first : wrapper;
    } catch {
      return wrapper;
    }
  }

  /**
   * Sets what every later connection gets: the steps of the first route whose needle its request head
   * contains, else `steps`. Resolves once the fake has taken it.
   */
  async script(steps: Step[], routes: [string, Step[]][] = []): Promise<void> {
    const seq = ++this.seq;
    const encoded = routes.map(([needle, route]) => [needle, route.map(encode)]);
    this.child.stdin?.write(`${JSON.stringify({ seq, steps: steps.map(encode), routes: encoded })}\n`);
    await this.waitFor((e) => e.event === "ack" && e.seq === seq, 10_000);
  }

  /** Shorthand: every later connection gets exactly these bytes, then the fake closes. */
  respond(bytes: Buffer | string): Promise<void> {
    return this.script([{ write: bytes }, { end: true }]);
  }

  /** Resolves with the first event (from index `from` on) that matches. */
  async waitFor<E = FakeEvent>(match: (e: FakeEvent) => boolean, timeoutMs = 10_000, from = 0): Promise<E> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found as unknown as E;
      if (this.exited) throw new Error("the fake sidecar exited");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the fake sidecar sent no matching event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.waiters;
        waiters.add(done);
      });
    }
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise((resolve) => this.child.once("exit", resolve));
      this.child.stdin?.end();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (!this.exited) this.child.kill("SIGKILL");
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
