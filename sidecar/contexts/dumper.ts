import { setTimeout as sleep } from "node:timers/promises";
import { BackendExitedError, DumpTimeoutError, NotServerProcessError } from "../errors.js";
import { type ContextDump, DumpAssembler } from "./dump-parser.js";
import type { LogSink, PollResult } from "./log-follower.js";
import { createRecordReader, type LogDestination, type LogRecord, type RecordReader } from "./log-records.js";

/** What the dumper needs of a LogFollower. */
export interface Follower {
  poll(sink: LogSink, maxBytes?: number): Promise<PollResult>;
  close(): Promise<void>;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => sleep(ms),
};

/** Does the process still exist? (signal 0 sends nothing; EPERM means it exists under another user.) */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface DumperOptions {
  /** Ask `pid` to log its memory contexts: SELECT pg_log_backend_memory_contexts($1). */
  trigger: (pid: number) => Promise<boolean>;
  /** A follower positioned at the current end of the server log (LogFollower.start). */
  startFollower: () => Promise<Follower>;
  destination: LogDestination;
  /** log_line_prefix of the server, for stderr. */
  linePrefix?: string;
  /** Major version of the server (15, 16, ...): it decides how levels are numbered. */
  majorVersion: number;
  clock?: Clock;
  /** Pause between reads of the log while waiting (default 10 ms). */
  pollIntervalMs?: number;
  /** How long a process may be gone before its missing dump is an error (default 1000 ms). */
  exitGraceMs?: number;
  processExists?: (pid: number) => boolean;
  maxRecordBytes?: number;
}

export interface DumpOptions {
  timeoutMs: number;
}

/** Lines other than a record's own message, as the stderr format writes them (English labels). */
const AUXILIARY = new Set(["DETAIL", "HINT", "QUERY", "CONTEXT", "LOCATION", "STATEMENT", "BACKTRACE"]);

interface Waiter {
  assembler: DumpAssembler;
  resolve(dump: ContextDump): void;
  reject(error: unknown): void;
  goneSince?: number;
}

/**
 * Dumps the memory contexts of backends through the server log. For each pid: the log position is
 * taken before the trigger, then the dump is read from what gets appended. One dump per pid at a time:
 * a request for a pid already being dumped shares that dump. Dumps of several pids may interleave.
 */
export class ContextDumper {
  private readonly inflight = new Map<number, Promise<ContextDump>>();
  private readonly clock: Clock;

  constructor(private readonly options: DumperOptions) {
    this.clock = options.clock ?? systemClock;
    // Refuse a stderr prefix without %p now rather than at the first dump.
    this.newReader();
  }

  private newReader(): RecordReader {
    return createRecordReader(this.options.destination, {
      linePrefix: this.options.linePrefix,
      maxRecordBytes: this.options.maxRecordBytes,
    });
  }

  dump(pid: number, options: DumpOptions): Promise<ContextDump> {
    return this.dumpMany([pid], options)[0] as Promise<ContextDump>;
  }

  /** One promise per pid, in the order given; the pids not already being dumped share one log reading. */
  dumpMany(pids: readonly number[], options: DumpOptions): Promise<ContextDump>[] {
    const fresh = new Map<number, Waiter>();
    for (const pid of new Set(pids)) {
      if (this.inflight.has(pid)) continue;
      let waiter: Waiter | undefined;
      const promise = new Promise<ContextDump>((resolve, reject) => {
        waiter = { assembler: new DumpAssembler(pid, this.options.majorVersion), resolve, reject };
      });
      const forget = () => {
        if (this.inflight.get(pid) === promise) this.inflight.delete(pid);
      };
      promise.then(forget, forget);
      this.inflight.set(pid, promise);
      fresh.set(pid, waiter as Waiter);
    }
    if (fresh.size > 0) void this.session(fresh, options.timeoutMs);
    return pids.map((pid) => this.inflight.get(pid) as Promise<ContextDump>);
  }

