/** Prepares the private directory of the sidecar's socket and clears a stale socket file. */
import { lstat, mkdir, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { dirname } from "node:path";
import { lockSocket, type SocketLock } from "./socket-lock.js";

export class SocketDirError extends Error {
  readonly hint: string;

  constructor(message: string, hint: string) {
    super(message);
    this.name = "SocketDirError";
    this.hint = hint;
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Makes sure the socket's directory exists (created 0700), is a real directory owned by this user and
 * closed to group and others; the directory is what keeps other OS users away from the sidecar.
 */
export async function preparePrivateDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if (errno(err) !== "EEXIST") {
      throw new SocketDirError(
        `could not create socket directory "${dir}": ${(err as Error).message}`,
        "Run the sidecar as the operating system user that owns the cluster, or choose another path with --socket.",
      );
    }
  }
  const st = await lstat(dir);
  const uid = process.getuid?.() ?? st.uid;
  if (st.isSymbolicLink()) {
    throw new SocketDirError(
      `socket directory "${dir}" is a symbolic link`,
      "A link could send the socket somewhere other users reach; remove it and let the sidecar create the directory.",
    );
  }
  if (!st.isDirectory()) {
    throw new SocketDirError(
      `socket directory "${dir}" is not a directory`,
      "Remove it or choose another path with --socket.",
    );
  }
  if (st.uid !== uid) {
    throw new SocketDirError(
      `socket directory "${dir}" is owned by uid ${st.uid}, not by the sidecar's uid ${uid}`,
      "Run the sidecar as the operating system user that owns the cluster, or remove the directory.",
    );
  }
  if ((st.mode & 0o077) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
    throw new SocketDirError(
      `socket directory "${dir}" has mode ${mode}, so other users can reach the socket`,
      `Run: chmod 0700 '${dir}'`,
    );
  }
}

/** Resolves true when something accepts connections on the socket. */
function isListening(path: string): Promise<boolean> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ path });
    socket.setTimeout(2000);
    socket.once("connect", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once("error", (err) => {
      if (errno(err) === "ECONNREFUSED" || errno(err) === "ENOENT") resolvePromise(false);
      else reject(err);
    });
  });
}

/** Removes a socket file that nobody listens on; refuses when a sidecar is listening or the path is no socket. */
export async function clearStaleSocket(path: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (err) {
    if (errno(err) === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new SocketDirError(
      `"${path}" exists and is not a socket`,
      "Remove it or choose another path with --socket.",
    );
  }
  if (await isListening(path)) {
    throw new SocketDirError(
      `another sidecar is listening on "${path}"`,
      "Stop the other sidecar first; one cluster needs only one.",
    );
  }
  await unlink(path);
}

/**
 * Everything before listen: the private directory, the lock that keeps a second sidecar away from
 * the socket and the secret, then the stale socket. Returns the lock, to release after the rest.
 */
export async function prepareSocket(path: string): Promise<SocketLock> {
  await preparePrivateDirectory(dirname(path));
  const lock = await lockSocket(path);
  try {
    await clearStaleSocket(path);
  } catch (err) {
    await lock.release();
    throw err;
  }
  return lock;
}
