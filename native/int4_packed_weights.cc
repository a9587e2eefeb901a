// PackedWeights (int4_matmul.h): MatMulNBits' stored weights reordered into panels once, at load.
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#elif defined(_WIN32)
#include <malloc.h>
#endif

#include "half.h"
#include "int4_kernels.h"
#include "int4_matmul.h"

namespace phi4::int4 {

namespace {

constexpr uint8_t kZeroWeights = 0x88;  // two weights of value 0 after the zero point (padding columns)
// Large storage starts on a 2 MiB boundary so that it may be backed by huge pages: a decode step
// streams every weight once, and 4 KiB pages would cost a TLB miss every 4 KiB of it.
constexpr size_t kHugePage = 2 << 20;
constexpr size_t kCacheLine = 64;

uint8_t* AllocateStorage(size_t size, size_t alignment) {
#if defined(_WIN32)
  return static_cast<uint8_t*>(_aligned_malloc(size, alignment));
#else
  return static_cast<uint8_t*>(std::aligned_alloc(alignment, size));
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
  const size_t alignment = bytes() >= kHugePage ? kHugePage : kCacheLine;
  const size_t size = (bytes() + alignment - 1) / alignment * alignment;
  storage_.reset(AllocateStorage(size, alignment));
  if (!storage_) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (alignment == kHugePage) madvise(storage_.get(), size, MADV_HUGEPAGE);  // a hint: without huge pages the kernel still works
#endif
}

void PackedWeights::PackColumns(size_t begin, size_t count, const uint8_t* data, const float* scales) {
  const size_t blockCount = blocks();
  for (size_t first = begin; first < begin + count; first += kPanelColumns) {
    uint8_t* panel = storage_.get() + (first / kPanelColumns) * PanelBytes();
    for (size_t b = 0; b < blockCount; ++b) {
      uint8_t* values = const_cast<uint8_t*>(detail::BlockValues(panel, b));
      uint16_t* blockScales = const_cast<uint16_t*>(detail::BlockScales(panel, b));
      for (size_t c = 0; c < kPanelColumns; ++c) {
        const size_t column = first + c - begin;  // index into data and scales
        const bool real = first + c < begin + count && first + c < n_;
        for (size_t j = 0; j < 4; ++j) {
          uint8_t* lane = values + (j * kPanelColumns + c) * 4;
          if (real) {
            std::memcpy(lane, data + (column * blockCount + b) * 16 + 4 * j, 4);
          } else {
            std::memset(lane, kZeroWeights, 4);
          }
        }
        const uint16_t half = real ? FloatToHalf(scales[column * blockCount + b]) : 0;
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
