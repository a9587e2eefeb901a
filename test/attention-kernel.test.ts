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
import * as ort from "onnxruntime-node";
import { describe, expect, inject, it } from "vitest";

import { rewriteGraph } from "../lib/engine/graph-rewrites.js";
import { loadBinding } from "../lib/engine/binding.js";
import type { NativeBinding } from "../lib/engine/native-types.js";
import { loadModel } from "../lib/index.js";
import { relativeError } from "./helpers/oracle.js";

const { onnx } = onnxProto;
const models = inject("models");
const binding = loadBinding() as unknown as NativeBinding;

function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  };
}

interface Case {
  batch: number;
  seq: number;
  heads: number;
  kvHeads: number;
  headSize: number;
  rotaryHalf: number;
  capacity: number;
  /** Past length of each batch row (its total is past + seq). */
  past: number[];
  seed: number;
}

function inputs(c: Case) {
  const next = random(c.seed);
  const cacheRows = c.capacity + 4;
  const cos = new Float32Array(cacheRows * c.rotaryHalf);
  const sin = new Float32Array(cacheRows * c.rotaryHalf);
  for (let p = 0; p < cacheRows; p++) {
    for (let j = 0; j < c.rotaryHalf; j++) {
      const angle = p / Math.pow(10000, (2 * j) / (2 * c.rotaryHalf));
      cos[p * c.rotaryHalf + j] = Math.cos(angle);
      sin[p * c.rotaryHalf + j] = Math.sin(angle);
    }
  }
  const cacheSize = c.batch * c.kvHeads * c.capacity * c.headSize;
  // Scores of a few units, as in a trained model, so that the softmax is neither flat nor one-hot.
  const qkv = Float32Array.from({ length: c.batch * c.seq * (c.heads + 2 * c.kvHeads) * c.headSize }, () => next() * 4);
  const key = Float32Array.from({ length: cacheSize }, () => next() * 4);
  const value = Float32Array.from({ length: cacheSize }, () => next());
  const seqlensK = Int32Array.from(c.past.map((p) => p + c.seq - 1));
  return { cos, sin, cacheRows, qkv, key, value, seqlensK };
}

/** The same step through onnxruntime-node's GroupQueryAttention, with past and present sharing buffers. */
async function onnxRuntimeAttention(c: Case, x: ReturnType<typeof inputs>): Promise<{ out: Float32Array; key: Float32Array; value: Float32Array }> {
  const f = onnx.TensorProto.DataType.FLOAT;
  const i32 = onnx.TensorProto.DataType.INT32;
  const info = (name: string, elemType: number, dims: number[]) => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } } });
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const width = (c.heads + 2 * c.kvHeads) * c.headSize;
  const cacheDims = [c.batch, c.kvHeads, c.capacity, c.headSize];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }, { domain: "com.microsoft", version: 1 }],
    graph: {
      name: "attention",
      node: [
        {
          opType: "GroupQueryAttention",
          domain: "com.microsoft",
          input: ["qkv", "", "", "past_key", "past_value", "seqlens_k", "total", "cos", "sin"],
          output: ["out", "present_key", "present_value"],
          attribute: [int("num_heads", c.heads), int("kv_num_heads", c.kvHeads), int("local_window_size", 262144), int("do_rotary", 1), int("rotary_interleaved", 0)],
        },
      ],
      input: [info("qkv", f, [c.batch, c.seq, width]), info("past_key", f, cacheDims), info("past_value", f, cacheDims), info("seqlens_k", i32, [c.batch]), info("total", i32, []), info("cos", f, [x.cacheRows, c.rotaryHalf]), info("sin", f, [x.cacheRows, c.rotaryHalf])],
      output: [info("out", f, [c.batch, c.seq, c.heads * c.headSize]), info("present_key", f, cacheDims), info("present_value", f, cacheDims)],
    },
  });
  const session = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 1 });
  try {
    const key = x.key.slice();
    const value = x.value.slice();
    const pastKey = new ort.Tensor("float32", key, cacheDims);
    const pastValue = new ort.Tensor("float32", value, cacheDims);
    const total = Math.max(...c.past) + c.seq;
    const result = await session.run(
      {
        qkv: new ort.Tensor("float32", x.qkv, [c.batch, c.seq, width]),
        past_key: pastKey,
        past_value: pastValue,
        seqlens_k: new ort.Tensor("int32", x.seqlensK, [c.batch]),
        total: new ort.Tensor("int32", Int32Array.of(total), []),
        cos: new ort.Tensor("float32", x.cos, [x.cacheRows, c.rotaryHalf]),
        sin: new ort.Tensor("float32", x.sin, [x.cacheRows, c.rotaryHalf]),
      },
      { out: null, present_key: pastKey, present_value: pastValue },
    );
    return { out: result.out.data as Float32Array, key: result.present_key.data as Float32Array, value: result.present_value.data as Float32Array };
  } finally {
    await session.release();
  }
}

function ours(c: Case, x: ReturnType<typeof inputs>, portable: boolean) {
  const key = x.key.slice();
  const value = x.value.slice();
  const out = binding.attention({ ...c, ...x, key, value, scale: 1 / Math.sqrt(c.headSize), portable });
  return { out, key, value };
}

/** The cache rows a step writes: every row of every (batch row, KV head) below its total length. */
function writtenRows(c: Case, cache: Float32Array): Float32Array {
  const rows: number[] = [];
  for (let b = 0; b < c.batch; b++) {
    for (let g = 0; g < c.kvHeads; g++) {
      const base = ((b * c.kvHeads + g) * c.capacity) * c.headSize;
      rows.push(...cache.subarray(base, base + (c.past[b] + c.seq) * c.headSize));
    }
  }
  return Float32Array.from(rows);
}

const phi4Heads = { heads: 6, kvHeads: 2, headSize: 128, rotaryHalf: 48 }; // Phi-4-mini's group of 3, partial rotary
const cases: [string, Case][] = [
  ["a first prompt (no past)", { ...phi4Heads, batch: 1, seq: 37, capacity: 64, past: [0], seed: 1 }],
  ["a prompt chunk after 100 tokens, over more than one key block", { ...phi4Heads, batch: 1, seq: 20, capacity: 160, past: [100], seed: 2 }],
  // Rows 62 and 63 (positions 63 and 64) share a tile of query vectors across the key block at 64.
  ["a chunk whose rows straddle a key block inside one tile of queries", { ...phi4Heads, batch: 1, seq: 70, capacity: 96, past: [1], seed: 7 }],
  ["a decode step at 300 tokens", { ...phi4Heads, batch: 1, seq: 1, capacity: 320, past: [300], seed: 3 }],
  ["a batched decode step, rows of different lengths", { ...phi4Heads, batch: 3, seq: 1, capacity: 96, past: [5, 70, 0], seed: 4 }],
  ["tiny's heads (group of 2, head size 64)", { heads: 4, kvHeads: 2, headSize: 64, rotaryHalf: 24, batch: 1, seq: 17, capacity: 48, past: [9], seed: 5 }],
];

describe("the attention kernel", () => {
  for (const portable of [false, true]) {
    const variant = portable ? "portable C++" : `${binding.attentionKernelVariant}, the variant this CPU runs`;
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
    const on = await loadModel(models.tiny, { int4Kernel: false });
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
