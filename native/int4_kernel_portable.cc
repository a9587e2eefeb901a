// The int4 kernels in plain C++, for CPUs without the SIMD variants (arm64, older x86-64) and as the
// reference the others are tested beside: per row and column, the exact integer dot product of each
// block, less the zero point, scaled, added block after block.
#include "half.h"
#include "int4_kernels.h"

namespace phi4::int4::detail {

void MultiplyPortable(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out) {
  const size_t blocks = w.blocks();
  for (size_t first = c0; first < c1; first += kPanelColumns) {
    const uint8_t* panel = w.Panel(first / kPanelColumns);
    const size_t columns = c1 - first < kPanelColumns ? c1 - first : kPanelColumns;
    for (size_t r = 0; r < a.rows; ++r) {
      for (size_t c = 0; c < columns; ++c) {
        float acc = 0.f;
        for (size_t b = 0; b < blocks; ++b) {
          const uint8_t* values = BlockValues(panel, b);
          const int8_t* q = a.Block(r, b);  // 16 even values, then 16 odd
          const size_t at = r * blocks + b;
          int32_t dot = a.zeroOffsets[at];
          for (size_t j = 0; j < 4; ++j) {
            const uint8_t* lane = values + (j * kPanelColumns + c) * 4;
            for (size_t t = 0; t < 4; ++t) dot += (lane[t] & 0x0F) * q[4 * j + t] + (lane[t] >> 4) * q[16 + 4 * j + t];
          }
          acc += static_cast<float>(dot) * (HalfToFloat(BlockScales(panel, b)[c]) * a.scales[at]);
        }
        out[r * w.n() + first + c] = acc;
      }
    }
  }
}

}  // namespace phi4::int4::detail
