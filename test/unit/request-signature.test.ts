import { describe, expect, it } from "vitest";
import { SignatureVerifier, sign, signedText } from "../../sidecar/security/request-signature.js";
import { signedHeaders } from "../support/signing.js";

const SECRET = "f".repeat(64);
const TARGET = "/v1/smaps?columns=pid&pid=42";
const NOW = 1_800_000_000_000;

/** The detail of the error fn throws (the message is the same for every rejection). */
function reason(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    return (err as { detail?: string }).detail ?? "";
  }
  return "accepted";
}

function verifier(now = NOW) {
  return new SignatureVerifier(SECRET, { now: () => now, maxNonces: 3 });
}

function headers(overrides: Record<string, string> = {}, time = NOW / 1000) {
  return signedHeaders(SECRET, TARGET, { "x-pg-meminfo-role": "10", ...overrides }, { time });
}

describe("request signatures", () => {
  it("signs the fields joined by newlines, in protocol order", () => {
    const fields = {
      method: "GET",
      target: TARGET,
      role: "10",
      backendPid: "7",
      cluster: "1/2",
      time: "1",
      nonce: "ab",
    };
    expect(signedText(fields)).toBe(`GET\n${TARGET}\n10\n7\n1/2\n1\nab`);
    // Known answer, from: printf 'GET\n/v1/smaps?columns=pid&pid=42\n10\n7\n1/2\n1\nab' | openssl dgst -sha256 -hmac fff...f
    expect(sign(SECRET, fields)).toBe("97eb3b3da083637de5e600fca3edd4953c810dc40c47433ee9a0803521167514");
    expect(sign(SECRET, fields)).not.toBe(sign(SECRET, { ...fields, role: "11" }));
    expect(sign(SECRET, fields)).not.toBe(sign(SECRET, { ...fields, cluster: "1/3" }));
  });

  it("accepts a fresh, correctly signed request once", () => {
    const v = verifier();
    const h = headers();
    expect(() => v.verify("GET", TARGET, h)).not.toThrow();
    expect(reason(() => v.verify("GET", TARGET, h))).toMatch(/replay/);
  });

  it("rejects another method, target or secret", () => {
    const v = verifier();
    expect(reason(() => v.verify("POST", TARGET, headers()))).toMatch(/does not match/);
    expect(reason(() => v.verify("GET", `${TARGET},43`, headers()))).toMatch(/does not match/);
    const forged = signedHeaders("e".repeat(64), TARGET, { "x-pg-meminfo-role": "10" }, { time: NOW / 1000 });
    expect(reason(() => v.verify("GET", TARGET, forged))).toMatch(/does not match/);
  });

  it("rejects times more than 30 seconds away, either way", () => {
    const v = verifier();
    expect(reason(() => v.verify("GET", TARGET, headers({}, NOW / 1000 - 31)))).toMatch(/clock/);
    expect(reason(() => v.verify("GET", TARGET, headers({}, NOW / 1000 + 31)))).toMatch(/clock/);
    expect(() => v.verify("GET", TARGET, headers({}, NOW / 1000 - 29))).not.toThrow();
  });

  it("rejects missing, repeated and malformed headers before computing anything", () => {
    const v = verifier();
    const h = headers();
    const { "x-pg-meminfo-signature": _, ...unsigned } = h;
    expect(() => v.verify("GET", TARGET, unsigned)).toThrow(/request is not signed/);
    expect(() => v.verify("GET", TARGET, { ...h, "x-pg-meminfo-nonce": ["a", "b"] } as never)).toThrow(
      /not signed/,
    );
    expect(reason(() => v.verify("GET", TARGET, { ...h, "x-pg-meminfo-signature": "zz" }))).toMatch(
      /malformed/,
    );
  });

  it("forgets the oldest nonces past its bound and expired ones", () => {
    let now = NOW;
    const v = new SignatureVerifier(SECRET, { now: () => now, maxNonces: 2 });
    const first = headers();
    v.verify("GET", TARGET, first);
    v.verify("GET", TARGET, headers());
    v.verify("GET", TARGET, headers());
    // The first nonce was evicted, but its time is still fresh: it would pass again, which is why the
    // bound is large in production (100,000) compared with the request rate.
    expect(() => v.verify("GET", TARGET, first)).not.toThrow();
    now += 61_000;
    expect(reason(() => v.verify("GET", TARGET, first))).toMatch(/seconds from the sidecar's clock/);
  });
});
