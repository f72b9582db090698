/** A thread of the read pool (read-pool.ts): runs the tasks the main thread sends (read-task.ts). */
import { parentPort } from "node:worker_threads";
import { SidecarError } from "../errors.js";
import type { TaskError, TaskReply } from "./read-pool.js";
import { type ReadTask, TaskRunner } from "./read-task.js";

const runner = new TaskRunner();

parentPort?.on("message", (message: { id: number; task: ReadTask }) => {
  let reply: TaskReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const data = runner.run(message.task).buffer as ArrayBuffer;
    transfer.push(data);
    reply = { id: message.id, data };
  } catch (err) {
    reply = { id: message.id, error: taskError(err) };
  }
  parentPort?.postMessage(reply, transfer);
});

function taskError(err: unknown): TaskError {
  if (err instanceof SidecarError)
    return { code: err.code, message: err.message, detail: err.detail, hint: err.hint };
  return { code: "INTERNAL", message: (err as Error)?.message ?? String(err) };
}
