// int4_matmul.h's entry points: the variant table, activation quantization and the dispatch to the
// variants' micro-kernels (int4_kernel_*.cc). Packing the weights is in int4_packed_weights.cc.
#include "int4_matmul.h"

#include <algorithm>
#include <cmath>

#include "cpu_features.h"
#include "int4_kernels.h"

namespace phi4::int4 {

void QuantizedRows::SetBlock(size_t row, size_t b, float scale, const int32_t* q) {
  int8_t* even = values.data() + row * k + b * kBlock;
  int8_t* odd = even + kBlock / 2;
  int32_t sum = 0;
  for (size_t i = 0; i < kBlock / 2; ++i) {
    even[i] = static_cast<int8_t>(q[2 * i]);
    odd[i] = static_cast<int8_t>(q[2 * i + 1]);
    sum += q[2 * i] + q[2 * i + 1];
  }
  scales[row * blocks() + b] = scale;
  zeroOffsets[row * blocks() + b] = -8 * sum;
}

void QuantizedRows::Resize(size_t rowCount, size_t width) {
  rows = rowCount;
  k = width;
  values.resize(rows * k);
  scales.resize(rows * blocks());
  zeroOffsets.resize(rows * blocks());
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

}  // namespace

void QuantizeRows(Variant v, const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out) {
  if (v != Variant::kPortable) {
    detail::QuantizeRowsAvx2(a, rowBegin, rowEnd, out);
  } else {
    QuantizeRowsPortable(a, rowBegin, rowEnd, out);
  }
}

size_t TileRows(Variant v) {
  switch (v) {
    case Variant::kAvx512Vnni:
      return 8;  // 32 zmm registers: 8 weight vectors, 8 accumulators, and the dot products' chains
    case Variant::kAvxVnni:
    case Variant::kAvx2:
      return 4;  // 16 ymm registers
    case Variant::kPortable:
      return 1;
  }
  return 1;
}

void MultiplyColumns(Variant v, const QuantizedRows& a, const PackedWeights& w, size_t columnBegin, size_t columnEnd, float* out) {
  if (columnBegin >= columnEnd || a.rows == 0) return;
  switch (v) {
    case Variant::kAvx512Vnni:
      return detail::MultiplyAvx512Vnni(a, w, columnBegin, columnEnd, out);
    case Variant::kAvxVnni:
      return detail::MultiplyAvxVnni(a, w, columnBegin, columnEnd, out);
    case Variant::kAvx2:
      return detail::MultiplyAvx2(a, w, columnBegin, columnEnd, out);
    case Variant::kPortable:
      return detail::MultiplyPortable(a, w, columnBegin, columnEnd, out);
  }
}

}  // namespace phi4::int4
