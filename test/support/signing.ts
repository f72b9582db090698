// Signs requests to the sidecar the way the foreign data wrapper does (docs/protocol.md, "Signature").
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { inject } from "vitest";
import { SIGNATURE_HEADERS, sign } from "../../sidecar/security/request-signature.js";
import { secretPathFor } from "../../sidecar/security/secret-file.js";

/** A secret for sidecars built in-process by tests. */
export const TEST_SECRET = "0123456789abcdef".repeat(4);

/** The secret of the sidecar listening on socketPath (readable by root, who runs the tests). */
export function secretOf(socketPath: string): string {
  return readFileSync(secretPathFor(socketPath), "utf8").trim();
}

/**
 * The headers of a request for target, with a time, a fresh nonce and the signature added. The role
 * and backend pid headers are signed as given (a missing one is signed as ""), so tests can send them
 * missing or malformed and still get past the signature. The cluster is the test cluster's unless
 * given.
 */
export function signedHeaders(
  secret: string,
  target: string,
  headers: Record<string, string> = {},
  options: { time?: number; nonce?: string; method?: string } = {},
): Record<string, string> {
  const out: Record<string, string> = {
    [SIGNATURE_HEADERS.backendPid]: String(process.pid),
    [SIGNATURE_HEADERS.cluster]: inject("clusterName") ?? "",
    ...headers,
    [SIGNATURE_HEADERS.time]: String(options.time ?? Math.floor(Date.now() / 1000)),
    [SIGNATURE_HEADERS.nonce]: options.nonce ?? randomBytes(16).toString("hex"),
  };
  out[SIGNATURE_HEADERS.role] ??= "";
  out[SIGNATURE_HEADERS.signature] = sign(secret, {
    method: options.method ?? "GET",
    target,
    role: out[SIGNATURE_HEADERS.role] ?? "",
    backendPid: out[SIGNATURE_HEADERS.backendPid] ?? "",
    cluster: out[SIGNATURE_HEADERS.cluster] ?? "",
    time: out[SIGNATURE_HEADERS.time] ?? "",
    nonce: out[SIGNATURE_HEADERS.nonce] ?? "",
  });
  return out;
}
