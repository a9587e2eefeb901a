/**
 * The attention kernel over an fp16 KV cache (native/attention.h, kvType "float16"), held to ONNX
 * Runtime's fp32 GroupQueryAttention on the same inputs, and the graph rewrite that gives a model an
 * fp16 cache.
 *
 * Error analysis (the bound `fp16Bound` computes). ONNX Runtime is given the fp16 past widened to
 * fp32, so both sides see the same past keys and values; what differs is the new rows, which the
 * kernel stores rounded to fp16: k~ = k (1 + d) + a, v~ = v (1 + e) + b elementwise, |d|, |e| <= u =
 * 2^-11 (fp16 keeps 11 significant bits; round to nearest halves the 2^-10 spacing) and |a|, |b| <= t =
 * 2^-25 (half the spacing of fp16's subnormals, for values below 2^-14). Then
 * - a score s_j = scale q . k_j moves by |scale sum_d q_d (k_jd d_jd + a_jd)|
 *   <= scale ||q|| (u ||k_j|| + t sqrt(head_size)) =: eps (Cauchy-Schwarz; the rotation keeps norms);
 * - a softmax weight p_j = e^s_j / sum_i e^s_i, with every score moved by at most eps, changes by a
 *   factor between e^-2eps and e^2eps: |p~_j - p_j| <= (e^2eps - 1) p_j;
 * - the output o = sum_j p_j v_j moves by |sum_j (p~_j - p_j) v~_j + sum_j p_j (v~_j - v_j)|
 *   <= (e^2eps - 1)((1 + u) V + t) + u V + t, V = max |v| (the weights sum to 1);
 * plus the fp32 reordering both already differ by (attention-kernel.test.ts: 1e-5 of the values).
 * Stored values are rounded fp32 inputs, so they must equal the nearest fp16 bit for bit; stored keys
 * are rotated first (in fp32, in another order than ONNX Runtime: within 1e-6 of the largest key, the
 * fp32 kernel's bound), so each lies within u |k| + t of ONNX Runtime's fp32 key plus that rotation
 * difference (twice, rounded along).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import onnxProto from "onnx-proto";
import { describe, expect, inject, it } from "vitest";

import { useAttentionKernel } from "../lib/engine/attention-graph.js";
import { loadBinding } from "../lib/engine/binding.js";
import { rewriteGraph } from "../lib/engine/graph-rewrites.js";
import type { NativeBinding } from "../lib/engine/native-types.js";
import { float16Bits, fromFloat16, toFloat16 } from "../lib/modelmaker/float16.js";
import { inputs, kernelCases, onnxRuntimeAttention, phi4Heads, writtenRows, type Case } from "./helpers/attention-case.js";
import { THIS_CPU } from "./helpers/cpu.js";

const { onnx } = onnxProto;
const models = inject("models");
const binding = loadBinding() as unknown as NativeBinding;
const U = 2 ** -11;
const T = 2 ** -25;

/** The problem with its cache in fp16: the past rounded once, as the engine would have stored it. */
function halfInputs(c: Case) {
  const x = inputs(c);
  const keyHalf = toFloat16(x.key);
  const valueHalf = toFloat16(x.value);
  return { ...x, keyHalf, valueHalf, key: new Float32Array(fromFloat16(keyHalf)), value: new Float32Array(fromFloat16(valueHalf)) };
}

function ours(c: Case, x: ReturnType<typeof halfInputs>, portable: boolean) {
  const keyHalf = x.keyHalf.slice();
  const valueHalf = x.valueHalf.slice();
  const { qkv, seqlensK, cos, sin, cacheRows } = x;
  const out = binding.attention({ ...c, qkv, seqlensK, cos, sin, cacheRows, keyHalf, valueHalf, scale: 1 / Math.sqrt(c.headSize), portable });
  return { out, keyHalf, valueHalf };
}

function norm(values: Float32Array, start: number, length: number): number {
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += values[i] * values[i];
  return Math.sqrt(sum);
}

