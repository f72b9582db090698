/**
 * Errors of the memory-context library; each knows a stable code, an HTTP status and a SQLSTATE, in the
 * style of sidecar/lib/errors.ts, so a route can turn one into a protocol error body (code, sqlstate,
 * message, detail, hint) as it does a SidecarError.
 */

export interface ContextsErrorText {
  detail?: string;
  hint?: string;
  cause?: unknown;
}

export class ContextsError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly sqlstate: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;

  constructor(
    code: string,
    statusCode: number,
    sqlstate: string,
    message: string,
    text: ContextsErrorText = {},
  ) {
    super(message, text.cause === undefined ? undefined : { cause: text.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    this.sqlstate = sqlstate;
    this.detail = text.detail;
    this.hint = text.hint;
  }
}

/** The server's log settings do not let the sidecar tell which process wrote a line. */
export class LogFormatError extends ContextsError {
  constructor(message: string, text?: ContextsErrorText) {
    super("LOG_FORMAT", 500, "22023", message, text);
  }
}

/** The server log cannot be opened or read by the sidecar's OS user. */
export class LogUnreadableError extends ContextsError {
  constructor(message: string, text?: ContextsErrorText) {
    super("LOG_UNREADABLE", 500, "58030", message, text);
  }
}

/** pg_log_backend_memory_contexts() returned false: not a PostgreSQL server process. */
export class NotServerProcessError extends ContextsError {
  constructor(message: string, text?: ContextsErrorText) {
    super("NOT_SERVER_PROCESS", 404, "22023", message, text);
  }
}

/** The dump did not arrive (or not completely) within the timeout. */
export class DumpTimeoutError extends ContextsError {
  constructor(message: string, text?: ContextsErrorText) {
    super("DUMP_TIMEOUT", 504, "57014", message, text);
  }
}

/** A dump began but ended without its Grand total, or its lines contradict each other. */
export class DumpIncompleteError extends ContextsError {
  constructor(message: string, text?: ContextsErrorText) {
    super("DUMP_INCOMPLETE", 502, "XX000", message, text);
  }
}

/** The target process exited before its dump was complete. */
export class BackendExitedError extends ContextsError {
  constructor(message: string, text?: ContextsErrorText) {
    super("BACKEND_EXITED", 410, "55000", message, text);
  }
}
