// The AVX-512 VNNI variant of the int4 kernels: vpdpbusd on zmm registers (Intel Ice Lake and
// later, AMD Zen 4 and later).
//
// A tile of up to 8 rows x one panel (16 columns, one per 32-bit lane): per block, 4 loads and two
// masks give 8 weight vectors (one 4-byte group of each column per lane), which meet each row's
// activations broadcast 4 bytes at a time; the block's exact integer dot product, less the zero
// point, is scaled and added.
#include "int4_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64

// GCC 12 reports the deliberately undefined vectors inside its own AVX-512 intrinsics
// (_mm512_undefined_*) as maybe uninitialized; nothing here reads an uninitialized value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

PHI4_TARGET_BEGIN("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")

namespace phi4::int4::detail {
namespace {

constexpr size_t kTileRows = 8;  // TileRows(kAvx512Vnni)
// How far ahead of the block being multiplied to prefetch a panel's stream (a row tile that reads the
// panel from memory; in L2 the prefetches are cheap hits).
constexpr size_t kPrefetchBytes = 16 * PackedWeights::kPairBytes;

inline int32_t Load32(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// Rows [r0, r0 + R) times one panel whose first `columns` columns are real and are output columns
// [first, first + columns).
template <int R>
void Tile(const QuantizedRows& a, size_t r0, const uint8_t* panel, size_t blocks, float* out, size_t n, size_t first, size_t columns) {
  const __m512i lowNibble = _mm512_set1_epi8(0x0F);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t b = 0; b < blocks; ++b) {
    const uint8_t* values = BlockValues(panel, b);
    if (b % 2 == 0) {
      for (size_t line = 0; line < PackedWeights::kPairBytes; line += 64)
        _mm_prefetch(reinterpret_cast<const char*>(values + kPrefetchBytes + line), _MM_HINT_T0);
    }
    __m512i wv[8];
    for (int j = 0; j < 4; ++j) {
      const __m512i packed = _mm512_load_si512(values + j * 64);
      wv[j] = _mm512_and_si512(packed, lowNibble);
      wv[4 + j] = _mm512_and_si512(_mm512_srli_epi16(packed, 4), lowNibble);
    }
    const __m512 weightScale = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(BlockScales(panel, b))));
    for (int r = 0; r < R; ++r) {
      const int8_t* q = a.Block(r0 + r, b);
      const size_t at = (r0 + r) * blocks + b;
      // Two chains of 4 dependent vpdpbusd instead of one of 8: half the latency per row.
      __m512i dot = _mm512_set1_epi32(a.zeroOffsets[at]), dotOdd = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) {
        dot = _mm512_dpbusd_epi32(dot, wv[j], _mm512_set1_epi32(Load32(q + 4 * j)));
        dotOdd = _mm512_dpbusd_epi32(dotOdd, wv[4 + j], _mm512_set1_epi32(Load32(q + 16 + 4 * j)));
      }
      dot = _mm512_add_epi32(dot, dotOdd);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(weightScale, _mm512_set1_ps(a.scales[at])), acc[r]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << columns) - 1);
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(out + (r0 + r) * n + first, mask, acc[r]);
}

template <int R>
void TileRowsOverPanels(const QuantizedRows& a, size_t r0, const PackedWeights& w, size_t c0, size_t c1, float* out) {
  for (size_t first = c0; first < c1; first += kPanelColumns) {
    const size_t columns = c1 - first < kPanelColumns ? c1 - first : kPanelColumns;
    Tile<R>(a, r0, w.Panel(first / kPanelColumns), w.blocks(), out, w.n(), first, columns);
  }
}

}  // namespace

void MultiplyAvx512Vnni(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out) {
  // Row tiles outside, panels inside: a tile's activations stay in L1 while the task's panels stream
  // from L2 (or, for the first tile, from memory).
  for (size_t r = 0; r < a.rows; r += kTileRows) {
    switch (a.rows - r < kTileRows ? a.rows - r : kTileRows) {
      case 8:
        TileRowsOverPanels<8>(a, r, w, c0, c1, out);
        break;
      case 7:
        TileRowsOverPanels<7>(a, r, w, c0, c1, out);
        break;
      case 6:
        TileRowsOverPanels<6>(a, r, w, c0, c1, out);
        break;
      case 5:
        TileRowsOverPanels<5>(a, r, w, c0, c1, out);
        break;
      case 4:
        TileRowsOverPanels<4>(a, r, w, c0, c1, out);
        break;
      case 3:
        TileRowsOverPanels<3>(a, r, w, c0, c1, out);
        break;
      case 2:
        TileRowsOverPanels<2>(a, r, w, c0, c1, out);
        break;
      default:
        TileRowsOverPanels<1>(a, r, w, c0, c1, out);
        break;
    }
  }
}

}  // namespace phi4::int4::detail

PHI4_TARGET_END

#else  // not x86-64: never chosen (VariantSupported), defined so that the dispatch links

namespace phi4::int4::detail {
void MultiplyAvx512Vnni(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out) { MultiplyPortable(a, w, c0, c1, out); }
}  // namespace phi4::int4::detail

#endif