/** The bound of the header on max |ours - ONNX Runtime| over the outputs. */
function fp16Bound(c: Case, x: ReturnType<typeof halfInputs>): number {
  const D = c.headSize;
  const width = (c.heads + 2 * c.kvHeads) * D;
  let maxQuery = 0;
  let maxKey = 0;
  let maxValue = 0;
  for (let row = 0; row < c.batch * c.seq; row++) {
    for (let h = 0; h < c.heads; h++) maxQuery = Math.max(maxQuery, norm(x.qkv, row * width + h * D, D));
    for (let g = 0; g < c.kvHeads; g++) maxKey = Math.max(maxKey, norm(x.qkv, row * width + (c.heads + g) * D, D));
    for (let i = (c.heads + c.kvHeads) * D; i < width; i++) maxValue = Math.max(maxValue, Math.abs(x.qkv[row * width + i]));
  }
  for (const v of x.value) maxValue = Math.max(maxValue, Math.abs(v));
  const eps = (maxQuery * (U * maxKey + T * Math.sqrt(D))) / Math.sqrt(D);
  return Math.expm1(2 * eps) * ((1 + U) * maxValue + T) + U * maxValue + T + 1e-5 * maxValue;
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < b.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe("the attention kernel over an fp16 KV cache", () => {
  for (const portable of [false, true]) {
    const variant = portable ? "portable C++, half.h's conversions" : `${binding.attentionKernelVariant}, the variant ${THIS_CPU} runs, with F16C`;
    it.each(kernelCases)(`is ONNX Runtime's fp32 GroupQueryAttention within the fp16 rounding bound (${variant}): %s`, async (_, c) => {
      const x = halfInputs(c);
      const theirs = await onnxRuntimeAttention(c, x);
      const mine = ours(c, x, portable);
      const bound = fp16Bound(c, x);
      const difference = maxDifference(mine.out, theirs.out);
      expect(difference).toBeLessThan(bound);
      expect(difference).toBeGreaterThan(0); // the new rows were rounded: not the fp32 computation again
      // New values: ONNX Runtime's fp32 values rounded to nearest even, bit for bit; past rows untouched.
      expect(Array.from(mine.valueHalf)).toEqual(Array.from(toFloat16(theirs.value)));
      // New keys: rotated in fp32, then rounded, so within u |k| + t of ONNX Runtime's rotated fp32 keys.
      const keys = writtenRows(c, fromFloat16(mine.keyHalf));
      const reference = writtenRows(c, theirs.key);
      const rotation = 1e-6 * Math.max(...Array.from(reference, Math.abs)); // the fp32 kernel's bound (attention-kernel.test.ts)
      for (let i = 0; i < reference.length; i++) expect(Math.abs(keys[i] - reference[i])).toBeLessThanOrEqual(U * Math.abs(reference[i]) + T + 2 * rotation);
    });
  }

  it.each(kernelCases)("stores the same fp16 bits with every variant: %s", (_, c) => {
    const x = halfInputs(c);
    const simd = ours(c, x, false);
    const portable = ours(c, x, true);
    expect(Array.from(simd.keyHalf)).toEqual(Array.from(portable.keyHalf));
    expect(Array.from(simd.valueHalf)).toEqual(Array.from(portable.valueHalf));
  });

  it("rounds new values to nearest even as IEEE binary16 does, with ties, subnormals and overflow (every variant)", () => {
    const c: Case = { ...phi4Heads, batch: 1, seq: 1, capacity: 4, past: [0], seed: 8 };
    const x = halfInputs(c);
    const width = (c.heads + 2 * c.kvHeads) * c.headSize;
    const special = [0, -0, 1e-8, -3e-6, 2 ** -24 * 1.5, 6.1e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -12), 65504, 65519, 65520, -1e5, 1 / 3, Math.PI];
    const valueStart = (c.heads + c.kvHeads) * c.headSize;
    for (let i = valueStart; i < width; i++) x.qkv[i] = special[i % special.length] * (i % 7 === 0 ? 1 : 1.0001);
    const expected = Array.from(x.qkv.subarray(valueStart, valueStart + c.headSize), float16Bits);
    for (const portable of [false, true]) {
      const mine = ours(c, x, portable);
      expect(Array.from(mine.valueHalf.subarray(0, c.headSize))).toEqual(expected);
    }
  });

  it("rejects a problem with both an fp32 and an fp16 cache, or half of one", () => {
    const c: Case = { ...phi4Heads, batch: 1, seq: 1, capacity: 8, past: [2], seed: 9 };
    const x = halfInputs(c);
    const scale = 0.1;
    expect(() => binding.attention({ ...c, ...x, scale })).toThrow(/one fp32 or one fp16/);
    const { qkv, seqlensK, cos, sin, cacheRows, keyHalf, valueHalf } = x;
    expect(() => binding.attention({ ...c, qkv, seqlensK, cos, sin, cacheRows, keyHalf: keyHalf.subarray(1), valueHalf, scale })).toThrow(/keyHalf must have/);
    expect(() => binding.attention({ ...c, qkv, seqlensK, cos, sin, cacheRows, scale })).toThrow(/one fp32 or one fp16/);
  });
});

