// The AVX-512 VNNI variant of the int4 kernels: vpdpbusd on zmm registers (Intel Ice Lake and
// later, AMD Zen 4 and later).
//
// GEMV: for each column, each 64-byte group of 4 stored weight blocks is unpacked once (low and high
// nibbles) and multiplied by up to 8 rows while it is in registers; lanes keep per-block partial
// sums that the block scales weigh before they are added. A row whose K is not a multiple of 128
// ends with one pair of blocks on ymm registers.
// GEMM: tiles of 8 rows x 16 columns over an unpacked panel (int4_kernels.h): per block, 8 weight
// vectors meet each row's activations broadcast 4 bytes at a time from memory; the block's exact
// integer dot product, less the zero point, is scaled and added.
#include "int4_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64

// GCC 12 reports the deliberately undefined vectors inside its own AVX-512 intrinsics
// (_mm512_undefined_*) as maybe uninitialized; nothing here reads an uninitialized value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

PHI4_TARGET_BEGIN("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")

namespace phi4::int4::detail {
namespace {

constexpr size_t kGemvTileRows = 8;
constexpr size_t kGemmTileRows = 6;
constexpr size_t kPanelWidth = 16;
constexpr size_t kPrefetchBytes = 3072;  // as the ymm variants (int4_kernel_ymm.inc)

inline float HorizontalSum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}

inline float HorizontalSum(__m512 v) {
  return HorizontalSum(_mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

inline int32_t Load32(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

template <int R>
void GemvTile(const QuantizedRows& a, size_t r0, const Weights& w, size_t c0, size_t c1, float* out) {
  const size_t blocks = a.blocks(), groups = blocks / 4;
  const bool tailPair = blocks % 4 != 0;
  const __m512i lowNibble = _mm512_set1_epi8(0x0F);
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  const int8_t* rows[R];
  const float* lanes[R];
  for (int r = 0; r < R; ++r) {
    rows[r] = a.values.data() + (r0 + r) * a.k;
    lanes[r] = a.laneScales.data() + (r0 + r) * blocks * 4;
  }
  for (size_t c = c0; c < c1; ++c) {
    const uint8_t* data = w.data + c * blocks * 16;
    const float* scales = w.scales + c * blocks;
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (size_t g = 0; g < groups; ++g) {
      _mm_prefetch(reinterpret_cast<const char*>(data + g * 64 + kPrefetchBytes), _MM_HINT_T0);
      const __m512i packed = _mm512_loadu_si512(data + g * 64);
      const __m512i even = _mm512_and_si512(packed, lowNibble);
      const __m512i odd = _mm512_and_si512(_mm512_srli_epi16(packed, 4), lowNibble);
      const __m512 weightScale = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_loadu_ps(scales + 4 * g)));
      for (int r = 0; r < R; ++r) {
        const __m512i qEven = _mm512_loadu_si512(rows[r] + g * 128);
        const __m512i qOdd = _mm512_loadu_si512(rows[r] + g * 128 + 64);
        const __m512i sums = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), even, qEven), odd, qOdd);
        const __m512 rowScale = _mm512_loadu_ps(lanes[r] + g * 16);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(rowScale, weightScale), acc[r]);
      }
    }
    __m256 tail[R];
    for (int r = 0; r < R; ++r) tail[r] = _mm256_setzero_ps();
    if (tailPair) {
      const size_t p = groups * 2;
      const __m256i low = _mm256_set1_epi8(0x0F);
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + p * 32));
      const __m256i even = _mm256_and_si256(packed, low);
      const __m256i odd = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
      const __m128 scalePair = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales + 2 * p)));
      const __m256 weightScale = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(scalePair), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
      for (int r = 0; r < R; ++r) {
        const __m256i qEven = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r] + a.EvenOffset(2 * p)));
        const __m256i qOdd = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[r] + a.OddOffset(2 * p)));
        const __m256i sums = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), even, qEven), odd, qOdd);
        tail[r] = _mm256_mul_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(_mm256_loadu_ps(lanes[r] + p * 8), weightScale));
      }
    }
    // The weights were multiplied as unsigned nibbles; the zero point 8 comes off as
    // 8 * sum over blocks of (weight scale * activation scale * sum of the block's activations).
    for (int r = 0; r < R; ++r) {
      const float* sums = a.scaledSums.data() + (r0 + r) * blocks;
      __m512 offset = _mm512_setzero_ps();
      size_t b = 0;
      for (; b + 16 <= blocks; b += 16) offset = _mm512_fmadd_ps(_mm512_loadu_ps(scales + b), _mm512_loadu_ps(sums + b), offset);
      float rest = 0.f;
      for (; b < blocks; ++b) rest += scales[b] * sums[b];
      out[(r0 + r) * w.n + c] = HorizontalSum(acc[r]) + HorizontalSum(tail[r]) - 8.f * (HorizontalSum(offset) + rest);
    }
  }
}

