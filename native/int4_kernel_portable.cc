// The int4 kernels in plain C++, for CPUs without the SIMD variants (arm64, older x86-64) and as the
// reference the others are tested beside. GEMV and GEMM compute each output the same way: the exact
// integer dot product of each block, less the zero point, scaled, added block after block.
#include <cstring>

#include "half.h"
#include "int4_kernels.h"

namespace phi4::int4::detail {
namespace {

// Adds the integer dot product of one block to `acc`; `weight(j, t)` is the 4-bit weight meeting
// the t-th byte of the j-th 4-byte group of the block's even (j < 4) or odd (j >= 4) activations.
template <typename WeightAt>
float AddBlock(float acc, const QuantizedRows& a, size_t row, size_t b, float weightScale, WeightAt weight) {
  const int8_t* values = a.values.data() + row * a.k;
  const int8_t* even = values + a.EvenOffset(b);
  const int8_t* odd = values + a.OddOffset(b);
  const size_t at = row * a.blocks() + b;
  int32_t dot = a.zeroOffsets[at];
  for (size_t j = 0; j < 4; ++j) {
    for (size_t t = 0; t < 4; ++t) {
      dot += weight(j, t) * even[4 * j + t] + weight(4 + j, t) * odd[4 * j + t];
    }
  }
  return acc + static_cast<float>(dot) * (weightScale * a.scales[at]);
}

}  // namespace

void GemvPortable(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out) {
  const size_t blocks = a.blocks();
  for (size_t c = c0; c < c1; ++c) {
    for (size_t r = 0; r < a.rows; ++r) {
      float acc = 0.f;
      for (size_t b = 0; b < blocks; ++b) {
        const uint8_t* stored = w.data + (c * blocks + b) * 16;
        acc = AddBlock(acc, a, r, b, HalfToFloat(w.scales[c * blocks + b]), [stored](size_t j, size_t t) {
          const uint8_t byte = stored[4 * (j % 4) + t];
          return static_cast<int32_t>(j < 4 ? byte & 0x0F : byte >> 4);
        });
      }
      out[r * w.n + c] = acc;
    }
  }
}

void GemmPortable(const QuantizedRows& a, const Panels& panels, float* out, size_t n) {
  const size_t width = panels.width;
  for (size_t p = 0; p < panels.count; ++p) {
    const uint8_t* values = panels.values + p * panels.ValuesPerPanel();
    const float* scales = panels.scales + p * panels.ScalesPerPanel();
    const size_t first = panels.columnBegin + p * width;
    const size_t columns = (panels.columnEnd - first) < width ? panels.columnEnd - first : width;
    for (size_t r = 0; r < a.rows; ++r) {
      for (size_t c = 0; c < columns; ++c) {
        float acc = 0.f;
        for (size_t b = 0; b < panels.blocks; ++b) {
          const uint8_t* block = values + b * 8 * width * 4;
          acc = AddBlock(acc, a, r, b, scales[b * width + c],
                         [block, width, c](size_t j, size_t t) { return static_cast<int32_t>(block[(j * width + c) * 4 + t]); });
        }
        out[r * n + first + c] = acc;
      }
    }
  }
}

}  // namespace phi4::int4::detail
