/**
 * A failing request fails alone: a bad request batched with good ones is rejected with its own error
 * while the others finish with exactly their tokens, a failed batched step leaves no sequence a token
 * ahead, and a cancel never outlives the operation it was meant for.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, Phi4Error, type Model } from "../lib/index.js";
import type { NativeModel, NativeSampling } from "../lib/engine/native-types.js";

const models = inject("models");
const greedy = { greedy: true };
const nativeGreedy: NativeSampling = { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

function ids(count: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => (x = (x * 1103515245 + 12345) % 2147483648) % 500);
}

/** The addon's model under a Model, for tests that drive the native objects directly. */
function nativeOf(model: Model): NativeModel {
  return (model as unknown as { native: NativeModel }).native;
}

describe("failure isolation", () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(models.tiny, { prefillChunk: 16, prefixCache: false });
  });
  afterAll(() => model.dispose());

  async function alone(prompt: number[], maxTokens: number): Promise<number[]> {
    const sequence = await model.createSequence({ capacity: 100 });
    const { tokens } = await sequence.generateText(prompt, { maxTokens, stopTokens: [], sampling: greedy });
    await sequence.dispose();
    return tokens;
  }

  it.each([2, 4])("a request with an out-of-range token fails alone in a context of %i sequences", async (sequences) => {
    const expected = await alone([1, 2, 3], 12);
    const context = await model.createContext({ sequences, capacity: 100 });
    for (let round = 0; round < 3; round++) {
      const [good, bad] = await Promise.allSettled([
        context.generateText([1, 2, 3], { maxTokens: 12, stopTokens: [], sampling: greedy }),
        context.generateText([1, 99999], { maxTokens: 12, stopTokens: [], sampling: greedy }),
      ]);
      expect(good.status === "fulfilled" ? good.value.tokens : good.reason).toEqual(expected);
      expect(bad.status).toBe("rejected");
      expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(Phi4Error);
      expect((bad as PromiseRejectedResult).reason.code).toBe("TOKEN_OUT_OF_RANGE");
    }
    expect(context.stats).toMatchObject({ active: 0, queued: 0, waiting: 0 });
    await context.dispose();
  });

  it("a member that fails in a batched step fails alone and keeps its tokens", async () => {
    const context = await nativeOf(model).createContext(3, 100);
    const [a, b, c] = [context.createSequence(), context.createSequence(), context.createSequence()];
    await a.eval(ids(10, 1), { sampling: nativeGreedy }); // 10 tokens and a sampled, pending one
    await c.eval(ids(40, 3), { sampling: nativeGreedy });
    // b has nothing to evaluate; c's sampling fails (a mask allowing no token) after its token ran.
    const none: NativeSampling = { ...nativeGreedy, allowedTokens: new Uint8Array(64) };
    const results = await context.decode([a, b, c], [nativeGreedy, nativeGreedy, none]);
    expect(typeof results[0]).toBe("number");
    expect(results[1]).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(results[2]).toMatchObject({ code: "INVALID_ARGUMENT" });
    expect([a.length, b.length, c.length]).toEqual([12, 0, 41]);
    // c continues exactly where it was: the same tokens as the same prompt run alone.
    const [next] = await context.decode([c], [nativeGreedy]);
    expect(typeof next).toBe("number");
    expect(Array.from(c.tokens()).slice(40)).toEqual(await alone(ids(40, 3), 2));
    for (const s of [a, b, c]) s.dispose();
    context.dispose();
  });

  it("a cancel during a batched step or a state copy does not abort the sequence's next operation", async () => {
    // tiny switches to the long RoPE regime past 64 tokens. A step across the switch leaves the batched
    // path for a full re-prefill, which checks the cancel flag between chunks: a flag left over from
    // an earlier operation would abort it.
    const context = await nativeOf(model).createContext(2, 100);
    const [a, b] = [context.createSequence(), context.createSequence()];
    await a.eval(ids(63, 4), { sampling: nativeGreedy }); // 64 tokens, the last one pending
    await b.eval(ids(20, 5), { sampling: nativeGreedy });
    const step = context.decode([a, b], [nativeGreedy, nativeGreedy]);
    a.cancel(); // while the step is queued, running, or done but not yet settled: the worker is not waited for
    const [first, other] = await step;
    expect(typeof other).toBe("number");
    // Cancelled in time, a sampled nothing (ABORTED); too late, it kept its token. Either way it is whole.
    if (typeof first === "number") expect(a.length).toBe(65);
    else expect([first, a.length]).toMatchObject([{ code: "ABORTED" }, 64]);
    while (a.length < 66) {
      const [token] = await context.decode([a], [nativeGreedy]); // the step from 65 tokens crosses the switch
      expect(token).toBeTypeOf("number");
    }
    expect([a.length, a.longRope]).toEqual([66, true]);

    // A cancel during a state copy (which no run checks) must not reach the next step either.
    const save = a.saveState(10);
    a.cancel();
    await save;
    a.rewind(63); // the next step goes back below the switch: a full re-prefill again
    const [back] = await context.decode([a], [nativeGreedy]);
    expect(typeof back).toBe("number");
    expect([a.length, a.longRope]).toEqual([64, false]);
    a.dispose();
    b.dispose();
    context.dispose();
  });
});
