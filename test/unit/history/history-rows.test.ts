import { describe, expect, it } from "vitest";
import {
  findHistoryColumn,
  HISTORY_COLUMNS,
  type HistoryColumn,
  historyRows,
  timestamptzText,
} from "../../../sidecar/history/history-rows.js";
import { HistoryRing, MIN_HISTORY_BYTES } from "../../../sidecar/history/ring.js";
import { rowsOf } from "../../support/fixtures.js";
import { labels, round, sample, T0 } from "./synthetic.js";

const ALL = { pids: null, fromMs: Number.NEGATIVE_INFINITY, toMs: Number.POSITIVE_INFINITY };

function cols(names: string): HistoryColumn[] {
  return names.split(",").map((n) => findHistoryColumn(n) as HistoryColumn);
}

function text(gen: Generator<Buffer>): string {
  return [...gen].map((b) => b.toString()).join("");
}

describe("historyRows", () => {
  it("writes every column of a sample as COPY text: bytes, UTC times to the µs, labels, NULLs", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    const start = T0 - 61_000.123;
    ring.add([
      sample(42, T0, 5 * 1024 * 1024, 420, {
        ...labels(42, start),
        applicationName: "tab\there\\and\nnewline",
      }),
      {
        ...sample(43, T0 + 7, 1024, 430, { ...labels(43, start), backendType: "", usename: null }),
        pssAnon: Number.NaN,
      },
    ]);
    const rows = rowsOf(text(historyRows(ring, HISTORY_COLUMNS, ALL)));
    expect(rows).toEqual([
      [
        "42",
        "2026-01-01T12:00:00.000Z",
        String(5 * 1024 * 1024 + 20 * 1024 * 1024),
        String(9 * 1024 * 1024),
        String(5 * 1024 * 1024),
        String(3 * 1024 * 1024),
        String(6 * 1024 * 1024),
        String(7 * 1024 * 1024),
        "0",
        "client backend",
        "shop",
        "web",
        "tab\there\\and\nnewline",
        "2026-01-01T11:58:58.999877Z",
      ],
      [
        "43",
        "2026-01-01T12:00:00.007Z",
        String(1024 + 20 * 1024 * 1024),
        String(1024 + 4 * 1024 * 1024),
        null,
        String(3 * 1024 * 1024),
        String(1024 + 1024 * 1024),
        String(1024 + 2 * 1024 * 1024),
        "0",
        // Hidden from the sidecar's role by pg_stat_activity: unknown.
        null,
        "shop",
        null,
        "api-worker-1",
        "2026-01-01T11:58:58.999877Z",
      ],
    ]);
  });

  it("writes the columns asked for, in the order asked", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    ring.add([sample(42, T0, 1024 * 1024)]);
    expect(rowsOf(text(historyRows(ring, cols("anon_bytes,pid"), ALL)))).toEqual([
      [String(3 * 1024 * 1024), "42"],
    ]);
    expect(findHistoryColumn("start_ticks")).toBeUndefined();
  });

  it("keeps only the pids and the times asked for, both ends included", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    for (let r = 0; r < 50; r++) ring.add(round(20, T0 + r * 1000));
    const rows = rowsOf(
      text(
        historyRows(ring, cols("pid,sampled_at"), {
          pids: new Set([1003, 1017, 5]),
          fromMs: T0 + 10_003,
          toMs: T0 + 20_003,
        }),
      ),
    );
    expect(new Set(rows.map((r) => r[0]))).toEqual(new Set(["1003", "1017"]));
    // 1003 is read 3 ms into each round, 1017 1 ms: rounds 10 to 20 for 1003, 11 to 20 for 1017.
    expect(rows.filter((r) => r[0] === "1003")).toHaveLength(11);
    expect(rows.filter((r) => r[0] === "1017")).toHaveLength(10);
    expect(
      rowsOf(text(historyRows(ring, cols("pid"), { pids: null, fromMs: T0 + 60_000, toMs: Infinity }))),
    ).toEqual([]);
  });

  it("streams a long history in chunks, oldest first", () => {
    const ring = new HistoryRing(4 * 1024 * 1024);
    for (let r = 0; r < 200; r++) ring.add(round(300, T0 + r * 1000));
    const chunks = [...historyRows(ring, HISTORY_COLUMNS, ALL)];
    expect(chunks.length).toBeGreaterThan(10);
    for (const chunk of chunks) expect(chunk.length).toBeLessThan(80 * 1024);
    const rows = rowsOf(chunks.map((c) => c.toString()).join(""));
    expect(rows).toHaveLength(ring.size);
    // In the order taken: round after round (a round's processes are read within 16 ms).
    const times = rows.map((r) => Date.parse(r[1] as string));
    for (let i = 1; i < times.length; i++)
      expect(times[i]).toBeGreaterThanOrEqual((times[i - 1] as number) - 16);
    expect(times[0]).toBe(T0);
  });

  it("goes on past what the ring evicted while a chunk waited, without repeating or crashing", () => {
    const ring = new HistoryRing(MIN_HISTORY_BYTES);
    for (let r = 0; r < 60; r++) ring.add(round(300, T0 + r * 1000));
    const oldestBefore = ring.oldest;
    const end = ring.next;
    const gen = historyRows(ring, cols("pid,sampled_at"), ALL);
    const first = gen.next().value as Buffer;
    // Rounds come in while the reader is slow: the oldest samples, and some not yet sent, go.
    for (let r = 60; r < 90; r++) ring.add(round(300, T0 + r * 1000));
    expect(ring.oldest).toBeGreaterThan(oldestBefore + rowsOf(first).length);
    const rest = [...gen].map((b) => b.toString()).join("");
    const rows = [...rowsOf(first), ...rowsOf(rest)];
    const times = rows.map((r) => Date.parse(r[1] as string));
    for (let i = 1; i < times.length; i++)
      expect(times[i]).toBeGreaterThanOrEqual((times[i - 1] as number) - 16);
    // Nothing taken after the scan started is sent, and nothing twice.
    expect(rows.length).toBeLessThan(end - oldestBefore);
    expect(new Set(rows.map((r) => r.join())).size).toBe(rows.length);
    expect(Math.max(...times)).toBeLessThan(T0 + 60_000);
  });
});

describe("timestamptzText", () => {
  it("writes whole ms and µs exactly", () => {
    expect(timestamptzText(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(timestamptzText(1764626594860.123)).toBe("2025-12-01T22:03:14.860123Z");
    expect(timestamptzText(1764626594860.001)).toBe("2025-12-01T22:03:14.860001Z");
  });
});
