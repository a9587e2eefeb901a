/**
 * The engine against the oracle (the same model.onnx through onnxruntime-node with full
 * recomputation): last-row logits within the tolerance the int8 activation rounding allows, and
 * greedy tokens held to the oracle's by teacher forcing. Covers prefill in one run and in chunks,
 * decode, and prompts that cross the LongRoPE switch (tiny: 64 tokens), with the lm_head on the last
 * position only (the default load-time rewrite) and on every position, and with the int4 products on
 * the addon's kernel (the default where the CPU has AVX2) or on ONNX Runtime's.
 *
 * Why a tolerance and not equality: MatMulNBits at accuracy level 4 rounds every activation to int8.
 * The engine adds floats in another order than the oracle (KV cache, chunks, threads, and on its own
 * kernel other micro-kernels), so an activation that sits within a float rounding of an int8 boundary
 * can round the other way, and these random models carry that to the logits. Oracle.reference()
 * derives the bound from the model itself (twice the logits' change from float to int8 activations)
 * instead of from what one CPU happened to produce; greedy runs are compared step by step on the
 * engine's own tokens, so a near-tie between two tokens cannot flip a test.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { int4KernelSupported, int4KernelVariant } from "../lib/engine/runtime.js";
import { loadModel, type Model } from "../lib/index.js";
import { THIS_CPU } from "./helpers/cpu.js";
import { argmax, EXACT_ORACLE_OPTIONS, Oracle, tokenIds } from "./helpers/oracle.js";

const models = inject("models");

describe.each([
  { name: "tiny", dir: models.tiny },
  { name: "tiny-phi4", dir: models.tinyPhi4 },
])("$name", ({ dir }) => {
  let model: Model;
  let chunked: Model;
  let allPositions: Model;
  let int4Kernel: Model;
  let oracle: Oracle;

  beforeAll(async () => {
    model = await loadModel(dir, EXACT_ORACLE_OPTIONS);
    // Small prefill chunks so long prompts take several runs, including under the long RoPE regime.
    chunked = await loadModel(dir, { ...EXACT_ORACLE_OPTIONS, prefillChunk: 16 });
    allPositions = await loadModel(dir, { ...EXACT_ORACLE_OPTIONS, prefillChunk: 16, lastPositionLogits: false });
    int4Kernel = await loadModel(dir, { prefillChunk: 16 });
    oracle = await Oracle.load(dir);
  });
  afterAll(async () => {
    await model.dispose();
    await chunked.dispose();
    await allPositions.dispose();
    await int4Kernel.dispose();
    await oracle.release();
  });

  const cases = [
    { label: "short prompt", prompt: 5, generate: 12 },
    { label: "prompt that decodes across the RoPE switch", prompt: 55, generate: 20 },
    { label: "prompt already past the RoPE switch", prompt: 90, generate: 8 },
  ];

  for (const { label, prompt, generate } of cases) {
    it(`greedy tokens equal full recomputation: ${label}`, async () => {
      const ids = tokenIds(prompt, Math.min(model.folder.vocabSize, 5000), prompt);
      for (const m of [model, chunked, allPositions]) {
        const sequence = await m.createSequence({ capacity: 200 });
        const result = await sequence.generateText(ids, { maxTokens: generate, stopTokens: [], sampling: { greedy: true } });
        await oracle.expectGreedy(ids, result.tokens, generate);
        expect(result.stopReason).toBe("max_tokens");
        await sequence.dispose();
      }
    });
  }

  it("loads with the lm_head on the last position only, unless told not to", () => {
    expect(model.info.lastPositionLogits).toBe(true);
    expect(chunked.info.lastPositionLogits).toBe(true);
    expect(allPositions.info.lastPositionLogits).toBe(false);
    expect(chunked.info.int4Kernel).toBe(false);
  });

  /** Teacher-forced steps from `tokens`: the engine's logits against the oracle's, the oracle's token fed next. */
  const followOracle = (m: Model, sequence: Awaited<ReturnType<Model["createSequence"]>>, tokens: number[], steps: number) =>
    oracle.follow(sequence, tokens, steps, { kvType: m.info.kvType });

  it.each(["last", "all"])(
    "last-row logits agree within the int8 rounding tolerance at every step, across the switch (lm_head on %s positions)",
    async (which) => {
      const tokens = tokenIds(60, Math.min(model.folder.vocabSize, 5000), 7);
      const sequence = await (which === "last" ? chunked : allPositions).createSequence({ capacity: 128 });
      // With the real vocabulary's 200k rows, the random model's top two are often within the tolerance;
      // the logits check above holds at every step, the token check wherever the margin is decisive.
      const decisive = await followOracle(chunked, sequence, tokens, 8);
      expect(decisive).toBeGreaterThanOrEqual(1);
      expect(tokens.length).toBeGreaterThan(64); // crossed tiny's original_max_position_embeddings
      await sequence.dispose();
    },
  );

  it.runIf(int4KernelSupported())(
    `with the addon's int4 kernel (${int4KernelVariant()} on ${THIS_CPU}): logits within the int8 rounding tolerance, greedy tokens equal away from near-ties, across the switch`,
    async () => {
      expect(int4Kernel.info.int4Kernel).toBe(true);
      let decisive = 0;
      for (const [length, seed] of [
        [5, 11],
        [40, 12],
        [60, 13],
        [90, 14],
      ]) {
        const sequence = await int4Kernel.createSequence({ capacity: 128 });
        decisive += await followOracle(int4Kernel, sequence, tokenIds(length, Math.min(model.folder.vocabSize, 5000), seed), 10);
        await sequence.dispose();
      }
      expect(decisive).toBeGreaterThanOrEqual(20); // half the 40 steps at least: near-ties are the exception
    },
  );

  it("the random model is not degenerate: different prompts give different greedy tokens", async () => {
    const vocab = Math.min(model.folder.vocabSize, 5000);
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 6; seed++) firsts.add(argmax(await oracle.lastLogits(tokenIds(6, vocab, seed))));
    expect(firsts.size).toBeGreaterThan(2);
  });
});
