/** A thread of the read pool (read-pool.ts): reads and parses the batches the main thread sends. */
import { parentPort } from "node:worker_threads";
import { SidecarError } from "../errors.js";
import type { Column } from "../proc/columns.js";
import { BatchReader } from "./batch-reader.js";
import type { ReadTask, TaskReply } from "./read-pool.js";

const reader = new BatchReader();
const plans = new Map<string, readonly Column[]>();

/** The same array for the same column list, so the parser's compiled plan is reused. */
function columnsOf(task: ReadTask): readonly Column[] {
  const key = `${task.kind}:${task.columns.map((c) => c.name).join(",")}`;
  let columns = plans.get(key);
  if (columns === undefined) {
    columns = task.columns;
    plans.set(key, columns);
  }
  return columns;
}

parentPort?.on("message", (task: ReadTask) => {
  let reply: TaskReply;
  const transfer: ArrayBuffer[] = [];
  try {
    const rows = reader.read(task.kind, task.pids, columnsOf(task), {
      procRoot: task.procRoot,
      pageSize: task.pageSize,
      startLimits: task.startLimits === undefined ? undefined : new Map(task.startLimits),
    });
    const data = rows.buffer as ArrayBuffer;
    transfer.push(data);
    reply = { id: task.id, data };
  } catch (err) {
    const e = err as Error;
    reply = {
      id: task.id,
      error:
        err instanceof SidecarError
          ? { code: err.code, message: err.message, detail: err.detail, hint: err.hint }
          : { code: "INTERNAL", message: e.message ?? String(err) },
    };
  }
  parentPort?.postMessage(reply, transfer);
});
