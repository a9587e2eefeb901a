// The micro-kernels behind int4_matmul.h, one set per instruction set (int4_kernel_*.cc), and the
// panel layout the GEMM path unpacks weights into. Internal to the int4 kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "int4_matmul.h"

namespace phi4::int4::detail {

// A run of GEMM panels: `count` panels of `width` columns each, covering the weight columns
// [columnBegin, columnEnd) (the last panel may hold fewer real columns; its padding is never stored).
// Panel p's values are [blocks][8][width][4] unsigned nibbles (0..15): vector j < 4 holds, for each
// column, the low nibbles of the block's bytes 4j..4j+3 (its values 8j, 8j+2, 8j+4, 8j+6), vector
// 4 + j their high nibbles (values 8j+1, ...): each lane of 4 bytes meets one 4-byte group of the
// quantized activations' even or odd values in a dot-product instruction. Scales are [blocks][width].
struct Panels {
  const uint8_t* values;
  const float* scales;
  size_t count, width, blocks;
  size_t columnBegin, columnEnd;

  size_t ValuesPerPanel() const { return blocks * 8 * width * 4; }
  size_t ScalesPerPanel() const { return blocks * width; }
};

// Unpacks columns [columnBegin, columnBegin + columns) of `w` (columns <= width) into one panel.
void UnpackPanel(const Weights& w, size_t columnBegin, size_t columns, size_t width, uint8_t* values, float* scales);

// GEMV: every row of `a` times the stored weights of columns [c0, c1).
// GEMM: every row of `a` times the columns of `panels`. Both write out[row][column], out is [rows][n].
void GemvPortable(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out);
void GemmPortable(const QuantizedRows& a, const Panels& panels, float* out, size_t n);
void GemvAvx2(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out);
void GemmAvx2(const QuantizedRows& a, const Panels& panels, float* out, size_t n);
void GemvAvxVnni(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out);
void GemmAvxVnni(const QuantizedRows& a, const Panels& panels, float* out, size_t n);
void GemvAvx512Vnni(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out);
void GemmAvx512Vnni(const QuantizedRows& a, const Panels& panels, float* out, size_t n);

// AVX2 quantization of activation rows (bit-identical to the portable one in int4_matmul.cc).
void QuantizeRowsAvx2(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out);

}  // namespace phi4::int4::detail
