// MatMulNBits int4 (bits 4, block 32, no zero points so the default 8, one scale per block) to ggml's
// Q4_0. Both store a row of K values as K/32 blocks of 32 four-bit codes q with value scale * (q - 8),
// rows in the same order (MatMulNBits B is [N, K/32, 16]: row n is output column n, which is ggml's
// row n of a weight with ne = [K, N]). Two things differ:
//   - the scale: MatMulNBits keeps it apart ([N * K/32] float32 in the CPU export); Q4_0 puts it in
//     front of each block's codes as fp16 (18-byte blocks). fp32 -> fp16 rounds it to 11 significant
//     bits, the one change to the weights' values (relative error at most 2^-11).
//   - the nibble order: MatMulNBits packs element 2j in the low nibble of byte j and 2j+1 in the high
//     one; Q4_0 packs element j in the low nibble and element j + 16 in the high one.

import { float16Bits, float16Value } from "../float16.js";
import { DataType, type TensorSpec } from "../graph-builder.js";
import { BLOCK } from "../quantize.js";

const PACKED = BLOCK / 2;
export const Q4_0_BLOCK_BYTES = 2 + PACKED;

/**
 * Reorders one block's 16 MatMulNBits bytes (src at `from`) into Q4_0's code bytes (dst at `to`).
 * Source byte k holds elements 2k, 2k+1 and byte 8+k elements 16+2k, 17+2k; Q4_0 byte 2k pairs
 * elements 2k and 16+2k (the low nibbles of both), byte 2k+1 elements 2k+1 and 17+2k (the high ones).
 */
export function reorderNibbles(src: Uint8Array, from: number, dst: Uint8Array, to: number): void {
  for (let k = 0; k < PACKED / 2; k++) {
    const a = src[from + k];
    const b = src[from + PACKED / 2 + k];
    dst[to + 2 * k] = (a & 0x0f) | ((b & 0x0f) << 4);
    dst[to + 2 * k + 1] = (a >> 4) | (b & 0xf0);
  }
}

/** All of a scales tensor's values as numbers (fp32 or fp16 storage). */
export function readScales(spec: TensorSpec): Float32Array {
  const bytes = Buffer.alloc(spec.byteLength);
  let at = 0;
  for (const chunk of spec.chunks()) at += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).copy(bytes, at);
  if (at !== spec.byteLength) throw new Error(`${spec.name}: expected ${spec.byteLength} bytes, got ${at}`);
  if (spec.dataType === DataType.FLOAT) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + at));
  if (spec.dataType === DataType.FLOAT16) {
    const out = new Float32Array(at / 2);
    for (let i = 0; i < out.length; i++) out[i] = float16Value(bytes.readUInt16LE(2 * i));
    return out;
  }
  throw new Error(`${spec.name}: scales of ONNX data type ${spec.dataType} are not supported`);
}

/**
 * The Q4_0 bytes of a MatMulNBits weight, streamed: `weight` yields B's bytes in row order (in chunks of
 * any size) and `scales` holds one scale per block in the same order.
 */
export function* q4_0Chunks(weight: Iterable<Uint8Array>, scales: Float32Array): Generator<Uint8Array> {
  let block = 0;
  let carry = new Uint8Array(0);
  for (const chunk of weight) {
    const bytes = carry.length === 0 ? chunk : concat(carry, chunk);
    const blocks = Math.floor(bytes.length / PACKED);
    if (block + blocks > scales.length) throw new Error(`int4 weight has more blocks than its ${scales.length} scales`);
    const out = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
    for (let b = 0; b < blocks; b++, block++) {
      const at = b * Q4_0_BLOCK_BYTES;
      const d = float16Bits(scales[block]);
      out[at] = d & 0xff;
      out[at + 1] = d >> 8;
      reorderNibbles(bytes, b * PACKED, out, at + 2);
    }
    carry = bytes.slice(blocks * PACKED);
    if (out.length > 0) yield out;
  }
  if (carry.length !== 0 || block !== scales.length) throw new Error(`int4 weight ends after ${block} of ${scales.length} blocks`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
