import { readlinkSync } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { LogUnreadableError } from "../errors.js";

export interface LogFollowerOptions {
  /**
   * The file the server logs to now, as an absolute path (for example pg_current_logfile(format)
   * resolved against data_directory); null when it logs to no such file.
   */
  currentPath: () => Promise<string | null>;
  /** Bytes read at a time, the one buffer the follower holds (default 64 KiB). */
  chunkBytes?: number;
}

/** Receives what was appended, file by file. */
export interface LogSink {
  data(chunk: Buffer): void;
  /** The file ended (rotation, or truncation in place): what follows starts a new file. */
  fileEnded(path: string): void;
}

export interface PollResult {
  bytes: number;
  /** Everything appended so far has been read (no more than maxBytes were left). */
  atEnd: boolean;
}

const DEFAULT_CHUNK_BYTES = 64 * 1024;

/**
 * A log path as the server names it: the sidecar reads the server's files through its /proc entries
 * (/proc/PID/cwd/log/..., /proc/PID/root/var/log/...), which a user would not recognise.
 */
export function shownPath(path: string): string {
  const through = /^\/proc\/([0-9]+)\/(cwd|root)(\/.*)?$/.exec(path);
  if (through === null) return path;
  const rest = through[3] ?? "";
  if (through[2] === "root") return rest || "/";
  try {
    return `${readlinkSync(`/proc/${through[1]}/cwd`)}${rest}`;
  } catch {
    return path;
  }
}

/** The error to report for a failed open or read of the server log. */
export function logReadError(read: string, error: unknown): LogUnreadableError {
  const path = shownPath(read);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EACCES" || code === "EPERM") {
    return new LogUnreadableError(`cannot read the server log "${path}": permission denied`, {
      cause: error,
      detail: `The sidecar runs as OS user ${process.getuid?.() ?? "?"}; the log belongs to the server's OS user.`,
      hint:
        "Set log_file_mode = 0640 (it applies to log files created afterwards: run SELECT pg_rotate_logfile()) and " +
        "put the sidecar's OS user in the group of the server's log files, or give the sidecar a log file it can read.",
    });
  }
  if (code === "ENOENT") {
    return new LogUnreadableError(`the server log "${path}" does not exist on the sidecar's host`, {
      cause: error,
      hint:
        "The sidecar must run on the server's host and see its data directory; with logging_collector = on, " +
        "pg_current_logfile() names the file relative to data_directory.",
    });
  }
  return new LogUnreadableError(`cannot read the server log "${path}": ${(error as Error).message}`, {
    cause: error,
  });
}

/**
 * Reads only what is appended to the server log after the moment it starts: it opens the current file,
 * takes its size as the starting offset and from then reads forward from its offset, never re-reading.
 * At the end of the data it asks for the current file; when the server has moved to another one
 * (rotation), it finishes the old file to its end, then continues at offset 0 of the new one.
 */
export class LogFollower {
  private readonly buffer: Buffer;

  private constructor(
    private readonly options: LogFollowerOptions,
    private file: string,
    private handle: FileHandle,
    private inode: number,
    private position: number,
  ) {
    this.buffer = Buffer.alloc(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  }

  /** Follow from the current end of the current log file. */
  static async start(options: LogFollowerOptions): Promise<LogFollower> {
    const path = await LogFollower.current(options);
    const { handle, inode, size } = await LogFollower.openFile(path);
    return new LogFollower(options, path, handle, inode, size);
  }

  /** Follow a given file from a given offset (a recorded position). */
  static async resume(options: LogFollowerOptions, path: string, offset: number): Promise<LogFollower> {
    const { handle, inode } = await LogFollower.openFile(path);
    return new LogFollower(options, path, handle, inode, offset);
  }

  get path(): string {
    return this.file;
  }

  get offset(): number {
    return this.position;
  }

  private static async current(options: LogFollowerOptions): Promise<string> {
    const path = await options.currentPath();
    if (path === null) {
      throw new LogUnreadableError("the server is not logging to a file of this format", {
        hint:
          "Set logging_collector = on and name the format in log_destination (stderr, csvlog or jsonlog), " +
          "or give the sidecar the log file to read.",
      });
    }
    return path;
  }

  private static async openFile(path: string): Promise<{ handle: FileHandle; inode: number; size: number }> {
    let handle: FileHandle;
    try {
      handle = await open(path, "r");
    } catch (error) {
      throw logReadError(path, error);
    }
    try {
      const info = await handle.stat();
      return { handle, inode: info.ino, size: info.size };
    } catch (error) {
      await handle.close();
      throw logReadError(path, error);
    }
  }

  /** Read to the end of the current file into the sink. */
  private async drain(sink: LogSink, budget: number): Promise<number> {
    let total = 0;
    while (total < budget) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.handle.read(this.buffer, 0, this.buffer.length, this.position));
      } catch (error) {
        throw logReadError(this.file, error);
      }
      if (bytesRead === 0) break;
      this.position += bytesRead;
      total += bytesRead;
      sink.data(this.buffer.subarray(0, bytesRead));
    }
    return total;
  }

  /** Has the server moved to another file (or replaced or truncated this one)? */
  private async moved(): Promise<{ path: string; truncated: boolean } | undefined> {
    const size = (await this.handle.stat()).size;
    if (size < this.position) return { path: this.file, truncated: true };
    const path = await LogFollower.current(this.options);
    if (path !== this.file) return { path, truncated: false };
    try {
      // Same name, another file (log_truncate_on_rotation may reuse a name).
      if ((await stat(path)).ino !== this.inode) return { path, truncated: false };
    } catch {
      // Gone for now: keep reading the open file.
    }
    return undefined;
  }

  /**
   * Read what was appended since the last poll, at most about maxBytes (a chunk more at most), following
   * rotations. Data goes to the sink as it is read: the follower keeps nothing.
   */
  async poll(sink: LogSink, maxBytes = 8 * 1024 * 1024): Promise<PollResult> {
    let bytes = 0;
    for (;;) {
      bytes += await this.drain(sink, maxBytes - bytes);
      if (bytes >= maxBytes) return { bytes, atEnd: false };
      const next = await this.moved();
      if (!next) return { bytes, atEnd: true };
      if (next.truncated) {
        sink.fileEnded(this.file);
        this.position = 0;
        continue;
      }
      // The old file no longer grows once the server names another: read its last bytes, then move on.
      bytes += await this.drain(sink, Number.MAX_SAFE_INTEGER);
      sink.fileEnded(this.file);
      const opened = await LogFollower.openFile(next.path);
      await this.handle.close();
      this.file = next.path;
      this.handle = opened.handle;
      this.inode = opened.inode;
      this.position = 0;
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
