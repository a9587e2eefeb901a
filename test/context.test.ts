/**
 * Context (request admission, the FIFO queue, sequence reuse) and the generation loop over its
 * scheduler, against a fake native context: aborts while queued and while running, a failed request
 * handing its sequence to the next one, and the idle sequence chosen for its shared prefix.
 */
import { describe, expect, it } from "vitest";

import { Context } from "../lib/engine/context.js";
import type { Model } from "../lib/engine/model.js";
import type { KvDonor } from "../lib/engine/prefix-reuse.js";
import { FakeContext, nativeError, type FakeSequence } from "./helpers/fake-native.js";

/** What Context, Sequence and Generation read of a Model, with no session behind it. */
function fakeModel(): Model {
  const donors = new Set<KvDonor>();
  return {
    tokenizer: { decode: (ids: number[]) => ids.map((id) => `<${id}>`).join("") },
    folder: { eosTokenIds: [0], ropeOriginalLength: 0 },
    defaultSampling: { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 },
    prefixCache: null,
    // The fake context decodes one token per step: generations here do not draft.
    defaultSpeculative: false,
    recordSpeculation: () => {},
    registerSequence: () => () => {},
    offerKv: (donor: KvDonor) => (donors.add(donor), () => donors.delete(donor)),
    kvDonors: function* (except: KvDonor) {
      for (const donor of donors) if (donor !== except) yield donor;
    },
  } as unknown as Model;
}

function setup(sequences: number, maxQueue = 8) {
  const native = new FakeContext(sequences);
  const context = new Context(native, fakeModel(), maxQueue, 16, () => {});
  return { native, context };
}

const options = { maxTokens: 2, stopTokens: [] };

describe("Context", () => {
  it("a request waiting for a sequence can be aborted; the running one is unaffected", async () => {
    const { native, context } = setup(1);
    const first = context.generateText([1, 2, 3], options);
    const controller = new AbortController();
    const second = context.generateText([4, 5], { ...options, signal: controller.signal });
    const prompt = await native.nextCall();
    expect(context.stats).toMatchObject({ active: 1, queued: 1 });
    controller.abort();
    await expect(second).rejects.toMatchObject({ code: "ABORTED" });
    expect(context.stats.queued).toBe(0);
    prompt.resolve({ token: 7 });
    (await native.nextCall()).resolve([8]);
    expect((await first).tokens).toEqual([7, 8]);
    expect(native.calls.map((call) => call.tokens)).toEqual([[1, 2, 3], []]); // [4, 5] never ran
    expect(context.stats).toMatchObject({ active: 0, queued: 0 });
  });

  it("a running request aborted mid-step is ABORTED, cancelled natively and rewound; its sequence serves the next", async () => {
    const { native, context } = setup(1);
    const controller = new AbortController();
    const first = context.generateText([1, 2, 3], { ...options, signal: controller.signal });
    const second = context.generateText([4, 5], options);
    const prompt = await native.nextCall();
    const sequence = prompt.sequence as FakeSequence;
    controller.abort();
    expect(sequence.cancels).toBe(1);
    prompt.resolve({ token: 7 }); // the step finished before the cancel reached it
    await expect(first).rejects.toMatchObject({ code: "ABORTED" });
    expect(sequence.rewinds.at(-1)).toBe(0);
    const stop = native.serve(9);
    expect((await second).tokens).toEqual([9, 9]);
    stop();
    expect(native.calls[1]).toMatchObject({ kind: "eval", tokens: [4, 5] });
    expect(native.calls[1].sequence).toBe(sequence);
  });

  it("a request whose step fails hands its sequence to the next request in the queue", async () => {
    const { native, context } = setup(1);
    const first = context.generateText([1, 99999], options);
    const second = context.generateText([4, 5], options);
    const stop = native.serve(7, (call) =>
      call.tokens.includes(99999) ? nativeError("TOKEN_OUT_OF_RANGE", "token id 99999 is outside the vocabulary") : undefined,
    );
    await expect(first).rejects.toMatchObject({ code: "TOKEN_OUT_OF_RANGE" });
    expect((await second).tokens).toEqual([7, 7]);
    stop();
    expect(context.stats).toMatchObject({ active: 0, queued: 0 });
  });

  it("picks the idle sequence that shares the longest prefix, and reuses its KV", async () => {
    const { native, context } = setup(2);
    const stop = native.serve(7);
    await Promise.all([context.generateText([1, 2, 3, 4], options), context.generateText([9, 9, 9], options)]);
    const holder = native.calls.find((call) => call.tokens[0] === 9)!.sequence!;
    const result = await context.generateText([9, 9, 9, 5], options);
    stop();
    expect(result.usage.cachedTokens).toBe(3);
    const reused = native.calls.find((call) => call.kind === "eval" && call.tokens[0] === 5)!;
    expect(reused.sequence).toBe(holder);
    expect(reused.tokens).toEqual([5]);
  });

  it("past maxQueue a request is OVERLOADED, and dispose rejects those waiting with DISPOSED", async () => {
    const { native, context } = setup(1, 1);
    const running = context.generateText([1, 2], options);
    const waiting = context.generateText([3, 4], options);
    await expect(context.generateText([5, 6], options)).rejects.toMatchObject({ code: "OVERLOADED" });
    await native.nextCall();
    const disposed = context.dispose();
    await expect(waiting).rejects.toMatchObject({ code: "DISPOSED" });
    // The running generation's sequence was cancelled by the dispose; let its step return.
    native.calls[0].resolve({ token: 7 });
    await expect(running).rejects.toMatchObject({ code: "ABORTED" });
    await disposed;
  });
});
