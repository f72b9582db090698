/**
 * Request signatures: every request carries an HMAC-SHA256, keyed by the secret the sidecar writes next
 * to its socket, over its method, target, role, backend pid, cluster, time and a nonce (docs/protocol.md,
 * "Signature"). Only a process that can read the secret file can make a request the sidecar accepts.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { UnauthenticatedError } from "../errors.js";

export interface SignedFields {
  method: string;
  target: string;
  role: string;
  backendPid: string;
  /** "<system identifier>/<postmaster pid>" of the caller's cluster. */
  cluster: string;
  time: string;
  nonce: string;
}

/** The header names that carry the signed fields. */
export const SIGNATURE_HEADERS = {
  role: "x-pg-meminfo-role",
  backendPid: "x-pg-meminfo-backend-pid",
  cluster: "x-pg-meminfo-cluster",
  time: "x-pg-meminfo-time",
  nonce: "x-pg-meminfo-nonce",
  signature: "x-pg-meminfo-signature",
} as const;

/** The text the signature covers: the fields joined by newlines, in protocol order. */
export function signedText(f: SignedFields): string {
  return [f.method, f.target, f.role, f.backendPid, f.cluster, f.time, f.nonce].join("\n");
}

/** Hex HMAC-SHA256 of the fields under the secret. */
export function sign(secret: string, fields: SignedFields): string {
  return createHmac("sha256", secret).update(signedText(fields)).digest("hex");
}

export interface VerifierOptions {
  /** Largest accepted difference between the request's time and ours, in seconds. */
  maxSkewSeconds?: number;
  /** Most nonces remembered; the oldest are forgotten first. */
  maxNonces?: number;
  /** Clock in milliseconds, for tests. */
  now?: () => number;
}

type Headers = Record<string, string | string[] | undefined>;

const DECIMAL = /^[0-9]{1,20}$/;
const NONCE = /^[0-9a-f]{32}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

function single(headers: Headers, name: string): string {
  const value = headers[name];
  if (typeof value !== "string") {
    throw new UnauthenticatedError("request is not signed", {
      detail: `Header ${name} is ${value === undefined ? "missing" : "given more than once"}.`,
      hint: "Only the pg_meminfo foreign data wrapper, which can read the sidecar's secret, may call the sidecar.",
    });
  }
  return value;
}

function reject(detail: string): never {
  throw new UnauthenticatedError("request signature rejected", {
    detail,
    hint: "Only the pg_meminfo foreign data wrapper, which can read the sidecar's secret, may call the sidecar.",
  });
}

/** Checks signatures in constant time and refuses stale times and replayed nonces. */
export class SignatureVerifier {
  readonly #secret: string;
  readonly #maxSkewMs: number;
  readonly #maxNonces: number;
  readonly #now: () => number;
  /** Nonce -> when it may be forgotten (ms); insertion order is expiry order. */
  readonly #seen = new Map<string, number>();

  constructor(secret: string, options: VerifierOptions = {}) {
    this.#secret = secret;
    this.#maxSkewMs = (options.maxSkewSeconds ?? 30) * 1000;
    this.#maxNonces = options.maxNonces ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Throws UNAUTHENTICATED unless the request is signed with our secret, fresh and not replayed.
   * Returns the cluster the request says it comes from (signed, so the caller cannot change it).
   */
  verify(method: string, target: string, headers: Headers): string {
    const fields: SignedFields = {
      method,
      target,
      role: single(headers, SIGNATURE_HEADERS.role),
      backendPid: single(headers, SIGNATURE_HEADERS.backendPid),
      cluster: single(headers, SIGNATURE_HEADERS.cluster),
      time: single(headers, SIGNATURE_HEADERS.time),
      nonce: single(headers, SIGNATURE_HEADERS.nonce),
    };
    const signature = single(headers, SIGNATURE_HEADERS.signature);
    if (!DECIMAL.test(fields.time) || !NONCE.test(fields.nonce) || !HEX_SHA256.test(signature)) {
      reject("The time, nonce or signature header is malformed.");
    }
    const expected = Buffer.from(sign(this.#secret, fields), "hex");
    if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
      reject("The signature does not match: the caller does not hold the sidecar's secret.");
    }
    const now = this.#now();
    if (Math.abs(now - Number(fields.time) * 1000) > this.#maxSkewMs) {
      reject(`The request's time is more than ${this.#maxSkewMs / 1000} seconds from the sidecar's clock.`);
    }
    this.#forgetExpired(now);
    if (this.#seen.has(fields.nonce)) reject("The nonce was used before: the request is a replay.");
    if (this.#seen.size >= this.#maxNonces) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.set(fields.nonce, now + 2 * this.#maxSkewMs);
    return fields.cluster;
  }

  #forgetExpired(now: number): void {
    for (const [nonce, expiry] of this.#seen) {
      if (expiry > now) break;
      this.#seen.delete(nonce);
    }
  }
}
