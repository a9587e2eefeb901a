/**
 * The engine against the oracle: greedy tokens equal the argmax of a full recomputation of the same
 * model.onnx through onnxruntime-node, and last-row logits agree to 1e-3 relative. Covers prefill in
 * one run and in chunks, decode, and prompts that cross the LongRoPE switch (tiny: 64 tokens), with
 * the lm_head on the last position only (the default load-time rewrite) and on every position, and
 * with the int4 products on the addon's kernel (the default where the CPU has AVX2) or on ONNX
 * Runtime's.
 *
 * With the addon's kernel the logits agree to a looser bound. The kernel computes what MatMulNBits
 * computes (int8 activations times int4 weights, equal to ONNX Runtime's to 1e-5 on the same inputs:
 * int4-kernel.test.ts), but adds floats in another order; the 1e-7 differences that leaves upstream
 * can move an activation across a rounding boundary of its int8 quantization, and these random
 * two-layer models amplify one such step to about 1e-2 of the logits. So its greedy token must equal
 * the oracle's wherever the oracle's top two are further apart than that bound, and the comparison
 * follows the oracle's tokens (the other checks use ONNX Runtime's kernel, EXACT_ORACLE_OPTIONS).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";

import { int4KernelSupported } from "../lib/engine/runtime.js";
import { loadModel, type Model } from "../lib/index.js";
import { argmax, EXACT_ORACLE_OPTIONS, Oracle, relativeError } from "./helpers/oracle.js";

const models = inject("models");

/** Deterministic pseudo-random token ids below `vocab`. */
function tokenIds(count: number, vocab: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % vocab;
  });
}

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
      const expected = await oracle.greedy(ids, generate);
      for (const m of [model, chunked, allPositions]) {
        const sequence = await m.createSequence({ capacity: 200 });
        const result = await sequence.generateText(ids, { maxTokens: generate, stopTokens: [], sampling: { greedy: true } });
        expect(result.tokens).toEqual(expected);
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

  it.each(["last", "all"])("last-row logits agree to 1e-3 relative at every step, across the switch (lm_head on %s positions)", async (which) => {
    const ids = tokenIds(60, Math.min(model.folder.vocabSize, 5000), 7);
    const sequence = await (which === "last" ? chunked : allPositions).createSequence({ capacity: 128 });
    let logits = await sequence.evaluate(ids);
    const tokens = [...ids];
    for (let step = 0; step < 8; step++) {
      const reference = await oracle.lastLogits(tokens);
      expect(relativeError(logits, reference)).toBeLessThan(1e-3);
      expect(argmax(logits)).toBe(argmax(reference));
      const next = argmax(logits);
      tokens.push(next);
      logits = await sequence.evaluate([next]);
    }
    expect(tokens.length).toBeGreaterThan(64); // crossed tiny's original_max_position_embeddings
    await sequence.dispose();
  });

  it.runIf(int4KernelSupported())("with the addon's int4 kernel: logits within 3e-2, greedy tokens equal away from near-ties, across the switch", async () => {
    expect(int4Kernel.info.int4Kernel).toBe(true);
    const bound = 3e-2;
    let checked = 0;
    for (const [length, seed] of [[5, 11], [40, 12], [60, 13], [90, 14]]) {
      const tokens = tokenIds(length, Math.min(model.folder.vocabSize, 5000), seed);
      const sequence = await int4Kernel.createSequence({ capacity: 128 });
      let logits = await sequence.evaluate(tokens);
      for (let step = 0; step < 10; step++) {
        const reference = await oracle.lastLogits(tokens);
        expect(relativeError(logits, reference)).toBeLessThan(bound);
        const next = argmax(reference);
        const scale = reference.reduce((max, v) => Math.max(max, Math.abs(v)), 0);
        const runnerUp = reference.reduce((max, v, i) => (i === next ? max : Math.max(max, v)), -Infinity);
        if (reference[next] - runnerUp > bound * scale) {
          expect(argmax(logits)).toBe(next);
          checked++;
        }
        tokens.push(next);
        logits = await sequence.evaluate([next]);
      }
      await sequence.dispose();
    }
    expect(checked).toBeGreaterThanOrEqual(20); // half the 40 steps at least: near-ties are the exception
  });

  it("the random model is not degenerate: different prompts give different greedy tokens", async () => {
    const vocab = Math.min(model.folder.vocabSize, 5000);
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 6; seed++) firsts.add(argmax(await oracle.lastLogits(tokenIds(6, vocab, seed))));
    expect(firsts.size).toBeGreaterThan(2);
  });
});
