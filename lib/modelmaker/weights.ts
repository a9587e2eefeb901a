// Seeded random initializers for the random-weight model. Magnitudes are chosen so activations stay
// near unit RMS through every layer (each projection preserves RMS, norms are ~1), which keeps the
// logits input-dependent: the greedy argmax changes with the prompt.
//
// Float tensors (scales, norm weights, the embedding table) are stored in the folder's precision. An
// fp16 tensor holds the same random values as the fp32 one of the same seed, rounded to fp16, so an
// fp16 folder is the fp16 export of the fp32 folder's network.

import { float16Bits, float16Value, roundToFloat16, toFloat16 } from "./float16.js";
import { DataType, type TensorSpec } from "./graph-builder.js";
import type { ModelPrecision } from "./presets.js";
import { BLOCK, quantizeRowsInt4 } from "./quantize.js";
import { Rng } from "./random.js";

/** Upper bound on one chunk's bytes, so writing never needs more than a few of these in memory. */
const CHUNK_BYTES = 16 << 20;

/** Embedding values are uniform with this standard deviation (like the usual N(0, 0.02) init). */
const EMBED_STD = 0.02;

/**
 * Random bytes with every nibble 0 replaced by 8, so weights (q - 8) are symmetric in -7..7 with mean 0.
 * Plain random nibbles have mean -0.5: that bias adds the same amount to every output column, and
 * over many layers the all-ones direction it feeds grows until every input gives the same hidden
 * state (and the same greedy token).
 */
const ZERO_MEAN_NIBBLES = Uint8Array.from({ length: 256 }, (_, b) => {
  const lo = b & 15 || 8;
  const hi = b >> 4 || 8;
  return lo | (hi << 4);
});

/** E[(q - 8)^2] over those nibbles: (2 * (1 + 4 + ... + 49)) / 16. */
const NIBBLE_SECOND_MOMENT = 17.5;

/** ONNX element type of the float tensors of a folder of this precision. */
export function floatType(precision: ModelPrecision): DataType {
  return precision === "fp16" ? DataType.FLOAT16 : DataType.FLOAT;
}

function floatSize(precision: ModelPrecision): number {
  return precision === "fp16" ? 2 : 4;
}

/** The bytes of fp32 values stored in `precision` (fp32: a view of the same memory). */
function floatBytes(values: Float32Array, precision: ModelPrecision): Uint8Array {
  if (precision === "fp32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const half = toFloat16(values);
  return new Uint8Array(half.buffer, half.byteOffset, half.byteLength);
}

function* randomNibbles(rng: Rng, length: number): Generator<Uint8Array> {
  for (let done = 0; done < length; done += CHUNK_BYTES) {
    const bytes = rng.bytes(Math.min(CHUNK_BYTES, length - done));
    for (let i = 0; i < bytes.length; i++) bytes[i] = ZERO_MEAN_NIBBLES[bytes[i]];
    yield bytes;
  }
}

/** MatMulNBits B of a random int4 matrix: uint8 [N, K/32, 16]. */
export function randomInt4Weight(name: string, n: number, k: number, seed: number): TensorSpec {
  const byteLength = (n * k) / 2;
  return {
    name,
    dataType: DataType.UINT8,
    dims: [n, k / BLOCK, BLOCK / 2],
    byteLength,
    chunks: () => randomNibbles(new Rng(seed, name), byteLength),
  };
}

/**
 * MatMulNBits scales for a random int4 matrix, flat [N * K/32] as onnxruntime's quantizer stores them.
 * 1/sqrt(K * E[(q-8)^2]) makes an output's RMS equal its input's; the +-25% spread per block keeps the
 * columns from being statistically identical.
 */
export function randomInt4Scales(name: string, n: number, k: number, seed: number, precision: ModelPrecision = "fp32"): TensorSpec {
  const count = (n * k) / BLOCK;
  const base = 1 / Math.sqrt(k * NIBBLE_SECOND_MOMENT);
  return {
    name,
    dataType: floatType(precision),
    dims: [count],
    byteLength: count * floatSize(precision),
    *chunks() {
      const rng = new Rng(seed, name);
      const perChunk = CHUNK_BYTES / 4;
      for (let done = 0; done < count; done += perChunk) {
        const values = new Float32Array(Math.min(perChunk, count - done));
        rng.fillUniform(values, 0.75 * base, 1.25 * base);
        yield floatBytes(values, precision);
      }
    },
  };
}

/** RMSNorm weight near 1 (0.9 to 1.1). */
export function normWeight(name: string, hidden: number, seed: number, precision: ModelPrecision = "fp32"): TensorSpec {
  return {
    name,
    dataType: floatType(precision),
    dims: [hidden],
    byteLength: hidden * floatSize(precision),
    *chunks() {
      const values = new Float32Array(hidden);
      new Rng(seed, name).fillUniform(values, 0.9, 1.1);
      yield floatBytes(values, precision);
    },
  };
}

/** Rows of the fp32 embedding table, regenerated from its stream each time they are needed. */
function* embeddingRows(name: string, vocab: number, hidden: number, seed: number): Generator<Float32Array> {
  const rng = new Rng(seed, name);
  const half = EMBED_STD * Math.sqrt(3);
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (hidden * 4)));
  for (let row = 0; row < vocab; row += rowsPerChunk) {
    const values = new Float32Array(Math.min(rowsPerChunk, vocab - row) * hidden);
    rng.fillUniform(values, -half, half);
    yield values;
  }
}