describe("the fp16 KV graph rewrite", () => {
  it("gives every GroupQueryAttention node the fp16-cache op and makes the KV inputs and outputs float16", async () => {
    const file = path.join(models.tinyPhi4, "model.onnx");
    const original = onnx.ModelProto.decode(await readFile(file)).graph!;
    const gqa = (original.node ?? []).filter((node) => node.opType === "GroupQueryAttention");
    const rewritten = await rewriteGraph(file, { lastPositionLogits: null, int4Kernel: false, attentionKernel: true, halfKv: true });
    expect(rewritten?.halfKv).toBe(true);
    expect(rewritten?.attentionNodes).toBe(gqa.length);
    const graph = onnx.ModelProto.decode(rewritten!.bytes).graph!;
    for (const node of graph.node!.filter((n) => n.domain === "phi4_onnx" && n.opType?.startsWith("Attention"))) expect(node.opType).toBe("AttentionHalfKv");
    const type = (infos: onnxProto.onnx.IValueInfoProto[], name: string) => infos.find((i) => i.name === name)?.type?.tensorType?.elemType;
    for (const node of gqa) {
      for (const name of [node.input![3], node.input![4]]) expect(type(graph.input!, name)).toBe(onnx.TensorProto.DataType.FLOAT16);
      for (const name of [node.output![1], node.output![2]]) expect(type(graph.output!, name)).toBe(onnx.TensorProto.DataType.FLOAT16);
      expect(type(graph.output!, node.output![0]) ?? onnx.TensorProto.DataType.FLOAT).toBe(onnx.TensorProto.DataType.FLOAT);
    }
    expect(type(graph.input!, "input_ids")).toBe(onnx.TensorProto.DataType.INT64);
  });

  it("leaves the cache fp32 when a GroupQueryAttention node stays with ONNX Runtime", async () => {
    const file = path.join(models.tinyPhi4, "model.onnx");
    const model = onnx.ModelProto.decode(await readFile(file));
    const first = model.graph!.node!.find((node) => node.opType === "GroupQueryAttention")!;
    first.attribute!.push({ name: "softcap", type: onnx.AttributeProto.AttributeType.FLOAT, f: 30 }); // a node the kernel does not run
    const result = useAttentionKernel(model, { halfKv: true });
    expect(result.halfKv).toBe(false);
    expect(result.nodes).toBeGreaterThan(0);
    expect(model.graph!.node!.some((node) => node.opType === "AttentionHalfKv")).toBe(false);
    expect((model.graph!.input ?? []).every((i) => i.type?.tensorType?.elemType !== onnx.TensorProto.DataType.FLOAT16)).toBe(true);
  });
});
