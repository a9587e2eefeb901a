/**
 * Attention problems for the kernel tests (attention-kernel*.test.ts): random inputs shaped like the
 * genai export's GroupQueryAttention, and the same step through onnxruntime-node's own operator.
 */
import onnxProto from "onnx-proto";
import * as ort from "onnxruntime-node";

import type { NativeBinding } from "../../lib/engine/native-types.js";

const { onnx } = onnxProto;

export function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648 - 0.5;
  };
}

/** The kernel's shape arguments, as its test entry takes them. */
type Shape = Pick<Parameters<NativeBinding["attention"]>[0], "batch" | "seq" | "heads" | "kvHeads" | "headSize" | "rotaryHalf" | "capacity">;

export interface Case extends Shape {
  /** Past length of each batch row (its total is past + seq). */
  past: number[];
  seed: number;
}

export function inputs(c: Case) {
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
export async function onnxRuntimeAttention(c: Case, x: ReturnType<typeof inputs>): Promise<{ out: Float32Array; key: Float32Array; value: Float32Array }> {
  const f = onnx.TensorProto.DataType.FLOAT;
  const i32 = onnx.TensorProto.DataType.INT32;
  const info = (name: string, elemType: number, dims: number[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((dimValue) => ({ dimValue })) } } },
  });
  const int = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  const width = (c.heads + 2 * c.kvHeads) * c.headSize;
  const cacheDims = [c.batch, c.kvHeads, c.capacity, c.headSize];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [
      { domain: "", version: 17 },
      { domain: "com.microsoft", version: 1 },
    ],
    graph: {
      name: "attention",
      node: [
        {
          opType: "GroupQueryAttention",
          domain: "com.microsoft",
          input: ["qkv", "", "", "past_key", "past_value", "seqlens_k", "total", "cos", "sin"],
          output: ["out", "present_key", "present_value"],
          attribute: [
            int("num_heads", c.heads),
            int("kv_num_heads", c.kvHeads),
            int("local_window_size", 262144),
            int("do_rotary", 1),
            int("rotary_interleaved", 0),
          ],
        },
      ],
      input: [
        info("qkv", f, [c.batch, c.seq, width]),
        info("past_key", f, cacheDims),
        info("past_value", f, cacheDims),
        info("seqlens_k", i32, [c.batch]),
        info("total", i32, []),
        info("cos", f, [x.cacheRows, c.rotaryHalf]),
        info("sin", f, [x.cacheRows, c.rotaryHalf]),
      ],
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

/** The cache rows a step writes: every row of every (batch row, KV head) below its total length. */
export function writtenRows(c: Case, cache: ArrayLike<number>): Float32Array {
  const rows: number[] = [];
  for (let b = 0; b < c.batch; b++) {
    for (let g = 0; g < c.kvHeads; g++) {
      const base = (b * c.kvHeads + g) * c.capacity * c.headSize;
      for (let i = base; i < base + (c.past[b] + c.seq) * c.headSize; i++) rows.push(cache[i]);
    }
  }
  return Float32Array.from(rows);
}

/** Phi-4-mini's group of 3 query heads per KV head, head size 128, partial rotary. */
export const phi4Heads = { heads: 6, kvHeads: 2, headSize: 128, rotaryHalf: 48 };

/** Steps that exercise the kernel's blocking: chunks, key blocks, decode, batched rows of different lengths. */
export const kernelCases: [string, Case][] = [
  ["a first prompt (no past)", { ...phi4Heads, batch: 1, seq: 37, capacity: 64, past: [0], seed: 1 }],
  ["a prompt chunk after 100 tokens, over more than one key block", { ...phi4Heads, batch: 1, seq: 20, capacity: 160, past: [100], seed: 2 }],
  // Rows 62 and 63 (positions 63 and 64) share a tile of query vectors across the key block at 64.
  ["a chunk whose rows straddle a key block inside one tile of queries", { ...phi4Heads, batch: 1, seq: 70, capacity: 96, past: [1], seed: 7 }],
  ["a decode step at 300 tokens", { ...phi4Heads, batch: 1, seq: 1, capacity: 320, past: [300], seed: 3 }],
  ["a batched decode step, rows of different lengths", { ...phi4Heads, batch: 3, seq: 1, capacity: 96, past: [5, 70, 0], seed: 4 }],
  ["tiny's heads (group of 2, head size 64)", { heads: 4, kvHeads: 2, headSize: 64, rotaryHalf: 24, batch: 1, seq: 17, capacity: 48, past: [9], seed: 5 }],
];
