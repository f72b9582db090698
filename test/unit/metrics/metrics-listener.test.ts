import { request } from "node:http";
import { connect } from "node:net";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import {
  busyRound,
  FakeSampleSource,
  growthOf,
  processSample,
  round,
} from "../../../harness/sample-fixtures.js";
import { MetricsListener } from "../../../sidecar/metrics/metrics-listener.js";
import { ownUss, ussFromRollup } from "../../../sidecar/metrics/own-memory.js";
import { parseExposition, sumOf } from "../../support/exposition-text.js";
import { exchange } from "../../support/raw-http.js";

const MB = 1024 * 1024;
let listener: MetricsListener | undefined;

afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

/** A listener on a port the kernel picks, polled only when the test says so. */
async function start(
  source: FakeSampleSource,
  reads: { uss: number },
  topPids = 0,
): Promise<MetricsListener> {
  listener = await MetricsListener.start({
    address: { host: "127.0.0.1", port: 0 },
    source,
    topPids,
    growthWindowMs: 120_000,
    readOwnUss: () => {
      reads.uss++;
      return 30 * MB;
    },
    pollMs: 3_600_000,
  });
  return listener;
}

function origin(l: MetricsListener): string {
  return `http://127.0.0.1:${l.address.port}`;
}

/** Raw bytes to the listener, the connection left open: everything it answers before it closes. */
function send(port: number, bytes: string, timeoutMs = 8_000): Promise<string> {
  return exchange({ port, host: "127.0.0.1" }, bytes, timeoutMs, false);
}

