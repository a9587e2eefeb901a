// PackedWeights (int4_matmul.h): MatMulNBits' stored weights reordered into panels once, at load.
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif
#if defined(_WIN32)
#include <malloc.h>
#endif

#include "half.h"
#include "int4_kernels.h"
#include "int4_matmul.h"

namespace phi4::int4 {

namespace {

constexpr uint8_t kZeroWeights = 0x88;  // two weights of value 0 after the zero point (padding columns)
// Storage starts on a cache line, so that every 64-byte group of a panel is one aligned load. (Huge
// pages were measured: a MADV_HUGEPAGE hint made loading Phi-4-mini 2-5x slower, the kernel compacting
// memory to find them, with no decode speed to show for it.)
constexpr size_t kCacheLine = 64;

uint8_t* AllocateStorage(size_t size, size_t alignment) {
#if defined(_WIN32)
  return static_cast<uint8_t*>(_aligned_malloc(size, alignment));
#else
  return static_cast<uint8_t*>(std::aligned_alloc(alignment, size));
#endif
}

// Four columns' stored blocks (16 bytes: 4-byte groups 0..3 each) into a block's values: group j of
// column i goes to out + j * 64 + i * 4 (a 4 x 4 transpose of 32-bit groups).
void TransposeGroups(const uint8_t* const* blocks, uint8_t* out) {
#if defined(__SSE2__) || defined(_M_X64)
  const __m128i c0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[0]));
  const __m128i c1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[1]));
  const __m128i c2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[2]));
  const __m128i c3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blocks[3]));
  const __m128i t0 = _mm_unpacklo_epi32(c0, c1), t1 = _mm_unpacklo_epi32(c2, c3);  // groups 0, 1
  const __m128i t2 = _mm_unpackhi_epi32(c0, c1), t3 = _mm_unpackhi_epi32(c2, c3);  // groups 2, 3
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi64(t0, t1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 64), _mm_unpackhi_epi64(t0, t1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 128), _mm_unpacklo_epi64(t2, t3));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 192), _mm_unpackhi_epi64(t2, t3));
#else
  for (size_t j = 0; j < 4; ++j) {
    for (size_t i = 0; i < 4; ++i) std::memcpy(out + j * 64 + i * 4, blocks[i] + 4 * j, 4);
  }
#endif
}

}  // namespace

void PackedWeights::FreeStorage::operator()(uint8_t* p) const {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

PackedWeights::PackedWeights(size_t n, size_t k) : n_(n), k_(k), panels_((n + kPanelColumns - 1) / kPanelColumns) {
  // Uninitialized: every byte is written by PackColumns (zeroing would write the whole 2 GB once
  // more at load).
  const size_t size = (bytes() + kCacheLine - 1) / kCacheLine * kCacheLine;
  storage_.reset(AllocateStorage(size, kCacheLine));
  if (!storage_) throw std::bad_alloc();
}

void PackedWeights::PackColumns(size_t begin, size_t count, const uint8_t* data, const float* scales) {
  const size_t blockCount = blocks();
  for (size_t first = begin; first < begin + count; first += kPanelColumns) {
    uint8_t* panel = storage_.get() + (first / kPanelColumns) * PanelBytes();
    // The panel's columns' stored blocks: padding columns read a block of zero weights.
    uint8_t zeroBlock[16];
    std::memset(zeroBlock, kZeroWeights, sizeof zeroBlock);
    const uint8_t* stored[kPanelColumns];
    for (size_t c = 0; c < kPanelColumns; ++c) {
      const bool real = first + c < begin + count && first + c < n_;
      stored[c] = real ? data + (first + c - begin) * blockCount * 16 : nullptr;
    }
    for (size_t b = 0; b < blockCount; ++b) {
      uint8_t* values = const_cast<uint8_t*>(detail::BlockValues(panel, b));
      for (size_t c = 0; c < kPanelColumns; c += 4) {
        const uint8_t* blocks4[4];
        for (size_t i = 0; i < 4; ++i) blocks4[i] = stored[c + i] ? stored[c + i] + b * 16 : zeroBlock;
        TransposeGroups(blocks4, values + c * 4);
      }
      uint16_t* blockScales = const_cast<uint16_t*>(detail::BlockScales(panel, b));
      for (size_t c = 0; c < kPanelColumns; ++c) {
        const uint16_t half = stored[c] ? FloatToHalf(scales[(first + c - begin) * blockCount + b]) : 0;
        std::memcpy(blockScales + c, &half, sizeof half);
      }
    }
  }
}

std::unique_ptr<PackedWeights> Pack(const uint8_t* data, const float* scales, size_t n, size_t k) {
  auto packed = std::make_unique<PackedWeights>(n, k);
  packed->PackColumns(0, n, data, scales);
  return packed;
}

}  // namespace phi4::int4