  private async session(waiting: Map<number, Waiter>, timeoutMs: number): Promise<void> {
    const deadline = this.clock.now() + timeoutMs;
    const settle = (pid: number, outcome: { dump: ContextDump } | { error: unknown }) => {
      const waiter = waiting.get(pid);
      if (!waiter) return;
      waiting.delete(pid);
      if ("dump" in outcome) waiter.resolve(outcome.dump);
      else waiter.reject(outcome.error);
    };
    let follower: Follower | undefined;
    try {
      // The position comes first: whatever the target logs after its trigger lies beyond it.
      follower = await this.options.startFollower();
      for (const pid of [...waiting.keys()]) {
        try {
          if (!(await this.options.trigger(pid))) {
            settle(pid, {
              error: new NotServerProcessError(`PID ${pid} is not a PostgreSQL server process`, {
                detail: "pg_log_backend_memory_contexts() returned false.",
                hint: "Take the pid of a live backend from pg_stat_activity.",
              }),
            });
          }
        } catch (error) {
          settle(pid, { error });
        }
      }
      await this.follow(follower, waiting, settle, deadline, timeoutMs);
    } catch (error) {
      for (const pid of [...waiting.keys()]) settle(pid, { error });
    } finally {
      await follower?.close().catch(() => undefined);
    }
  }

  private async follow(
    follower: Follower,
    waiting: Map<number, Waiter>,
    settle: (pid: number, outcome: { dump: ContextDump } | { error: unknown }) => void,
    deadline: number,
    timeoutMs: number,
  ): Promise<void> {
    let reader = this.newReader();
    const route = (records: LogRecord[]) => {
      for (const record of records) {
        const waiter = waiting.get(record.pid);
        if (!waiter || AUXILIARY.has(record.severity)) continue;
        try {
          const dump = waiter.assembler.addMessage(record.message);
          if (dump) settle(record.pid, { dump });
        } catch (error) {
          settle(record.pid, { error });
        }
      }
    };
    const sink: LogSink = {
      data: (chunk) => route(reader.push(chunk)),
      fileEnded: () => {
        route(reader.end());
        reader = this.newReader();
      },
    };
    const exists = this.options.processExists ?? processExists;
    const grace = this.options.exitGraceMs ?? 1000;
    while (waiting.size > 0) {
      // Look for exits before reading: a dump written just before the exit is then still read.
      const now = this.clock.now();
      for (const [pid, waiter] of waiting) {
        if (waiter.goneSince === undefined && !exists(pid)) waiter.goneSince = now;
      }
      const result = await follower.poll(sink);
      if (!result.atEnd && this.clock.now() < deadline) continue;
      route(reader.flush());
      const after = this.clock.now();
      for (const [pid, waiter] of waiting) {
        if (waiter.goneSince !== undefined && after - waiter.goneSince >= grace) {
          settle(pid, { error: exited(pid, waiter.assembler.started) });
        }
      }
      if (waiting.size === 0) break;
      if (after >= deadline) {
        for (const [pid, waiter] of waiting)
          settle(pid, { error: timedOut(pid, timeoutMs, waiter.assembler.started) });
        break;
      }
      await this.clock.sleep(Math.min(this.options.pollIntervalMs ?? 10, deadline - after));
    }
  }
}

function timedOut(pid: number, timeoutMs: number, begun: boolean): DumpTimeoutError {
  return new DumpTimeoutError(`memory context dump of PID ${pid} did not complete within ${timeoutMs} ms`, {
    detail: begun
      ? "Its dump began in the server log but its Grand total line did not follow."
      : "Nothing of its dump appeared in the server log.",
    hint:
      "The backend may be holding off interrupts (a long computation that does not check for them, or a wait " +
      "that cannot be interrupted) or may have exited; try again, or allow a longer timeout.",
  });
}

function exited(pid: number, begun: boolean): BackendExitedError {
  return new BackendExitedError(
    `PID ${pid} exited before it logged ${begun ? "all of " : ""}its memory contexts`,
    {
      detail: begun
        ? "Its dump stopped before the Grand total line."
        : "No dump of it appeared in the server log.",
      hint: "The backend may have exited or been terminated; take the pid of a live backend from pg_stat_activity.",
    },
  );
}
