import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { BusyError } from "../../sidecar/errors.js";
import { Limiter, RowGuard } from "../../sidecar/rows/limiter.js";

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

describe("Limiter", () => {
  it("grants at most `concurrency` slots, in arrival order", async () => {
    const limiter = new Limiter(2, 10);
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    const order: string[] = [];
    const c = limiter.acquire().then((release) => {
      order.push("c");
      return release;
    });
    const d = limiter.acquire().then((release) => {
      order.push("d");
      return release;
    });
    await sleep(5);
    expect(order).toEqual([]);
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 2, waiting: 2 });
    a();
    a(); // a second release of the same slot changes nothing
    (await c)();
    b();
    (await d)();
    expect(order).toEqual(["c", "d"]);
    expect({ active: limiter.active, waiting: limiter.waiting }).toEqual({ active: 0, waiting: 0 });
  });

  it("refuses a newcomer with BUSY (503, 53300) once the queue is full, but never one already served", async () => {
    const limiter = new Limiter(1, 1);
    const held = await limiter.acquire({ admit: true });
    const queued = limiter.acquire({ admit: true });
    const refused = limiter.acquire({ admit: true });
    await expect(refused).rejects.toBeInstanceOf(BusyError);
    await expect(refused).rejects.toMatchObject({ code: "BUSY", statusCode: 503, sqlstate: "53300" });
    const continuing = limiter.acquire();
    expect(limiter.waiting).toBe(2);
    held();
    (await queued)();
    (await continuing)();
    expect(limiter.active).toBe(0);
  });

  it("drops a waiter whose signal aborts, and rejects at once for an aborted signal", async () => {
    const limiter = new Limiter(1, 5);
    const held = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire({ signal: controller.signal });
    controller.abort(new Error("gone"));
    await expect(waiting).rejects.toThrow("gone");
    expect(limiter.waiting).toBe(0);
    await expect(limiter.acquire({ signal: controller.signal })).rejects.toThrow("gone");
    held();
    expect(limiter.active).toBe(0);
  });

  it("rejects nonsense bounds", () => {
    expect(() => new Limiter(0, 1)).toThrow(RangeError);
    expect(() => new Limiter(1, -1)).toThrow(RangeError);
  });
});

describe("RowGuard", () => {
  it("reads once for identical concurrent requests, and each gets every chunk", async () => {
    const guard = new RowGuard({ concurrency: 4 });
    const { start, stats } = source(["a", "b", "c"], () => sleep(5));
    const results = await Promise.all([1, 2, 3].map(() => collect(guard.rows("k", start))));
    expect(results).toEqual(["abc", "abc", "abc"]);
    expect(stats.started).toBe(1);
    expect(stats.reads).toBe(3);
    expect(guard.shared).toBe(0);
  });

  it("reads again for a request that comes after the result is finished (cacheMs 0)", async () => {
    const guard = new RowGuard();
    const { start, stats } = source(["a"]);
    expect(await collect(guard.rows("k", start))).toBe("a");
    expect(await collect(guard.rows("k", start))).toBe("a");
    expect(stats.started).toBe(2);
  });

  it("keeps a finished result for cacheMs, capped at one second", async () => {
    const guard = new RowGuard({ cacheMs: 60 });
    const { start, stats } = source(["a", "b"]);
    expect(await collect(guard.rows("k", start))).toBe("ab");
    expect(await collect(guard.rows("k", start))).toBe("ab");
    expect(stats.started).toBe(1);
    await sleep(120);
    expect(await collect(guard.rows("k", start))).toBe("ab");
    expect(stats.started).toBe(2);
    expect(guard.shared).toBe(1);
    const capped = new RowGuard({ cacheMs: 60_000 });
    await collect(capped.rows("k", source(["x"]).start));
    await sleep(1_200);
    expect(capped.shared).toBe(0);
  });

  it("reads separately for different keys", async () => {
    const guard = new RowGuard();
    const one = source(["1"]);
    const two = source(["2"]);
    expect(
      await Promise.all([collect(guard.rows("a", one.start)), collect(guard.rows("b", two.start))]),
    ).toEqual(["1", "2"]);
    expect([one.stats.started, two.stats.started]).toEqual([1, 1]);
  });

  it("never runs more reads at once than its concurrency, across requests", async () => {
    const guard = new RowGuard({ concurrency: 2, queue: 100 });
    let running = 0;
    let peak = 0;
    const step = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(3);
      running--;
    };
    const texts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => collect(guard.rows(`k${i}`, source(["x", "y", "z"], step).start))),
    );
    expect(texts).toEqual(Array(8).fill("xyz"));
    expect(peak).toBe(2);
  });

  it("refuses requests past the queue with BUSY before reading anything of theirs", async () => {
    const guard = new RowGuard({ concurrency: 1, queue: 1 });
    const hold = gate();
    const first = source(["a"], () => hold.promise);
    const second = source(["b"]);
    const third = source(["c"]);
    const running = collect(guard.rows("1", first.start));
    await sleep(5);
    const queued = collect(guard.rows("2", second.start));
    await sleep(5);
    await expect(collect(guard.rows("3", third.start))).rejects.toMatchObject({
      code: "BUSY",
      statusCode: 503,
    });
    expect(third.stats.reads).toBe(0);
    hold.open();
    expect(await running).toBe("a");
    expect(await queued).toBe("b");
  });

  it("stops reading when every reader has gone", async () => {
    const guard = new RowGuard();
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

  it("lets a reader that aborts leave while it waits for a slot, and the read never starts", async () => {
    const guard = new RowGuard({ concurrency: 1, queue: 5 });
    const hold = gate();
    const busy = collect(guard.rows("busy", source(["a"], () => hold.promise).start));
    await sleep(5);
    const waiting = source(["never"]);
    const controller = new AbortController();
    const rows = guard.rows("k", waiting.start, controller.signal);
    const next = rows.next();
    await sleep(5);
    controller.abort();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(guard.limiter.waiting).toBe(0);
    hold.open();
    expect(await busy).toBe("a");
    expect(waiting.stats.reads).toBe(0);
  });

  it("gives every reader the error of a failed read, and does not keep it", async () => {
    const guard = new RowGuard({ cacheMs: 1_000 });
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
    const guard = new RowGuard({ maxSharedBytes: 3 });
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
});
