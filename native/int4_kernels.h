// The micro-kernels behind int4_matmul.h, one set per instruction set (int4_kernel_*.cc), and where
// they find a block in PackedWeights' panels. Internal to the int4 kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "int4_matmul.h"

namespace phi4::int4::detail {

// Block b of a panel: its 4 x 64 bytes of values, and its 16 fp16 scales.
inline const uint8_t* BlockValues(const uint8_t* panel, size_t b) { return panel + (b / 2) * PackedWeights::kPairBytes + (b % 2) * PackedWeights::kBlockBytes; }
inline const uint16_t* BlockScales(const uint8_t* panel, size_t b) {
  return reinterpret_cast<const uint16_t*>(panel + (b / 2) * PackedWeights::kPairBytes + 2 * PackedWeights::kBlockBytes + (b % 2) * 2 * kPanelColumns);
}

// Every row of `a` times the columns [c0, c1) of `w` (c0 a multiple of kPanelColumns); out is
// [rows][w.n()]. Per row and column, every variant adds the blocks in order: the block's exact integer
// dot product less the zero point, converted to float, times (weight scale x activation scale).
void MultiplyPortable(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out);
void MultiplyAvx2(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out);
void MultiplyAvxVnni(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out);
void MultiplyAvx512Vnni(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out);

// AVX2 quantization of activation rows (bit-identical to the portable one in int4_matmul.cc).
void QuantizeRowsAvx2(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out);

}  // namespace phi4::int4::detail