describe("the metrics listener", () => {
  it("serves GET /metrics in the Prometheus text format", async () => {
    const source = new FakeSampleSource(1000);
    source.succeed(round([processSample(10), processSample(11)], Date.now()));
    const reads = { uss: 0 };
    const l = await start(source, reads);
    const res = await fetch(`${origin(l)}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const x = parseExposition(await res.text());
    expect(sumOf(x, "pg_meminfo_processes")).toBe(2);
    expect(sumOf(x, "pg_meminfo_sidecar_uss_bytes")).toBe(30 * MB);
    // A query string (some scrapers add one) changes nothing.
    expect((await fetch(`${origin(l)}/metrics?x=1`)).status).toBe(200);
  });

  it("sends gzip to a scraper that asks for it, the same text", async () => {
    const source = new FakeSampleSource(1000);
    source.succeed(busyRound(50, Date.now()));
    const l = await start(source, { uss: 0 });
    const plain = await send(l.address.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const zipped = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>(
      (resolve, reject) => {
        const req = request(`${origin(l)}/metrics`, { headers: { "Accept-Encoding": "gzip" } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on("error", reject);
        req.end();
      },
    );
    expect(zipped.headers["content-encoding"]).toBe("gzip");
    expect(zipped.headers.vary).toBe("Accept-Encoding");
    const text = gunzipSync(zipped.body).toString("utf8");
    expect(plain.endsWith(text)).toBe(true);
    expect(plain).not.toMatch(/content-encoding/i);
    expect(sumOf(parseExposition(text), "pg_meminfo_processes")).toBe(50);
    expect(zipped.body.length).toBeLessThan(Buffer.byteLength(text) / 4);
  });

  it("serves nothing else: other paths 404, other methods 405", async () => {
    const l = await start(new FakeSampleSource(1000), { uss: 0 });
    for (const path of [
      "/",
      "/metrics/",
      "/metrics/../v1/summary",
      "/v1/summary",
      "/v1/smaps?pid=1",
      "/METRICS",
      "//metrics",
      "/debug/pprof",
    ]) {
      const res = await fetch(`${origin(l)}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).toBe("not found: this listener serves GET /metrics only\n");
    }
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) {
      const res = await fetch(`${origin(l)}/metrics`, {
        method,
        ...(method === "POST" || method === "PUT" ? { body: "x".repeat(100_000) } : {}),
      });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("allow")).toBe("GET");
    }
    // Raw requests: an absolute URI, TRACE, garbage.
    expect(
      await send(l.address.port, "GET http://evil/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ).toMatch(/^HTTP\/1\.1 404 /);
    expect(
      await send(l.address.port, "TRACE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ).toMatch(/^HTTP\/1\.1 405 /);
    expect(await send(l.address.port, "\u0000\u0001garbage\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
  });

  it("cuts off huge and slow requests", { timeout: 20_000 }, async () => {
    const l = await start(new FakeSampleSource(1000), { uss: 0 });
    const huge = `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`;
    expect(await send(l.address.port, huge)).toMatch(/^HTTP\/1\.1 431 /);
    // Headers that never end: the connection is closed (408) within the headers timeout.
    const started = Date.now();
    const answer = await send(l.address.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 15_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(9_000);
    // Still serving.
    expect((await fetch(`${origin(l)}/metrics`)).status).toBe(200);
  });

  it("refuses connections past 64 at once instead of serving them slowly", async () => {
    const l = await start(new FakeSampleSource(1000), { uss: 0 });
    const idle = await Promise.all(
      Array.from(
        { length: 64 },
        () =>
          new Promise<ReturnType<typeof connect>>((resolve, reject) => {
            const socket = connect(l.address.port, "127.0.0.1", () => resolve(socket));
            socket.on("error", reject);
          }),
      ),
    );
    try {
      // The server drops a connection past the limit at once: no answer.
      await new Promise((r) => setTimeout(r, 100));
      expect(await send(l.address.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 2_000)).toBe("");
    } finally {
      for (const socket of idle) socket.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(`${origin(l)}/metrics`)).status).toBe(200);
  });

  it("reads its own USS and asks for growth once per round, never per scrape", async () => {
    const source = new FakeSampleSource(1000);
    const reads = { uss: 0 };
    const l = await start(source, reads);
    const before = { uss: reads.uss, growth: source.growthCalls.length };
    for (let i = 0; i < 50; i++) expect((await fetch(`${origin(l)}/metrics`)).status).toBe(200);
    expect(reads.uss).toBe(before.uss);
    expect(source.growthCalls.length).toBe(before.growth);
    // A round ends: the next look at the sampler reads both, once; looks without a new round read nothing.
    const now = Date.now();
    const p = processSample(10);
    source.succeed(round([p], now), [growthOf(p, 6 * MB, true)]);
    l.refresh(now + 10);
    l.refresh(now + 20);
    l.refresh(now + 30);
    expect(reads.uss).toBe(before.uss + 1);
    expect(source.growthCalls).toEqual([...Array(before.growth).fill(120_000), 120_000]);
    const x = parseExposition(await (await fetch(`${origin(l)}/metrics`)).text());
    expect(sumOf(x, "pg_meminfo_growing_processes")).toBe(1);
    // A failed round: own USS read again (once), growth not asked (no new figures).
    source.fail("database", now + 1000);
    l.refresh(now + 1010);
    l.refresh(now + 1020);
    expect(reads.uss).toBe(before.uss + 2);
    expect(source.growthCalls.length).toBe(before.growth + 1);
  });

  it("drops the memory series by itself once the latest round is too old", async () => {
    const source = new FakeSampleSource(1000);
    const l = await start(source, { uss: 0 });
    const now = Date.now();
    source.succeed(round([processSample(10)], now));
    l.refresh(now);
    expect(
      sumOf(parseExposition(await (await fetch(`${origin(l)}/metrics`)).text()), "pg_meminfo_processes"),
    ).toBe(1);
    // No round ended, only time went by.
    l.refresh(now + 3_500);
    const x = parseExposition(await (await fetch(`${origin(l)}/metrics`)).text());
    expect(sumOf(x, "pg_meminfo_processes")).toBe(0);
    expect(sumOf(x, "pg_meminfo_sample_fresh")).toBe(0);
  });

  it("follows the sampler on its own timer", async () => {
    const source = new FakeSampleSource(200);
    listener = await MetricsListener.start({ address: { host: "127.0.0.1", port: 0 }, source });
    source.succeed(busyRound(40, Date.now()));
    const deadline = Date.now() + 5_000;
    let processes = 0;
    while (Date.now() < deadline && processes === 0) {
      await new Promise((r) => setTimeout(r, 20));
      processes = sumOf(
        parseExposition(await (await fetch(`${listener.url}`)).text()),
        "pg_meminfo_processes",
      );
    }
    expect(processes).toBe(40);
  });

  it("listens on IPv6 loopback too, and names it in brackets", async () => {
    const source = new FakeSampleSource(1000);
    source.succeed(round([processSample(10)], Date.now()));
    listener = await MetricsListener.start({ address: { host: "::1", port: 0 }, source });
    expect(listener.url).toBe(`http://[::1]:${listener.address.port}/metrics`);
    expect(sumOf(parseExposition(await (await fetch(listener.url)).text()), "pg_meminfo_processes")).toBe(1);
  });

  it("refuses an address it cannot listen on, saying why", async () => {
    const l = await start(new FakeSampleSource(1000), { uss: 0 });
    await expect(
      MetricsListener.start({
        address: { host: "127.0.0.1", port: l.address.port },
        source: new FakeSampleSource(),
      }),
    ).rejects.toMatchObject({
      message: `could not listen on 127.0.0.1:${l.address.port} for --metrics-listen`,
      hint: "Another process listens on that port: pick a free one (one port per sidecar).",
    });
    await expect(
      MetricsListener.start({ address: { host: "192.0.2.1", port: 9187 }, source: new FakeSampleSource() }),
    ).rejects.toMatchObject({ hint: expect.stringContaining("not one of this host's") });
  });
});

describe("the sidecar's own USS", () => {
  it("is Private_Clean + Private_Dirty of smaps_rollup", () => {
    const rollup = [
      "55d5c0a3e000-7ffd1b3f5000 ---p 00000000 00:00 0                          [rollup]",
      "Rss:               50000 kB",
      "Pss:               30000 kB",
      "Shared_Clean:      40000 kB",
      "Private_Clean:      1000 kB",
      "Private_Dirty:      9000 kB",
      "",
    ].join("\n");
    expect(ussFromRollup(rollup)).toBe(10_000 * 1024);
    expect(ussFromRollup("garbage")).toBeNull();
    expect(ussFromRollup("")).toBeNull();
  });

  it("reads this process's own", () => {
    const uss = ownUss();
    expect(uss).toBeGreaterThan(4 * MB);
    expect(ownUss("/nonexistent")).toBeNull();
  });
});
