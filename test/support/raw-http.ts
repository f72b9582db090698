// Plain HTTP over a Unix socket, for tests that talk to the sidecar the way an attacker would.
import { request } from "node:http";
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET target on the socket with exactly these headers. */
export function get(
  socketPath: string,
  target: string,
  headers: Record<string, string>,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: target, headers: { ...headers, connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Writes bytes to the Unix socket (or the TCP port) and resolves with everything the peer sends back
 * before it closes or `timeoutMs` pass. With `end` false the connection stays open after the bytes.
 */
export function exchange(
  to: string | { port: number; host: string },
  bytes: string | Buffer,
  timeoutMs = 5_000,
  end = true,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = typeof to === "string" ? connect(to) : connect(to.port, to.host);
    let answer = "";
    socket.setEncoding("latin1");
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      resolve(answer);
    });
    socket.on("connect", () => (end ? socket.end(bytes) : socket.write(bytes)));
    socket.on("data", (chunk: string) => {
      answer += chunk;
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      // A peer that answers and closes at once may reset the rest of our write.
      if (err.code === "EPIPE" || err.code === "ECONNRESET") resolve(answer);
      else reject(err);
    });
  });
}

/** The status code of a raw HTTP answer ("HTTP/1.1 431 ..."), or 0. */
export function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
}
