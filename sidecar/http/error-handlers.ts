/** Turns every error into the protocol's JSON error body (docs/protocol.md, "Response"). */
import type { Duplex } from "node:stream";
import type { FastifyError, FastifyInstance } from "fastify";
import {
  BadRequestError,
  InternalError,
  MethodNotAllowedError,
  NotFoundError,
  SidecarError,
} from "../errors.js";

interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  params?: Record<string, unknown>;
  message?: string;
}

function validationMessage(err: FastifyError): string {
  const issue = (err.validation as ValidationIssue[] | undefined)?.[0];
  const where = err.validationContext ?? "request";
  if (issue?.keyword === "additionalProperties") {
    return `unknown ${where === "querystring" ? "query" : where} parameter "${String(issue.params?.additionalProperty)}"`;
  }
  if (issue?.keyword === "required") {
    return `missing ${where === "querystring" ? "query" : where} parameter "${String(issue.params?.missingProperty)}"`;
  }
  const path = issue?.instancePath ? issue.instancePath.slice(1) : "";
  return `invalid ${where === "querystring" ? "query" : where} parameter${path ? ` "${path}"` : ""}`;
}

function toSidecarError(err: unknown): SidecarError {
  if (err instanceof SidecarError) return err;
  const fastifyError = err as Partial<FastifyError>;
  if (fastifyError.validation !== undefined) {
    return new BadRequestError(validationMessage(fastifyError as FastifyError), {
      detail: fastifyError.message ? `${fastifyError.message}.` : undefined,
    });
  }
  if (fastifyError.statusCode === 404) return new NotFoundError("not found");
  if (typeof fastifyError.statusCode === "number" && fastifyError.statusCode < 500) {
    return new BadRequestError("bad request", {
      detail: fastifyError.message ? `${fastifyError.message}.` : undefined,
    });
  }
  return new InternalError("internal error in the sidecar", {
    detail: err instanceof Error ? `${err.message}.` : undefined,
    cause: err,
  });
}

export function installErrorHandlers(app: FastifyInstance): void {
  // Per-request lines at debug (fastify's own are off: they wrote two info lines per request).
  app.addHook("onResponse", async (request, reply) => {
    request.log.debug(
      { method: request.method, url: request.url, statusCode: reply.statusCode, ms: reply.elapsedTime },
      "request completed",
    );
  });
  app.setErrorHandler((err, request, reply) => {
    const error = toSidecarError(err);
    if (error.statusCode >= 500) request.log.error({ err }, error.message);
    else request.log.info({ code: error.code }, error.message);
    // A stream that failed may have set these; a JSON body has a length.
    reply.removeHeader("transfer-encoding");
    return reply.code(error.statusCode).type("application/json").send(error.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?", 1)[0] ?? "";
    if (request.method !== "GET" && /^\/v1\/(smaps|summary|by_kind|contexts)$/.test(path)) {
      const error = new MethodNotAllowedError(`method ${request.method} is not allowed`, {
        detail: `${path} answers GET only.`,
      });
      return reply.code(405).header("allow", "GET").type("application/json").send(error.toBody());
    }
    const error = new NotFoundError("not found", {
      detail: `There is no ${request.method} ${request.url.split("?", 1)[0]}; the paths are /v1/smaps, /v1/summary, /v1/by_kind and /v1/contexts.`,
    });
    return reply.code(404).type("application/json").send(error.toBody());
  });
}

/**
 * Node answers a request it cannot parse (headers over its limit, a broken request line) before
 * fastify sees it; this answer is in the protocol's error format too. Given as fastify's
 * clientErrorHandler.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
  const error = new BadRequestError(tooLarge ? "request headers too large" : "malformed HTTP request", {
    detail: `${err.message}.`,
  });
  const body = JSON.stringify(error.toBody());
  const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}
