// The AVX-512 VNNI variant of the int4 kernels: vpdpbusd on zmm registers (Intel Ice Lake and
// later, AMD Zen 4 and later).
//
// GEMV: for each column, each 64-byte group of 4 stored weight blocks is unpacked once (low and high
// nibbles) and multiplied by up to 8 rows while it is in registers; lanes keep exact per-block
// partial sums (the zero point's share included) that the block scales weigh before they are added. A row whose K is not a multiple of 128
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

PHI4_TARGET_BEGIN("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

// The GEMV: ymm code with EVEX vpdpbusd, 8 rows per tile in AVX-512's 32 vector registers.
#define PHI4_YMM_SUFFIX Avx512Vnni
#define PHI4_YMM_DPBUSD _mm256_dpbusd_epi32
#define PHI4_YMM_GEMV_ROWS 8
#define PHI4_YMM_WITH_GEMM 0
#include "int4_kernel_ymm.inc"

namespace phi4::int4::detail {
namespace {

constexpr size_t kGemmTileRows = 6;
constexpr size_t kPanelWidth = 16;
using ymm_Avx512Vnni::Load32;  // int4_kernel_ymm.inc

template <int R>
void GemmTile(const QuantizedRows& a, size_t r0, const uint8_t* values, const float* scales, float* out, size_t n, size_t first, size_t columns) {
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
    GemmTile<R>(a, r, panels.values + p * panels.ValuesPerPanel(), panels.scales + p * panels.ScalesPerPanel(), out, n, first, columns);
  }
}

}  // namespace

void GemmAvx512Vnni(const QuantizedRows& a, const Panels& panels, float* out, size_t n) {
  // Row tiles outside, panels inside: a tile's activations stay in L1 while the task's panels
  // (a few hundred KiB at most) stream from L2.
  size_t r = 0;
  for (; r + kGemmTileRows <= a.rows; r += kGemmTileRows) GemmRows<kGemmTileRows>(a, r, panels, out, n);
  switch (a.rows - r) {
    case 7:
      GemmRows<7>(a, r, panels, out, n);
      break;
    case 6:
      GemmRows<6>(a, r, panels, out, n);
      break;
    case 5:
      GemmRows<5>(a, r, panels, out, n);
      break;
    case 4:
      GemmRows<4>(a, r, panels, out, n);
      break;
    case 3:
      GemmRows<3>(a, r, panels, out, n);
      break;
    case 2:
      GemmRows<2>(a, r, panels, out, n);
      break;
    case 1:
      GemmRows<1>(a, r, panels, out, n);
      break;
    default:
      break;
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
