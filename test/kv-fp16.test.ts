/**
 * Models loaded with kvType "float16": fp32 CPU graphs whose KV cache the attention kernel stores in
 * fp16. Held to the fp32 oracle (full recomputation through onnxruntime-node) with the tolerance
 * Oracle.reference() derives for an fp16 cache (helpers/oracle.ts: FP16_KV_SHARE), logits at every
 * teacher-forced step and greedy tokens away from near-ties, over prefill chunks, decode, batched
 * decode, snapshot/restore and the LongRoPE switch (tiny: 64 tokens); and the bookkeeping that keeps
 * fp16 and fp32 states apart.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { loadModel, Phi4Error, type Model } from "../lib/index.js";
import { EXACT_ORACLE_OPTIONS, Oracle, tokenIds } from "./helpers/oracle.js";

const models = inject("models");
const greedy = { greedy: true };
const HALF = { kvType: "float16" } as const;

describe.each([
  { name: "tiny", dir: models.tiny },
  { name: "tiny-phi4 (Phi-4-mini's heads)", dir: models.tinyPhi4 },
])("$name with an fp16 KV cache", ({ dir }) => {
  let half: Model;
  let full: Model;
  let oracle: Oracle;
  let vocab: number;

  beforeAll(async () => {
    // Small prefill chunks so that prompts take several runs, also under the long RoPE regime.
    half = await loadModel(dir, { ...EXACT_ORACLE_OPTIONS, ...HALF, prefillChunk: 16 });
    full = await loadModel(dir, { ...EXACT_ORACLE_OPTIONS, prefillChunk: 16 });
    oracle = await Oracle.load(dir);
    vocab = Math.min(half.folder.vocabSize, 5000);
  });
  afterAll(async () => {
    await half.dispose();
    await full.dispose();
    await oracle.release();
  });

  it("stores the cache in fp16: half the bytes per token, in states too", async () => {
    expect(half.info.kvType).toBe("float16");
    expect(half.info.attentionKernel).toBe(true);
    expect(full.info.kvType).toBe("float32");
    expect(half.info.kvBytesPerToken * 2).toBe(full.info.kvBytesPerToken);
    expect(half.kvLayout.kvType).toBe("float16");
    const sequence = await half.createSequence({ capacity: 64 });
    await sequence.evaluate(tokenIds(10, vocab, 1));
    const state = await sequence.saveState();
    expect(state.kvType).toBe("float16");
    expect(state.kv.byteLength).toBe(state.kvLength * half.info.kvBytesPerToken);
    await sequence.dispose();
  });

  it("last-row logits stay within the fp16 tolerance at every step, through chunks, decode and the RoPE switch", async () => {
    const tokens = tokenIds(58, vocab, 7);
    const sequence = await half.createSequence({ capacity: 128 });
    const decisive = await oracle.follow(sequence, tokens, 10, HALF);
    expect(tokens.length).toBeGreaterThan(64); // crossed tiny's original_max_position_embeddings
    expect(decisive).toBeGreaterThanOrEqual(1);
    await sequence.dispose();
  });

  it.each([
    { label: "short prompt", prompt: 5, generate: 12 },
    { label: "prompt that decodes across the RoPE switch", prompt: 55, generate: 16 },
    { label: "prompt already past the RoPE switch", prompt: 90, generate: 8 },
  ])("greedy tokens equal full recomputation away from near-ties: $label", async ({ prompt, generate }) => {
    const ids = tokenIds(prompt, vocab, prompt);
    const sequence = await half.createSequence({ capacity: 200 });
    const result = await sequence.generateText(ids, { maxTokens: generate, stopTokens: [], sampling: greedy });
    await oracle.expectGreedy(ids, result.tokens, generate, HALF);
    await sequence.dispose();
  });

  it("batched decode gives each sequence what it gets alone", async () => {
    const requests = [
      { prompt: tokenIds(23, vocab, 3), maxTokens: 10 },
      { prompt: tokenIds(60, vocab, 5), maxTokens: 10 }, // crosses the switch while decoding
      { prompt: tokenIds(2, vocab, 6), maxTokens: 10 },
    ];
    const alone = [];
    for (const r of requests) {
      const sequence = await half.createSequence({ capacity: 200 });
      alone.push((await sequence.generateText(r.prompt, { maxTokens: r.maxTokens, stopTokens: [], sampling: greedy })).tokens);
      await sequence.dispose();
    }
    const context = await half.createContext({ sequences: 3, capacity: 200 });
    const results = await Promise.all(requests.map((r) => context.generateText(r.prompt, { maxTokens: r.maxTokens, stopTokens: [], sampling: greedy })));
    expect(results.map((r) => r.tokens)).toEqual(alone);
    expect(context.stats.decodedTokens / context.stats.decodeSteps).toBeGreaterThan(1.5); // steps really were shared
    await oracle.expectGreedy(requests[1].prompt, alone[1], 10, HALF);
    await context.dispose();
  });

  it("a snapshot restored into another sequence continues exactly as the original, across the switch", async () => {
    const prompt = tokenIds(50, vocab, 21);
    const original = await half.createSequence({ capacity: 128 });
    await original.evaluate(prompt);
    const state = await original.saveState();
    const copy = await half.createSequence({ capacity: 128 });
    await copy.restoreState(state);
    const a = await original.generateText([], { maxTokens: 20, stopTokens: [], sampling: greedy });
    const b = await copy.generateText([], { maxTokens: 20, stopTokens: [], sampling: greedy });
    expect(b.tokens).toEqual(a.tokens);
    await oracle.expectGreedy(prompt, b.tokens, 20, HALF);
    await Promise.all([original.dispose(), copy.dispose()]);
  });
});

describe("fp16 and fp32 KV states", () => {
  let half: Model;
  let full: Model;
  let scratch: string;

  beforeAll(async () => {
    half = await loadModel(models.tiny, { ...EXACT_ORACLE_OPTIONS, ...HALF });
    full = await loadModel(models.tiny, EXACT_ORACLE_OPTIONS);
    scratch = await mkdtemp(path.join(os.tmpdir(), "phi4-kv-fp16-"));
  });
  afterAll(async () => {
    await half.dispose();
    await full.dispose();
    await rm(scratch, { recursive: true, force: true });
  });

  it("are never loaded into a model of the other type (STATE_MISMATCH), in memory or from a file", async () => {
    for (const [from, to] of [
      [half, full],
      [full, half],
    ]) {
      const source = await from.createSequence({ capacity: 32 });
      await source.evaluate([1, 2, 3, 4, 5]);
      const target = await to.createSequence({ capacity: 32 });
      const state = await source.saveState();
      await expect(target.restoreState(state)).rejects.toMatchObject({ code: "STATE_MISMATCH", message: expect.stringMatching(/kvType/) });
      const file = path.join(scratch, `${from.info.kvType}.state`);
      await source.saveStateFile(file);
      await expect(target.loadStateFile(file)).rejects.toMatchObject({ code: "STATE_MISMATCH" });
      expect(target.tokens).toEqual([]); // left untouched
      await Promise.all([source.dispose(), target.dispose()]);
    }
  });

  it("the prefix cache reuses fp16 states within the model, at fp16's size", async () => {
    const conversation = tokenIds(30, 500, 3);
    const first = await half.createSequence({ capacity: 100 });
    await first.generateText(conversation, { maxTokens: 3, stopTokens: [], sampling: greedy });
    // Switching the sequence to another conversation saves the first one to the prefix cache.
    await first.generateText(tokenIds(5, 500, 4), { maxTokens: 1, stopTokens: [], sampling: greedy, append: false });
    const stats = half.prefixCache!.stats;
    expect(stats.entries).toBe(1);
    expect(stats.bytes).toBe((conversation.length + 2) * half.info.kvBytesPerToken); // the last sampled token has no KV
    const second = await half.createSequence({ capacity: 100 });
    const hit = await second.generateText([...conversation, 7, 8], { maxTokens: 3, stopTokens: [], sampling: greedy, append: false });
    expect(hit.usage.cachedTokens).toBe(conversation.length);
    await Promise.all([first.dispose(), second.dispose()]);
  });
});

describe("kvType", () => {
  it("is float16 by default where the attention kernel runs, else the graph's type", async () => {
    const byDefault = await loadModel(models.tiny);
    const withoutKernel = await loadModel(models.tiny, { attentionKernel: false });
    try {
      expect(byDefault.info.kvType).toBe("float16");
      expect(withoutKernel.info.kvType).toBe("float32");
    } finally {
      await byDefault.dispose();
      await withoutKernel.dispose();
    }
  });

  it("float16 needs the attention kernel: with ONNX Runtime's GroupQueryAttention it is INVALID_ARGUMENT, saying why", async () => {
    const error = await loadModel(models.tiny, { attentionKernel: false, kvType: "float16" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Phi4Error);
    expect(error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/attention kernel/) });
  });

  it("float32 keeps the fp32 cache; an unknown type is INVALID_ARGUMENT", async () => {
    const model = await loadModel(models.tiny, { kvType: "float32" });
    expect(model.info.kvType).toBe("float32");
    await model.dispose();
    await expect(loadModel(models.tiny, { kvType: "bfloat16" as never })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
