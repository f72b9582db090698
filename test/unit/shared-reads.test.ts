import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { SharedReads } from "../../sidecar/rows/shared-reads.js";

/** A deferred value, resolved by the test. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** A source of rows that counts how it is used; each chunk waits for `step` when given. */
function source(chunks: string[], step?: () => Promise<void>) {
  const stats = { started: 0, reads: 0, active: 0, peak: 0, closed: false };
  const start = () => {
    stats.started++;
    return (async function* () {
      try {
        for (const chunk of chunks) {
          stats.active++;
          stats.peak = Math.max(stats.peak, stats.active);
          try {
            if (step) await step();
            stats.reads++;
          } finally {
            stats.active--;
          }
          yield Buffer.from(chunk);
        }
      } finally {
        stats.closed = true;
      }
    })();
  };
  return { start, stats };
}

async function collect(rows: AsyncGenerator<Buffer, void, undefined>): Promise<string> {
  let text = "";
  for await (const chunk of rows) text += chunk.toString();
  return text;
}

describe("SharedReads", () => {
  it("reads once for identical concurrent requests, and each gets every chunk", async () => {
    const guard = new SharedReads();
    const { start, stats } = source(["a", "b", "c"], () => sleep(5));
    const results = await Promise.all([1, 2, 3].map(() => collect(guard.rows("k", start))));
    expect(results).toEqual(["abc", "abc", "abc"]);
    expect(stats.started).toBe(1);
    expect(stats.reads).toBe(3);
    expect(guard.shared).toBe(0);
  });

  it("reads again for a request that comes after the result is finished (cacheMs 0)", async () => {
    const guard = new SharedReads();
    const { start, stats } = source(["a"]);
    expect(await collect(guard.rows("k", start))).toBe("a");
    expect(await collect(guard.rows("k", start))).toBe("a");
    expect(stats.started).toBe(2);
  });

  it("keeps a finished result for cacheMs, capped at one second", async () => {
    const guard = new SharedReads({ cacheMs: 60 });
    const { start, stats } = source(["a", "b"]);
    expect(await collect(guard.rows("k", start))).toBe("ab");
    expect(await collect(guard.rows("k", start))).toBe("ab");
    expect(stats.started).toBe(1);
    await sleep(120);
    expect(await collect(guard.rows("k", start))).toBe("ab");
    expect(stats.started).toBe(2);
    expect(guard.shared).toBe(1);
    const capped = new SharedReads({ cacheMs: 60_000 });
    await collect(capped.rows("k", source(["x"]).start));
    await sleep(1_200);
    expect(capped.shared).toBe(0);
  });

  it("reads separately for different keys", async () => {
    const guard = new SharedReads();
    const one = source(["1"]);
    const two = source(["2"]);
    expect(
      await Promise.all([collect(guard.rows("a", one.start)), collect(guard.rows("b", two.start))]),
    ).toEqual(["1", "2"]);
    expect([one.stats.started, two.stats.started]).toEqual([1, 1]);
  });

  it("stops reading when every reader has gone", async () => {
    const guard = new SharedReads();
    const { start, stats } = source(["a", "b", "c", "d"], () => sleep(2));
    const one = guard.rows("k", start);
    const two = guard.rows("k", start);
    expect((await one.next()).value?.toString()).toBe("a");
    expect((await two.next()).value?.toString()).toBe("a");
    await one.return(undefined);
    expect((await two.next()).value?.toString()).toBe("b");
    await two.return(undefined);
    await sleep(20);
    expect(stats.closed).toBe(true);
    expect(stats.reads).toBeLessThan(4);
    expect(guard.shared).toBe(0);
  });

  it("lets a reader that aborts leave while it waits for a read, and aborts the read once it was the last", async () => {
    const guard = new SharedReads();
    const hold = gate();
    let aborted: AbortSignal | undefined;
    const waiting = source(["never"], () => hold.promise);
    const start = (signal: AbortSignal) => {
      aborted = signal;
      return waiting.start();
    };
    const controller = new AbortController();
    const rows = guard.rows("k", start, controller.signal);
    const next = rows.next();
    await sleep(5);
    controller.abort();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(aborted?.aborted).toBe(true);
    expect(guard.shared).toBe(0);
    hold.open();
    await sleep(5);
    expect(waiting.stats.closed).toBe(true);
  });

  it("gives every reader the error of a failed read, and does not keep it", async () => {
    const guard = new SharedReads({ cacheMs: 1_000 });
    let calls = 0;
    const start = () =>
      (async function* () {
        calls++;
        yield Buffer.from("a");
        throw new Error("read failed");
      })();
    const results = await Promise.allSettled([
      collect(guard.rows("k", start)),
      collect(guard.rows("k", start)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(calls).toBe(1);
    await expect(collect(guard.rows("k", start))).rejects.toThrow("read failed");
    expect(calls).toBe(2);
  });

  it("stops offering a result past maxSharedBytes and drops what its readers have passed", async () => {
    const guard = new SharedReads({ maxSharedBytes: 3 });
    const hold = gate();
    let n = 0;
    const first = source(["ab", "cd", "ef", "gh"], async () => {
      if (++n === 4) await hold.promise;
    });
    const reader = guard.rows("k", first.start);
    let text = "";
    for (let i = 0; i < 2; i++) text += (await reader.next()).value?.toString();
    // "abcd" is past 3 bytes: a newcomer reads on its own.
    const late = source(["z"]);
    expect(await collect(guard.rows("k", late.start))).toBe("z");
    expect(late.stats.started).toBe(1);
    hold.open();
    for await (const chunk of reader) text += chunk.toString();
    expect(text).toBe("abcdefgh");
  });

  it("keeps at most maxSharedBytes for newcomers over all results together, however many run", async () => {
    const guard = new SharedReads({ maxSharedBytes: 10 });
    // Ten distinct results at once, each read two chunks of 4 bytes in and then held.
    const readers = Array.from({ length: 10 }, (_, i) => {
      const hold = gate();
      let n = 0;
      const rows = source([`${i}aaa`, `${i}bbb`, `${i}ccc`], async () => {
        if (++n === 3) await hold.promise;
      });
      return { hold, rows, reader: guard.rows(`k${i}`, rows.start) };
    });
    for (const r of readers) for (let c = 0; c < 2; c++) await r.reader.next();
    // 80 bytes were read; only the first results within 10 bytes are still offered to newcomers.
    expect(guard.shared).toBeLessThanOrEqual(2);
    const late = source(["late"]);
    expect(await collect(guard.rows("k9", late.start))).toBe("late");
    expect(late.stats.started).toBe(1);
    for (const r of readers) {
      r.hold.open();
      let rest = "";
      for await (const chunk of r.reader) rest += chunk.toString();
      expect(rest).toHaveLength(4);
    }
  });
});
