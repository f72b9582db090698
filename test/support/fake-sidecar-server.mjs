// A scriptable stand-in for the sidecar: a raw HTTP/1.1 server on a Unix socket that answers every
// request with whatever bytes the test tells it to, so the FDW can be fed hostile responses.
//
// Run as the cluster's OS user (the FDW checks SO_PEERCRED):  node fake-sidecar-server.mjs SOCKET
// It writes SOCKET.secret (the FDW signs requests with it; the fake ignores the signature and every
// other header) and reads one JSON command per line on stdin:
//   {"seq": 1, "steps": [...], "routes": [["needle", [...]], ...]}
// Every later connection plays, once its request head has arrived, the steps of the first route whose
// needle the head contains, else "steps".
// Steps: {"write": base64} raw bytes; {"chunk": base64} one HTTP chunk; {"repeat": base64, "times": n}
// n chunks; {"sleep": ms}; {"mark": name} emit a mark event; {"hang": true} wait until the client closes; {"end": true} close (FIN);
// {"reset": true} close with RST. A script that does not end with hang, end or reset ends with end.
// Events go to stdout, one JSON object a line: listening, ack (of a seq), request (with the head),
// mark, closed (bytes written, whether the client closed first).
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

const socketPath = process.argv[2];
if (!socketPath) {
  process.stderr.write("usage: fake-sidecar-server.mjs SOCKET\n");
  process.exit(2);
}

let steps = [{ end: true }];
let routes = [];
let nextId = 1;

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes and waits for the kernel to take the bytes (backpressure); false once the socket is gone. */
function write(socket, bytes) {
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const ok = socket.write(bytes, (err) => {
      if (err) resolve(false);
    });
    if (ok) resolve(true);
    else {
      const done = () => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve(!socket.destroyed);
      };
      socket.on("drain", done);
      socket.on("close", done);
    }
  });
}

const chunk = (data) =>
  Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]);

async function play(socket, script, state, id) {
  for (const step of script) {
    if (state.clientClosed) return;
    if (step.write !== undefined) {
      const bytes = Buffer.from(step.write, "base64");
      if (!(await write(socket, bytes))) return;
      state.written += bytes.length;
    } else if (step.chunk !== undefined) {
      const bytes = chunk(Buffer.from(step.chunk, "base64"));
      if (!(await write(socket, bytes))) return;
      state.written += bytes.length;
    } else if (step.repeat !== undefined) {
      const bytes = chunk(Buffer.from(step.repeat, "base64"));
      for (let i = 0; i < step.times; i++) {
        if (!(await write(socket, bytes))) return;
        state.written += bytes.length;
      }
    } else if (step.mark !== undefined) {
      emit({ event: "mark", id, name: step.mark });
    } else if (step.sleep !== undefined) {
      await sleep(step.sleep);
    } else if (step.hang) {
      return;
    } else if (step.reset) {
      socket.resetAndDestroy();
      return;
    } else if (step.end) {
      socket.end();
      return;
    }
  }
  socket.end();
}

const server = createServer((socket) => {
  const id = nextId++;
  const state = { written: 0, clientClosed: false, started: false };
  let head = Buffer.alloc(0);
  socket.on("error", (err) => {
    // Writing to, or reading from, a connection the client has closed.
    if (err.code === "EPIPE" || err.code === "ECONNRESET") state.clientClosed = true;
  });
  socket.on("end", () => {
    state.clientClosed = true;
  });
  socket.on("close", () => {
    emit({ event: "closed", id, written: state.written, byClient: state.clientClosed });
  });
  socket.on("data", (data) => {
    if (state.started) return;
    head = Buffer.concat([head, data]);
    const end = head.indexOf("\r\n\r\n");
    if (end === -1) {
      if (head.length > 65536) socket.destroy();
      return;
    }
    state.started = true;
    const text = head.subarray(0, end).toString("latin1");
    const script = routes.find(([needle]) => text.includes(needle))?.[1] ?? steps;
    emit({ event: "request", id, head: text });
    play(socket, script, state, id).catch(() => socket.destroy());
  });
});

rmSync(socketPath, { force: true });
const secretPath = `${socketPath}.secret`;
rmSync(secretPath, { force: true });
writeFileSync(secretPath, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });

server.listen(socketPath, () => emit({ event: "listening" }));

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  steps = command.steps;
  routes = command.routes ?? [];
  emit({ event: "ack", seq: command.seq });
});
process.stdin.on("end", () => {
  server.close();
  rmSync(socketPath, { force: true });
  rmSync(secretPath, { force: true });
  process.exit(0);
});