/** Embedding table [vocab, hidden] for the Gather (fp32, or fp16 in an fp16 folder). */
export function embedding(name: string, vocab: number, hidden: number, seed: number, precision: ModelPrecision = "fp32"): TensorSpec {
  return {
    name,
    dataType: floatType(precision),
    dims: [vocab, hidden],
    byteLength: vocab * hidden * floatSize(precision),
    *chunks() {
      for (const rows of embeddingRows(name, vocab, hidden, seed)) yield floatBytes(rows, precision);
    },
  };
}

/**
 * Tied lm_head: the int4 quantization of the embedding table (row v of the table is output column v).
 * The quantized bytes are recomputed from the embedding stream; the scales (1/64 of the table's size)
 * are kept from that pass so they need not be computed twice. In an fp16 folder the table is the fp16
 * one (rows rounded to fp16 before quantizing) and the scales are fp16, as the quantizer leaves an fp16
 * weight.
 */
export function tiedLmHead(
  weightName: string,
  scalesName: string,
  embedName: string,
  vocab: number,
  hidden: number,
  seed: number,
  precision: ModelPrecision = "fp32",
): { weight: TensorSpec; scales: TensorSpec } {
  const blocks = hidden / BLOCK;
  let scales: Float32Array | undefined;
  const roundScale = precision === "fp16" ? (scale: number) => float16Value(float16Bits(scale)) : undefined;

  function* quantized(): Generator<Uint8Array> {
    const all = new Float32Array(vocab * blocks);
    let row = 0;
    for (const rows of embeddingRows(embedName, vocab, hidden, seed)) {
      const count = rows.length / hidden;
      const packed = new Uint8Array(rows.length / 2);
      if (precision === "fp16") roundToFloat16(rows);
      quantizeRowsInt4(rows, count, hidden, packed, all.subarray(row * blocks, (row + count) * blocks), roundScale);
      row += count;
      yield packed;
    }
    scales = all;
  }

  return {
    weight: {
      name: weightName,
      dataType: DataType.UINT8,
      dims: [vocab, blocks, BLOCK / 2],
      byteLength: (vocab * hidden) / 2,
      chunks: quantized,
    },
    scales: {
      name: scalesName,
      dataType: floatType(precision),
      dims: [vocab * blocks],
      byteLength: vocab * blocks * floatSize(precision),
      *chunks() {
        if (!scales) for (const _ of quantized()); // computes the scales when they are written first
        yield floatBytes(scales as Float32Array, precision);
      },
    },
  };
}
