/**
 * ResultStream, the stream-with-a-result behind Generation, ToolTurnStream and runAgent: events in
 * order, the result, abort when the consumer stops early, failures on both faces, no unhandled
 * rejections.
 */
import { once } from "node:events";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { ResultStream, type Producer } from "../lib/util/result-stream.js";

/** A producer that emits 0, 1, 2, ... one per macrotask until its signal aborts, then resolves with the count. */
const endless: Producer<number, number> = async (emit, signal) => {
  let n = 0;
  while (!signal.aborted) {
    emit(n++);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return n;
};

/** Lets the process report unhandled rejections: they are reported after a macrotask. */
const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve));

describe("ResultStream", () => {
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on("unhandledRejection", record);
  });
  afterEach(() => {
    process.off("unhandledRejection", record);
  });

  it("yields the events in order, then ends; result resolves with the producer's value", async () => {
    const stream = new ResultStream<string, number>(async (emit) => {
      emit("a");
      await nextMacrotask();
      emit("b");
      emit("c");
      return 3;
    });
    const seen: string[] = [];
    for await (const event of stream) seen.push(event);
    expect(seen).toEqual(["a", "b", "c"]);
    await expect(stream.result).resolves.toBe(3);
  });

  it("gives the result without iterating (events are kept for a consumer who never comes)", async () => {
    const stream = new ResultStream<number, string>(async (emit) => {
      for (let i = 0; i < 1000; i++) emit(i);
      return "done";
    });
    await expect(stream.result).resolves.toBe("done");
  });

  it("aborts the producer when the consumer breaks early, and the result still settles", async () => {
    let producerSignal: AbortSignal | undefined;
    const stream = new ResultStream<number, number>((emit, signal) => {
      producerSignal = signal;
      return endless(emit, signal);
    });
    for await (const n of stream) if (n === 2) break;
    expect(producerSignal!.aborted).toBe(true);
    // The producer saw the abort and stopped: it emitted at least the three events read, and not many more.
    const count = await stream.result;
    expect(count).toBeGreaterThanOrEqual(3);
    expect(count).toBeLessThan(10);
  });

  it("aborts the producer when the loop body throws", async () => {
    let producerSignal: AbortSignal | undefined;
    const stream = new ResultStream<number, number>((emit, signal) => ((producerSignal = signal), endless(emit, signal)));
    await expect(
      (async () => {
        for await (const n of stream) if (n === 1) throw new Error("consumer failed");
      })(),
    ).rejects.toThrow("consumer failed");
    expect(producerSignal!.aborted).toBe(true);
    await stream.result;
  });

  it("does not abort a producer whose events were all read", async () => {
    let producerSignal: AbortSignal | undefined;
    const stream = new ResultStream<number, void>(async (emit, signal) => {
      producerSignal = signal;
      emit(1);
    });
    for await (const _ of stream);
    expect(producerSignal!.aborted).toBe(false);
  });

  it("follows the caller's signal", async () => {
    const caller = new AbortController();
    const stream = new ResultStream<number, number>(endless, { signal: caller.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: 0 });
    caller.abort();
    const count = await stream.result;
    expect(count).toBeGreaterThanOrEqual(1);
    // The events emitted before the abort are still read, then the stream ends.
    let rest = 0;
    while (!(await iterator.next()).done) rest++;
    expect(rest).toBe(count - 1);
  });

  it("sends a failure to both faces, after the events produced before it", async () => {
    const failure = new Error("producer failed");
    const stream = new ResultStream<string, void>(async (emit) => {
      emit("first");
      await nextMacrotask();
      throw failure;
    });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const event of stream) seen.push(event);
      })(),
    ).rejects.toBe(failure);
    expect(seen).toEqual(["first"]);
    await expect(stream.result).rejects.toBe(failure);
  });

  it("fails through result, not from the constructor, when the producer throws at once", async () => {
    const failure = new Error("bad arguments");
    const stream = new ResultStream<string, void>(() => {
      throw failure;
    });
    await expect(stream.result).rejects.toBe(failure);
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toBe(failure);
  });

  it("reports no unhandled rejection when the caller only iterates, or does not look at all", async () => {
    const iterated = new ResultStream<string, void>(async () => {
      throw new Error("seen by the iterator");
    });
    await expect(iterated[Symbol.asyncIterator]().next()).rejects.toThrow("seen by the iterator");
    const ignored = new ResultStream<string, void>(async () => {
      throw new Error("seen by nobody");
    });
    await nextMacrotask();
    await nextMacrotask();
    expect(unhandled).toEqual([]);
    await expect(ignored.result).rejects.toThrow("seen by nobody");
  });

  it("runs onSettled before anyone awaiting the result resumes, on success and on failure", async () => {
    for (const fail of [false, true]) {
      let settled = false;
      const stream = new ResultStream<never, string>(
        async () => {
          await nextMacrotask();
          if (fail) throw new Error("failed");
          return "ok";
        },
        { onSettled: () => (settled = true) },
      );
      await stream.result.catch(() => undefined);
      expect(settled).toBe(true);
    }
  });

  it("can be iterated once", async () => {
    const stream = new ResultStream<number, void>(async (emit) => emit(1));
    for await (const _ of stream);
    await expect(stream[Symbol.asyncIterator]().next()).rejects.toThrow(/iterated once/);
  });

  it("wakes a waiting consumer for each event (no polling)", async () => {
    const gate = new AbortController();
    const stream = new ResultStream<string, void>(async (emit) => {
      await once(gate.signal, "abort");
      emit("late");
    });
    const next = stream[Symbol.asyncIterator]().next();
    gate.abort();
    expect(await next).toEqual({ done: false, value: "late" });
  });
});
