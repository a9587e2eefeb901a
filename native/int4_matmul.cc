#include "int4_matmul.h"

#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#define PHI4_X64 1
#include <immintrin.h>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#define PHI4_AVX2  // MSVC compiles intrinsics for any target
#else
#define PHI4_AVX2 __attribute__((target("avx2,fma")))
#endif
#endif

// Two weight pairs per loop iteration give the core independent work to overlap (measured: 10-15%
// faster steps at 1 to 8 rows than no unrolling, and than 4).
#if defined(__clang__)
#define PHI4_UNROLL_2 _Pragma("unroll 2")
#elif defined(__GNUC__)
#define PHI4_UNROLL_2 _Pragma("GCC unroll 2")
#else
#define PHI4_UNROLL_2
#endif

namespace phi4::int4 {

void QuantizedRows::Resize(size_t rowCount, size_t width) {
  rows = rowCount;
  k = width;
  values.resize(rows * k);
  pairScales.resize(rows * (k / 64) * 8);
  blockSums.resize(rows * (k / kBlock));
}

#ifdef PHI4_X64

namespace {

bool DetectAvx2() {
#if defined(_MSC_VER) && !defined(__clang__)
  int info[4];
  __cpuid(info, 1);
  const bool fma = (info[2] & (1 << 12)) != 0, osxsave = (info[2] & (1 << 27)) != 0;
  if (!fma || !osxsave || (_xgetbv(0) & 6) != 6) return false;
  __cpuidex(info, 7, 0);
  return (info[1] & (1 << 5)) != 0;
#else
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}

PHI4_AVX2 inline float HorizontalSum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

// How far ahead of the block being multiplied to prefetch the weights: enough to cover the memory
// latency of the 2 blocks per iteration at the rate 4 rows consume them (measured, 1-4 KiB all help).
constexpr size_t kPrefetchBytes = 3072;

// Rows [r0, r0 + R) times columns [c0, c1): each 64-value pair of weight blocks is unpacked once and
// multiplied by the R rows while it is in registers.
template <int R>
PHI4_AVX2 void MultiplyTile(const QuantizedRows& a, size_t r0, const Weights& w, size_t c0, size_t c1, float* out) {
  const size_t blocks = w.k / kBlock, pairs = blocks / 2;
  const __m256i lowNibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);  // [s0 x4 | s1 x4]
  for (size_t c = c0; c < c1; ++c) {
    const uint8_t* data = w.data + c * blocks * 16;
    const float* scales = w.scales + c * blocks;
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    PHI4_UNROLL_2
    for (size_t p = 0; p < pairs; ++p) {
      if ((p & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(data + p * 32 + kPrefetchBytes), _MM_HINT_T0);
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + p * 32));
      const __m256i even = _mm256_and_si256(packed, lowNibble);
      const __m256i odd = _mm256_and_si256(_mm256_srli_epi16(packed, 4), lowNibble);
      const __m128 scalePair = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales + 2 * p)));
      const __m256 weightScale = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(scalePair), spread);
      for (int r = 0; r < R; ++r) {
        const int8_t* q = a.values.data() + (r0 + r) * w.k + p * 64;
        const __m256i qEven = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
        const __m256i qOdd = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32));
        // u8 x s8 products summed in pairs: at most 4 * 15 * 127 per int16 lane, no saturation.
        const __m256i sums16 = _mm256_add_epi16(_mm256_maddubs_epi16(even, qEven), _mm256_maddubs_epi16(odd, qOdd));
        const __m256i sums32 = _mm256_madd_epi16(sums16, ones);
        const __m256 rowScale = _mm256_loadu_ps(a.pairScales.data() + ((r0 + r) * pairs + p) * 8);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums32), _mm256_mul_ps(rowScale, weightScale), acc[r]);
      }
    }
    // The weights were multiplied as unsigned nibbles; the zero point 8 comes off as
    // 8 * sum over blocks of (weight scale * activation scale * sum of the block's activations).
    for (int r = 0; r < R; ++r) {
      const float* sums = a.blockSums.data() + (r0 + r) * blocks;
      __m256 offset = _mm256_setzero_ps();
      size_t b = 0;
      for (; b + 8 <= blocks; b += 8) offset = _mm256_fmadd_ps(_mm256_loadu_ps(scales + b), _mm256_loadu_ps(sums + b), offset);
      float tail = 0.f;
      for (; b < blocks; ++b) tail += scales[b] * sums[b];
      out[(r0 + r) * w.n + c] = HorizontalSum(acc[r]) - 8.f * (HorizontalSum(offset) + tail);
    }
  }
}

PHI4_AVX2 void QuantizeRowsAvx2(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out) {
  const size_t k = out.k, blocks = k / kBlock;
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
      // Pair layout (see QuantizedRows): evens of the block at [half * 16], odds 32 bytes later.
      int8_t* pair = out.values.data() + r * k + (b / 2) * 64 + (b % 2) * 16;
      int32_t sum = 0;
      for (size_t i = 0; i < kBlock / 2; ++i) {
        pair[i] = static_cast<int8_t>(q[2 * i]);
        pair[32 + i] = static_cast<int8_t>(q[2 * i + 1]);
        sum += q[2 * i] + q[2 * i + 1];
      }
      float* pairScales = out.pairScales.data() + (r * (blocks / 2) + b / 2) * 8 + (b % 2) * 4;
      for (int i = 0; i < 4; ++i) pairScales[i] = scale;
      out.blockSums[r * blocks + b] = scale * static_cast<float>(sum);
    }
  }
}

}  // namespace

bool KernelSupported() {
  static const bool supported = DetectAvx2();
  return supported;
}

void QuantizeRows(const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out) {
  QuantizeRowsAvx2(a, rowBegin, rowEnd, out);
}

void MultiplyColumns(const QuantizedRows& a, const Weights& w, size_t columnBegin, size_t columnEnd, float* out) {
  // Four rows share each unpacked weight pair; more would run out of the 16 vector registers.
  size_t r = 0;
  for (; r + 4 <= a.rows; r += 4) MultiplyTile<4>(a, r, w, columnBegin, columnEnd, out);
  switch (a.rows - r) {
    case 3: MultiplyTile<3>(a, r, w, columnBegin, columnEnd, out); break;
    case 2: MultiplyTile<2>(a, r, w, columnBegin, columnEnd, out); break;
    case 1: MultiplyTile<1>(a, r, w, columnBegin, columnEnd, out); break;
    default: break;
  }
}

#else  // not x86-64: the graph is never rewritten to use the kernel (KernelSupported() is false)

bool KernelSupported() { return false; }
void QuantizeRows(const float*, size_t, size_t, QuantizedRows&) {}
void MultiplyColumns(const QuantizedRows&, const Weights&, size_t, size_t, float*) {}

#endif

}  // namespace phi4::int4
