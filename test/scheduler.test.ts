/**
 * The context's scheduler against a fake native context: which native call runs when (decode steps
 * and prompt chunks alternate), aborts while waiting and while running, a batched step in which one
 * member fails, and the rewind of a prompt that fails halfway.
 */
import { describe, expect, it } from "vitest";

import { Phi4Error } from "../lib/engine/errors.js";
import type { NativeSampling } from "../lib/engine/native-types.js";
import { Scheduler } from "../lib/engine/scheduler.js";
import { FakeContext, nativeError, type FakeCall } from "./helpers/fake-native.js";

const sampling: NativeSampling = { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

function setup(slots = 4, prefillChunk = 4) {
  const native = new FakeContext(slots);
  return { native, scheduler: new Scheduler(native, prefillChunk) };
}

function describeCall(call: FakeCall): string {
  return call.kind === "eval" ? `eval ${call.sequence!.name} ${call.tokens.length}` : `decode ${call.sequences!.map((s) => s.name).join(",")}`;
}

describe("Scheduler", () => {
  it("alternates one prompt chunk and one batched decode step while both wait", async () => {
    const { native, scheduler } = setup();
    const [a, b, c] = [native.createSequence(), native.createSequence(), native.createSequence()];
    a.hold([1, 2]);
    b.hold([3, 4]);
    const prompt = scheduler.step(c, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { sampling }); // 3 chunks of 4
    const seen: string[] = [];
    const decodeA = () => scheduler.step(a, [], { sampling });
    const decodeB = () => scheduler.step(b, [], { sampling });
    let pending = [decodeA(), decodeB()];
    for (let i = 0; i < 5; i++) {
      const call = await native.nextCall();
      seen.push(describeCall(call));
      if (call.kind === "eval") {
        call.resolve({ token: call.tokens.length < 4 ? 42 : null });
      } else {
        call.resolve(call.sequences!.map(() => 5));
        await Promise.all(pending);
        if (i < 2) pending = [decodeA(), decodeB()];
      }
    }
    expect(seen).toEqual(["decode s0,s1", "eval s2 4", "decode s0,s1", "eval s2 4", "eval s2 2"]);
    expect(await prompt).toEqual({ token: 42 });
    expect(c.length).toBe(11); // the prompt and its sampled token
    expect(scheduler.stats).toMatchObject({ decodeSteps: 2, decodedTokens: 4, prefillChunks: 3, batchedDrafts: 0, waiting: 0 });
  });

  it("an abort while queued rejects at once and never reaches native code", async () => {
    const { native, scheduler } = setup();
    const [a, b] = [native.createSequence(), native.createSequence()];
    const first = scheduler.step(a, [1, 2, 3], { sampling });
    const controller = new AbortController();
    const second = scheduler.step(b, [4, 5, 6], { sampling }, controller.signal);
    const call = await native.nextCall(); // a's prompt runs; b's waits behind it
    expect(describeCall(call)).toBe("eval s0 3");
    controller.abort();
    await expect(second).rejects.toMatchObject({ code: "ABORTED" });
    call.resolve({ token: 1 });
    await expect(first).resolves.toEqual({ token: 1 });
    expect(native.calls.map(describeCall)).toEqual(["eval s0 3"]);
    expect(b.rewinds).toEqual([]);
  });

  it("an abort while a prompt runs rejects when its chunk returns and rewinds what ran", async () => {
    const { native, scheduler } = setup();
    const a = native.createSequence();
    a.hold([9, 9]);
    const controller = new AbortController();
    const step = scheduler.step(a, [1, 2, 3, 4, 5, 6], { sampling }, controller.signal);
    const chunk = await native.nextCall();
    controller.abort();
    chunk.resolve({ token: null }); // the chunk finished before the abort reached it
    await expect(step).rejects.toMatchObject({ code: "ABORTED" });
    expect(a.length).toBe(2);
    expect(a.rewinds).toEqual([2]);
    expect(native.calls).toHaveLength(1); // the second chunk never ran
  });

  it("a member that fails in a batched step fails alone", async () => {
    const { native, scheduler } = setup();
    const [a, b, c] = [native.createSequence(), native.createSequence(), native.createSequence()];
    const steps = [a, b, c].map((s) => scheduler.step(s, [], { sampling }));
    const call = await native.nextCall();
    expect(describeCall(call)).toBe("decode s0,s1,s2");
    call.resolve([10, nativeError("TOKEN_OUT_OF_RANGE", "token id 99999 is outside the vocabulary"), 12]);
    const [first, second, third] = await Promise.allSettled(steps);
    expect(first).toEqual({ status: "fulfilled", value: { token: 10 } });
    expect(third).toEqual({ status: "fulfilled", value: { token: 12 } });
    expect(second.status).toBe("rejected");
    const error = (second as PromiseRejectedResult).reason as Phi4Error;
    expect(error).toBeInstanceOf(Phi4Error);
    expect(error.code).toBe("TOKEN_OUT_OF_RANGE");
    expect([a.length, b.length, c.length]).toEqual([1, 0, 1]);
  });

  it("a batched step rejected as a whole fails each of its members and the next step runs", async () => {
    const { native, scheduler } = setup();
    const [a, b] = [native.createSequence(), native.createSequence()];
    const steps = [scheduler.step(a, [], { sampling }), scheduler.step(b, [], { sampling })];
    (await native.nextCall()).reject(nativeError("DISPOSED"));
    for (const result of await Promise.allSettled(steps)) expect(result).toMatchObject({ status: "rejected", reason: { code: "DISPOSED" } });
    const again = scheduler.step(a, [], { sampling });
    (await native.nextCall()).resolve([4]);
    await expect(again).resolves.toEqual({ token: 4 });
  });

  it("a prompt that fails halfway is rewound to where it started", async () => {
    const { native, scheduler } = setup();
    const a = native.createSequence();
    a.hold([7]);
    const step = scheduler.step(a, [1, 2, 3, 4, 5, 6, 7, 8, 9], { sampling });
    (await native.nextCall()).resolve({ token: null });
    (await native.nextCall()).reject(nativeError("ORT_ERROR", "the run failed"));
    await expect(step).rejects.toMatchObject({ code: "ORT_ERROR" });
    expect(a.length).toBe(1);
    expect(a.rewinds).toEqual([1]);
    expect(scheduler.stats.waiting).toBe(0);
  });

  it("exclusive tasks run between steps, never during one", async () => {
    const { native, scheduler } = setup();
    const a = native.createSequence();
    const step = scheduler.step(a, [1, 2], { sampling });
    const call = await native.nextCall();
    let ran = false;
    const task = scheduler.exclusive(async () => {
      ran = true;
      return "done";
    });
    await Promise.resolve();
    expect(ran).toBe(false);
    call.resolve({ token: 3 });
    await step;
    await expect(task).resolves.toBe("done");
  });
});
