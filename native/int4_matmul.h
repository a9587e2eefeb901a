// A CPU kernel for the int4 matrix products of Phi-4-mini (MatMulNBits, 4 bits, block 32,
// accuracy level 4): activations quantized to int8 per block of 32, times the int4 weights as they
// are stored in model.onnx (no repacking, so no second copy of the weights).
//
// Why our own: decoding several sequences at once (and prefill) multiplies a few rows by every
// weight. ONNX Runtime's AVX2 kernel spends about as long on the arithmetic of 4 rows as on reading
// the weights; this one keeps the unpacked weights in registers for 4 rows at a time and prefetches
// the next ones, so a step of 4 rows costs much less (docs/batching.md has the figures).
//
// Numerics follow ONNX Runtime's: a block's scale is max|a| / 127, values are rounded to nearest
// even, and the weights' zero point is 8. Only the order of the float additions differs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace phi4::int4 {

constexpr size_t kBlock = 32;  // values per quantization block (weights and activations)

// True on x86-64 CPUs with AVX2 and FMA (checked once, at run time: prebuilds target a baseline
// without them).
bool KernelSupported();

// Activation rows quantized for MultiplyColumns. Blocks are stored in pairs, in the order the
// weights' nibbles unpack to: [even values of block 2p | of block 2p+1 | odd values of 2p | of 2p+1].
struct QuantizedRows {
  size_t rows = 0, k = 0;
  std::vector<int8_t> values;     // [rows][k]
  std::vector<float> pairScales;  // [rows][k / 64][8]: a pair's two block scales, each 4 times
  std::vector<float> blockSums;   // [rows][k / 32]: scale * sum of the block's int8 values

  void Resize(size_t rows, size_t k);
};

// The weights of one MatMulNBits node, as stored: data [n][k / 32][16] (two values per byte, low
// nibble first), scales [n][k / 32], zero point 8.
struct Weights {
  const uint8_t* data;
  const float* scales;
  size_t n, k;
};

// Quantizes rows [rowBegin, rowEnd) of `a` ([rows][k] floats) into `out` (already Resize()d).
// k must be a multiple of 64.
void QuantizeRows(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out);

// out[r][c] = sum_k a[r][k] * w[c][k] for every row of `a` and the columns [columnBegin, columnEnd).
// `out` is [a.rows][w.n].
void MultiplyColumns(const QuantizedRows& a, const Weights& w, size_t columnBegin, size_t columnEnd, float* out);

}  // namespace phi4::int4
