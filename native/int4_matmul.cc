// int4_matmul.h's entry points: the variant table, activation quantization, the choice between the
// GEMV and GEMM paths, and the GEMM's per-thread panel unpacking. The arithmetic is in
// int4_kernel_*.cc.
#include "int4_matmul.h"

#include <algorithm>
#include <cmath>

#include "cpu_features.h"
#include "half.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>
#endif
#include "int4_kernels.h"

namespace phi4::int4 {

void QuantizedRows::SetBlock(size_t row, size_t b, float scale, const int32_t* q) {
  int8_t* even = values.data() + row * k + EvenOffset(b);
  int8_t* odd = values.data() + row * k + OddOffset(b);
  int32_t laneSums[4] = {0, 0, 0, 0};  // GEMV lane j meets values 8j..8j+7
  for (size_t i = 0; i < kBlock / 2; ++i) {
    even[i] = static_cast<int8_t>(q[2 * i]);
    odd[i] = static_cast<int8_t>(q[2 * i + 1]);
    laneSums[i / 4] += q[2 * i] + q[2 * i + 1];
  }
  const size_t at = row * blocks() + b;
  scales[at] = scale;
  for (int i = 0; i < 4; ++i) laneScales[at * 4 + i] = scale;
  for (int i = 0; i < 4; ++i) laneZeroOffsets[at * 4 + i] = -8 * laneSums[i];
  zeroOffsets[at] = -8 * (laneSums[0] + laneSums[1] + laneSums[2] + laneSums[3]);
}

void QuantizedRows::Resize(size_t rowCount, size_t width) {
  rows = rowCount;
  k = width;
  const size_t b = blocks();
  values.resize(rows * k);
  scales.resize(rows * b);
  laneScales.resize(rows * b * 4);
  zeroOffsets.resize(rows * b);
  laneZeroOffsets.resize(rows * b * 4);
}

const std::vector<Variant>& AllVariants() {
  static const std::vector<Variant> all = {Variant::kAvx512Vnni, Variant::kAvxVnni, Variant::kAvx2, Variant::kPortable};
  return all;
}

const char* VariantName(Variant v) {
  switch (v) {
    case Variant::kAvx512Vnni:
      return "avx512vnni";
    case Variant::kAvxVnni:
      return "avxvnni";
    case Variant::kAvx2:
      return "avx2";
    case Variant::kPortable:
      return "portable";
  }
  return "portable";
}

bool ParseVariant(const std::string& name, Variant* out) {
  for (Variant v : AllVariants()) {
    if (name == VariantName(v)) {
      *out = v;
      return true;
    }
  }
  return false;
}

bool VariantSupported(Variant v) {
  const CpuFeatures& f = DetectCpuFeatures();
  switch (v) {
    case Variant::kAvx512Vnni:
      return f.avx512Vnni;
    case Variant::kAvxVnni:
      return f.avxVnni;
    case Variant::kAvx2:
      return f.avx2Fma;
    case Variant::kPortable:
      return true;
  }
  return false;
}

Variant BestVariant() {
  static const Variant best = [] {
    for (Variant v : AllVariants()) {
      if (VariantSupported(v)) return v;
    }
    return Variant::kPortable;
  }();
  return best;
}

bool KernelSupported() { return BestVariant() != Variant::kPortable; }

std::vector<uint16_t> HalfScales(const float* scales, size_t count) {
  std::vector<uint16_t> half(count);
  for (size_t i = 0; i < count; ++i) half[i] = FloatToHalf(scales[i]);
  return half;
}

namespace {

// The reference quantization every variant's must equal bit for bit: the scale and its inverse are
// the same float operations, and nearbyint rounds halfway cases to even like vroundps.
void QuantizeRowsPortable(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out) {
  const size_t k = out.k, blocks = out.blocks();
  for (size_t r = rowBegin; r < rowEnd; ++r) {
    for (size_t b = 0; b < blocks; ++b) {
      const float* x = a + r * k + b * kBlock;
      float amax = 0.f;
      for (size_t i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float scale = amax / 127.f, inverse = amax != 0.f ? 127.f / amax : 0.f;
      int32_t q[kBlock];
      for (size_t i = 0; i < kBlock; ++i) q[i] = static_cast<int32_t>(std::nearbyint(x[i] * inverse));
      out.SetBlock(r, b, scale, q);
    }
  }
}

// Panel scratch for the GEMM path, one per thread (ONNX Runtime's pool threads run the tasks).
struct PanelScratch {
  std::vector<uint8_t> values;
  std::vector<float> scales;
};

void MultiplyGemm(Variant v, const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out) {
  thread_local PanelScratch scratch;
  const size_t width = PanelColumns(v), count = (c1 - c0 + width - 1) / width;
  detail::Panels panels{nullptr, nullptr, count, width, w.k / kBlock, c0, c1};
  scratch.values.resize(count * panels.ValuesPerPanel());
  scratch.scales.resize(count * panels.ScalesPerPanel());
  for (size_t p = 0; p < count; ++p) {
    const size_t begin = c0 + p * width;
    detail::UnpackPanel(w, begin, std::min(width, c1 - begin), width, scratch.values.data() + p * panels.ValuesPerPanel(),
                        scratch.scales.data() + p * panels.ScalesPerPanel());
  }
  panels.values = scratch.values.data();
  panels.scales = scratch.scales.data();
  switch (v) {
    case Variant::kAvx512Vnni:
      detail::GemmAvx512Vnni(a, panels, out, w.n);
      break;
    case Variant::kAvxVnni:
      detail::GemmAvxVnni(a, panels, out, w.n);
      break;
    case Variant::kAvx2:
      detail::GemmAvx2(a, panels, out, w.n);
      break;
    case Variant::kPortable:
      detail::GemmPortable(a, panels, out, w.n);
      break;
  }
}

}  // namespace

void QuantizeRows(Variant v, const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out) {
  if (v != Variant::kPortable) {
    detail::QuantizeRowsAvx2(a, rowBegin, rowEnd, out);
  } else {
    QuantizeRowsPortable(a, rowBegin, rowEnd, out);
  }
}

size_t GemvMaxRows(Variant v) {
  // Measured on weights streamed from memory (K=8192, N=16384): the ymm GEMVs beat the GEMM up to
  // about 8 rows; the AVX-512 GEMM overtakes its GEMV from about 5. Up to 8 rows stay on the GEMV
  // anyway, so that batched decode of up to 8 sequences computes every row exactly as a sequence
  // decoding alone does (docs/engine.md: the int4 kernels).
  return v == Variant::kPortable ? 1 : 8;
}

size_t PanelColumns(Variant v) { return v == Variant::kAvx512Vnni ? 16 : 8; }

void MultiplyColumns(Variant v, Path path, const QuantizedRows& a, const Weights& w, size_t columnBegin, size_t columnEnd, float* out) {
  if (columnBegin >= columnEnd || a.rows == 0) return;
  if (path == Path::kAuto) path = a.rows <= GemvMaxRows(v) ? Path::kGemv : Path::kGemm;
  if (path == Path::kGemm) return MultiplyGemm(v, a, w, columnBegin, columnEnd, out);
  switch (v) {
    case Variant::kAvx512Vnni:
      return detail::GemvAvx512Vnni(a, w, columnBegin, columnEnd, out);
    case Variant::kAvxVnni:
      return detail::GemvAvxVnni(a, w, columnBegin, columnEnd, out);
    case Variant::kAvx2:
      return detail::GemvAvx2(a, w, columnBegin, columnEnd, out);
    case Variant::kPortable:
      return detail::GemvPortable(a, w, columnBegin, columnEnd, out);
  }
}

namespace detail {

#if defined(__x86_64__) || defined(_M_X64)

// SSE2 (every x86-64): 4 columns at a time, each a sequential stream of stored blocks, their 16
// bytes per block split into low and high nibbles and transposed so that each 4-byte group of the 4
// columns lands side by side.
void UnpackPanel(const Weights& w, size_t columnBegin, size_t columns, size_t width, uint8_t* values, float* scales) {
  const size_t blocks = w.k / kBlock;
  const __m128i lowNibble = _mm_set1_epi8(0x0F);
  const __m128i padding = _mm_set1_epi8(static_cast<char>(0x88));  // weight 0 after the zero point
  for (size_t c = 0; c < width; c += 4) {
    const uint8_t* stored[4];
    for (size_t i = 0; i < 4; ++i) stored[i] = c + i < columns ? w.data + (columnBegin + c + i) * blocks * 16 : nullptr;
    for (size_t b = 0; b < blocks; ++b) {
      uint8_t* block = values + b * 8 * width * 4 + c * 4;
      __m128i low[4], high[4];
      for (size_t i = 0; i < 4; ++i) {
        const __m128i x = stored[i] ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(stored[i] + b * 16)) : padding;
        low[i] = _mm_and_si128(x, lowNibble);
        high[i] = _mm_and_si128(_mm_srli_epi16(x, 4), lowNibble);
      }
      for (int half = 0; half < 2; ++half) {
        const __m128i* x = half == 0 ? low : high;
        const __m128i t0 = _mm_unpacklo_epi32(x[0], x[1]), t1 = _mm_unpacklo_epi32(x[2], x[3]);
        const __m128i t2 = _mm_unpackhi_epi32(x[0], x[1]), t3 = _mm_unpackhi_epi32(x[2], x[3]);
        uint8_t* out = block + half * 4 * width * 4;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi64(t0, t1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + width * 4), _mm_unpackhi_epi64(t0, t1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 2 * width * 4), _mm_unpacklo_epi64(t2, t3));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 3 * width * 4), _mm_unpackhi_epi64(t2, t3));
      }
    }
  }
  for (size_t c = 0; c < width; ++c) {
    const uint16_t* columnScales = w.scales + (columnBegin + c) * blocks;
    for (size_t b = 0; b < blocks; ++b) scales[b * width + c] = c < columns ? HalfToFloat(columnScales[b]) : 0.f;
  }
}

#else

void UnpackPanel(const Weights& w, size_t columnBegin, size_t columns, size_t width, uint8_t* values, float* scales) {
  const size_t blocks = w.k / kBlock;
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* block = values + b * 8 * width * 4;
    for (size_t c = 0; c < width; ++c) {
      const bool real = c < columns;
      const uint8_t* stored = real ? w.data + ((columnBegin + c) * blocks + b) * 16 : nullptr;
      for (size_t j = 0; j < 4; ++j) {
        for (size_t t = 0; t < 4; ++t) {
          const uint8_t byte = real ? stored[4 * j + t] : 0x88;  // padding: weight 0 after the zero point
          block[(j * width + c) * 4 + t] = byte & 0x0F;
          block[((4 + j) * width + c) * 4 + t] = byte >> 4;
        }
      }
      scales[b * width + c] = real ? HalfToFloat(w.scales[(columnBegin + c) * blocks + b]) : 0.f;
    }
  }
}

#endif

}  // namespace detail

}  // namespace phi4::int4