template <int R>
void GemmTile(const QuantizedRows& a, size_t r0, const uint8_t* values, const float* scales, float* out, size_t n,
              size_t first, size_t columns) {
  const size_t blocks = a.blocks();
  const int8_t* rows[R];
  for (int r = 0; r < R; ++r) rows[r] = a.values.data() + (r0 + r) * a.k;
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* block = values + b * 8 * kPanelWidth * 4;
    __m512i wv[8];
    for (int j = 0; j < 8; ++j) wv[j] = _mm512_loadu_si512(block + j * 64);
    const __m512 weightScale = _mm512_loadu_ps(scales + b * kPanelWidth);
    const size_t evenAt = a.EvenOffset(b), oddAt = a.OddOffset(b);
    for (int r = 0; r < R; ++r) {
      const int8_t* even = rows[r] + evenAt;
      const int8_t* odd = rows[r] + oddAt;
      const size_t at = (r0 + r) * blocks + b;
      // Two chains of 4 dependent vpdpbusd instead of one of 8: half the latency per row.
      __m512i dot = _mm512_set1_epi32(a.zeroOffsets[at]), dotOdd = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) {
        dot = _mm512_dpbusd_epi32(dot, wv[j], _mm512_set1_epi32(Load32(even + 4 * j)));
        dotOdd = _mm512_dpbusd_epi32(dotOdd, wv[4 + j], _mm512_set1_epi32(Load32(odd + 4 * j)));
      }
      dot = _mm512_add_epi32(dot, dotOdd);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(weightScale, _mm512_set1_ps(a.scales[at])), acc[r]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << columns) - 1);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(out + (r0 + r) * n + first, mask, acc[r]);
}

template <int R>
void GemmRows(const QuantizedRows& a, size_t r, const Panels& panels, float* out, size_t n) {
  for (size_t p = 0; p < panels.count; ++p) {
    const size_t first = panels.columnBegin + p * kPanelWidth;
    const size_t columns = panels.columnEnd - first < kPanelWidth ? panels.columnEnd - first : kPanelWidth;
    GemmTile<R>(a, r, panels.values + p * panels.ValuesPerPanel(), panels.scales + p * panels.ScalesPerPanel(), out, n,
                first, columns);
  }
}

}  // namespace

void GemvAvx512Vnni(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out) {
  size_t r = 0;
  for (; r + kGemvTileRows <= a.rows; r += kGemvTileRows) GemvTile<kGemvTileRows>(a, r, w, c0, c1, out);
  switch (a.rows - r) {
    case 7: GemvTile<7>(a, r, w, c0, c1, out); break;
    case 6: GemvTile<6>(a, r, w, c0, c1, out); break;
    case 5: GemvTile<5>(a, r, w, c0, c1, out); break;
    case 4: GemvTile<4>(a, r, w, c0, c1, out); break;
    case 3: GemvTile<3>(a, r, w, c0, c1, out); break;
    case 2: GemvTile<2>(a, r, w, c0, c1, out); break;
    case 1: GemvTile<1>(a, r, w, c0, c1, out); break;
    default: break;
  }
}

void GemmAvx512Vnni(const QuantizedRows& a, const Panels& panels, float* out, size_t n) {
  // Row tiles outside, panels inside: a tile's activations stay in L1 while the task's panels
  // (a few hundred KiB at most) stream from L2.
  size_t r = 0;
  for (; r + kGemmTileRows <= a.rows; r += kGemmTileRows) GemmRows<kGemmTileRows>(a, r, panels, out, n);
  switch (a.rows - r) {
    case 7: GemmRows<7>(a, r, panels, out, n); break;
    case 6: GemmRows<6>(a, r, panels, out, n); break;
    case 5: GemmRows<5>(a, r, panels, out, n); break;
    case 4: GemmRows<4>(a, r, panels, out, n); break;
    case 3: GemmRows<3>(a, r, panels, out, n); break;
    case 2: GemmRows<2>(a, r, panels, out, n); break;
    case 1: GemmRows<1>(a, r, panels, out, n); break;
    default: break;
  }
}

}  // namespace phi4::int4::detail

PHI4_TARGET_END

#else  // not x86-64: never chosen (VariantSupported), defined so that the dispatch links

namespace phi4::int4::detail {
void GemvAvx512Vnni(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out) { GemvPortable(a, w, c0, c1, out); }
void GemmAvx512Vnni(const QuantizedRows& a, const Panels& p, float* out, size_t n) { GemmPortable(a, p, out, n); }
}  // namespace phi4::int4::detail

#endif
