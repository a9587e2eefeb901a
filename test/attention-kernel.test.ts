/**
 * The addon's attention kernel (native/attention.h) held to ONNX Runtime's GroupQueryAttention on the
 * same inputs (a one-node model with the genai export's attributes), and the load-time rewrite that
 * points a graph's GroupQueryAttention nodes at it. The engine-level oracle (engine-oracle.test.ts)
 * runs whole models with it, the default.
 *
 * Tolerance: both compute fp32 dot products of 128 terms and an fp32 softmax, in different orders
 * (and our exp is a polynomial good to about 2e-7); the outputs are weighted means of the values, so
 * they agree to a few float32 ulps of the values' magnitude: 1e-5 relative leaves a margin of 10x.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import onnxProto from "onnx-proto";
import { describe, expect, inject, it } from "vitest";

import { rewriteGraph } from "../lib/engine/graph-rewrites.js";
import { loadBinding } from "../lib/engine/binding.js";
import type { NativeBinding } from "../lib/engine/native-types.js";
import { loadModel } from "../lib/index.js";
import { inputs, kernelCases as cases, onnxRuntimeAttention, phi4Heads, writtenRows, type Case } from "./helpers/attention-case.js";
import { THIS_CPU } from "./helpers/cpu.js";
import { relativeError } from "./helpers/oracle.js";

const { onnx } = onnxProto;
const models = inject("models");
const binding = loadBinding() as unknown as NativeBinding;

function ours(c: Case, x: ReturnType<typeof inputs>, portable: boolean) {
  const key = x.key.slice();
  const value = x.value.slice();
  const out = binding.attention({ ...c, ...x, key, value, scale: 1 / Math.sqrt(c.headSize), portable });
  return { out, key, value };
}

describe("the attention kernel", () => {
  for (const portable of [false, true]) {
    const variant = portable ? "portable C++" : `${binding.attentionKernelVariant}, the variant ${THIS_CPU} runs`;
    it.each(cases)(`equals ONNX Runtime's GroupQueryAttention (${variant}): %s`, async (_, c) => {
      const x = inputs(c);
      const theirs = await onnxRuntimeAttention(c, x);
      const mine = ours(c, x, portable);
      expect(relativeError(mine.out, theirs.out)).toBeLessThan(1e-5);
      // The new keys (rotated) and values land where ONNX Runtime puts them; the rest is untouched.
      expect(relativeError(writtenRows(c, mine.key), writtenRows(c, theirs.key))).toBeLessThan(1e-6);
      expect(Array.from(mine.value)).toEqual(Array.from(theirs.value));
    });
  }

  for (const portable of [false, true]) {
    const variant = portable ? "portable C++" : `${binding.attentionKernelVariant}, the variant ${THIS_CPU} runs`;
    it(`gives each row of a chunk the bits it gets run alone, one position after the other (${variant})`, () => {
      // Speculative verification and jump-forward run several positions in one chunk and must get the
      // bits of plain decoding. Rows are paired for the value sums, so an earlier row runs with its
      // neighbour's (larger) count of visible keys; 9 rows leave one unpaired.
      const c: Case = { ...phi4Heads, batch: 1, seq: 9, capacity: 160, past: [100], seed: 8 };
      const x = inputs(c);
      const chunk = ours(c, x, portable);
      const key = x.key.slice();
      const value = x.value.slice();
      const width = (c.heads + 2 * c.kvHeads) * c.headSize;
      const row = c.heads * c.headSize;
      for (let i = 0; i < c.seq; i++) {
        const qkv = x.qkv.slice(i * width, (i + 1) * width);
        const one = binding.attention({
          ...c,
          ...x,
          seq: 1,
          qkv,
          key,
          value,
          seqlensK: Int32Array.of(c.past[0] + i),
          scale: 1 / Math.sqrt(c.headSize),
          portable,
        });
        expect(Array.from(one)).toEqual(Array.from(chunk.out.subarray(i * row, (i + 1) * row)));
      }
      expect(Array.from(key)).toEqual(Array.from(chunk.key));
      expect(Array.from(value)).toEqual(Array.from(chunk.value));
    });
  }

  it("rejects inputs that do not fit together", () => {
    const c: Case = { ...phi4Heads, batch: 1, seq: 4, capacity: 8, past: [6], seed: 6 };
    const x = inputs(c);
    expect(() => binding.attention({ ...c, ...x, scale: 0.1 })).toThrow(/KV cache is too small/);
    expect(() => binding.attention({ ...c, ...x, capacity: 16, scale: 0.1 })).toThrow(/key must have/);
  });
});

describe("the attention kernel graph rewrite", () => {
  it("points every GroupQueryAttention node of the CPU export at the kernel, keeping inputs, outputs and attributes", async () => {
    const file = path.join(models.tinyPhi4, "model.onnx");
    const original = onnx.ModelProto.decode(await readFile(file)).graph!;
    const gqa = (original.node ?? []).filter((node) => node.opType === "GroupQueryAttention");
    const rewritten = await rewriteGraph(file, { lastPositionLogits: null, int4Kernel: false, attentionKernel: true });
    expect(rewritten?.attentionNodes).toBe(gqa.length);
    const model = onnx.ModelProto.decode(rewritten!.bytes);
    for (const before of gqa) {
      const after = model.graph!.node!.find((node) => node.name === before.name)!;
      expect([after.domain, after.opType]).toEqual(["phi4_onnx", "Attention"]);
      expect(after.input).toEqual(before.input);
      expect(after.output).toEqual(before.output);
      expect(after.attribute).toEqual(before.attribute);
    }
  });

  it("is on by default on the CPU and off when asked; both give the same logits", async () => {
    const on = await loadModel(models.tiny, { int4Kernel: false, kvType: "float32" }); // the same cache type as ONNX Runtime's
    const off = await loadModel(models.tiny, { int4Kernel: false, attentionKernel: false });
    try {
      expect(on.info.attentionKernel).toBe(true);
      expect(off.info.attentionKernel).toBe(false);
      const ids = [3, 1, 4, 1, 5, 9, 2, 6];
      const a = await (await on.createSequence({ capacity: 32 })).evaluate(ids);
      const b = await (await off.createSequence({ capacity: 32 })).evaluate(ids);
      // fp32 attention in another order; the int8 rounding of the products downstream can turn a
      // 1e-7 difference into a step (engine-oracle.test.ts derives how far), hence the loose bound.
      expect(relativeError(a, b)).toBeLessThan(5e-2);
    } finally {
      await on.dispose();
      await off.dispose();
    }
  });
});
