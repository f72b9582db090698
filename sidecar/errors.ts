/** Errors of the protocol's table (docs/protocol.md); each knows its code, HTTP status and SQLSTATE. */

export interface ErrorText {
  detail?: string;
  hint?: string;
  cause?: unknown;
}

export interface ErrorBody {
  code: string;
  sqlstate: string;
  message: string;
  detail?: string;
  hint?: string;
}

export class SidecarError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly sqlstate: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;

  constructor(code: string, statusCode: number, sqlstate: string, message: string, text: ErrorText = {}) {
    super(message, text.cause === undefined ? undefined : { cause: text.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
    this.sqlstate = sqlstate;
    this.detail = text.detail;
    this.hint = text.hint;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, sqlstate: this.sqlstate, message: this.message };
    if (this.detail !== undefined) body.detail = this.detail;
    if (this.hint !== undefined) body.hint = this.hint;
    return body;
  }
}

export class BadRequestError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("BAD_REQUEST", 400, "22023", message, text);
  }
}

export class UnknownColumnError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("UNKNOWN_COLUMN", 400, "42703", message, text);
  }
}

export class MissingRoleError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("MISSING_ROLE", 400, "28000", message, text);
  }
}

export class ForbiddenError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("FORBIDDEN", 403, "42501", message, text);
  }
}

export class NotFoundError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("NOT_FOUND", 404, "22023", message, text);
  }
}

export class MethodNotAllowedError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("METHOD_NOT_ALLOWED", 405, "0A000", message, text);
  }
}

export class ProcUnreadableError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("PROC_UNREADABLE", 500, "58000", message, text);
  }
}

export class DatabaseUnavailableError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("DATABASE_UNAVAILABLE", 503, "08006", message, text);
  }
}

export class InternalError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("INTERNAL", 500, "XX000", message, text);
  }
}

export class UnauthenticatedError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("UNAUTHENTICATED", 401, "28000", message, text);
  }
}

export class WrongClusterError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("WRONG_CLUSTER", 421, "HV00N", message, text);
  }
}

export class BusyError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("BUSY", 503, "53300", message, text);
  }
}

/** The server's log settings do not let the sidecar tell which process wrote a line (no %p). */
export class LogFormatError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("LOG_FORMAT", 500, "22023", message, text);
  }
}

/** The server log is not a file, or cannot be opened or read by the sidecar's OS user. */
export class LogUnreadableError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("LOG_UNREADABLE", 500, "58030", message, text);
  }
}

/** pg_log_backend_memory_contexts() returned false: not a PostgreSQL server process. */
export class NotServerProcessError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("NOT_SERVER_PROCESS", 404, "22023", message, text);
  }
}

/** A memory-context dump did not arrive (or not completely) within the dump timeout. */
export class DumpTimeoutError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("DUMP_TIMEOUT", 504, "57014", message, text);
  }
}

/** A dump began but its lines contradict each other (lost or mixed log lines). */
export class DumpIncompleteError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("DUMP_INCOMPLETE", 502, "XX000", message, text);
  }
}

/** The target process exited before its dump was complete. */
export class BackendExitedError extends SidecarError {
  constructor(message: string, text?: ErrorText) {
    super("BACKEND_EXITED", 410, "55000", message, text);
  }
}
