// Symmetric round-to-nearest int4 block quantization in the layout MatMulNBits reads, matching what
// onnxruntime's MatMulNBitsQuantizer (is_symmetric=True) produces for the genai builder: per block of
// `BLOCK` values along K, scale = (signed value of largest magnitude) / -8, q = round(v / scale) + 8
// clamped to [0, 15], two values per byte with the lower K index in the low nibble. No zero points are
// stored, so the kernel uses its default of 8. For fp16 weights the quantizer works in fp16, so each
// scale is rounded to fp16 before the values are divided by it (`roundScale`).

export const BLOCK = 32;

/**
 * Quantizes `rows` rows of length `k` (one row per output column N of the MatMul).
 * Writes rows*k/2 bytes to `packed` and rows*k/BLOCK scales to `scales` (both from index 0).
 * `roundScale` maps each scale to the precision it is stored in (fp32: unchanged).
 */
export function quantizeRowsInt4(
  src: Float32Array,
  rows: number,
  k: number,
  packed: Uint8Array,
  scales: Float32Array,
  roundScale: (scale: number) => number = (scale) => scale,
): void {
  const blocks = k / BLOCK;
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < blocks; blk++) {
      const base = r * k + blk * BLOCK;
      let extreme = 0;
      for (let i = 0; i < BLOCK; i++) {
        const v = src[base + i];
        if (Math.abs(v) > Math.abs(extreme)) extreme = v;
      }
      const scale = roundScale(extreme / -8);
      const rcp = scale === 0 ? 0 : 1 / scale;
      scales[r * blocks + blk] = scale;
      const out = base >> 1;
      for (let i = 0; i < BLOCK; i += 2) {
        const lo = Math.min(15, Math.max(0, Math.round(src[base + i] * rcp) + 8));
        const hi = Math.min(15, Math.max(0, Math.round(src[base + i + 1] * rcp) + 8));
        packed[out + (i >> 1)] = lo | (hi << 4);
      }
    }
  }
}
