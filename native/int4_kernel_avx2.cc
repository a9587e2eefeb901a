// The AVX2 (+FMA) variant of the int4 kernels (int4_kernel_ymm.inc), and the AVX2 quantization of
// activations that every SIMD variant uses.
#include "int4_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64

PHI4_TARGET_BEGIN("avx2,fma,f16c")

#define PHI4_YMM_SUFFIX Avx2
#include "int4_kernel_ymm.inc"

namespace phi4::int4::detail {

// Bit-identical to the portable quantization (int4_matmul.cc): same float operations, and vroundps
// rounds halfway cases to even like nearbyint.
void QuantizeRowsAvx2(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out) {
  const size_t k = out.k, blocks = out.blocks();
  const __m256 signBit = _mm256_set1_ps(-0.0f);
  for (size_t r = rowBegin; r < rowEnd; ++r) {
    for (size_t b = 0; b < blocks; ++b) {
      const float* x = a + r * k + b * kBlock;
      __m256 v[4], maxAbs = _mm256_setzero_ps();
      for (int i = 0; i < 4; ++i) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(signBit, v[i]));
      }
      __m128 m = _mm_max_ps(_mm256_castps256_ps128(maxAbs), _mm256_extractf128_ps(maxAbs, 1));
      m = _mm_max_ps(m, _mm_movehl_ps(m, m));
      m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
      const float amax = _mm_cvtss_f32(m);
      const float scale = amax / 127.f;
      const __m256 inverse = _mm256_set1_ps(amax != 0.f ? 127.f / amax : 0.f);
      alignas(32) int32_t q[kBlock];
      for (int i = 0; i < 4; ++i) {
        const __m256 rounded = _mm256_round_ps(_mm256_mul_ps(v[i], inverse), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_store_si256(reinterpret_cast<__m256i*>(q + 8 * i), _mm256_cvtps_epi32(rounded));
      }
      out.SetBlock(r, b, scale, q);
    }
  }
}

}  // namespace phi4::int4::detail

PHI4_TARGET_END

#else  // not x86-64: never chosen (VariantSupported), defined so that the dispatch links

namespace phi4::int4::detail {
void MultiplyAvx2(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out) { MultiplyPortable(a, w, c0, c1, out); }
void QuantizeRowsAvx2(const float*, size_t, size_t, QuantizedRows&) {}
}  // namespace phi4::int4::detail

#endif
