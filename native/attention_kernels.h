// The variants of attention.h's kernel (attention_kernel.inc compiled per instruction set) and the
// blocking they share. Internal to the attention kernel.
#pragma once

#include <cstddef>
#include <cstdint>

#include "attention.h"

namespace phi4::attention::detail {

// Query rows per task (times the group's query heads): every task transposes each key block it
// reads, so more rows share that work; 4 tasks per KV head for a 256-token chunk still keep two
// threads busy.
constexpr int kQueryRows = 64;
constexpr int kKeyBlock = 64;  // keys per block: the transposed block is headSize x 64 floats (32 KiB at 128)

// Floats of scratch one task needs (an fp16 cache adds a block of widened values, which only the
// portable variant fills: the SIMD variants' value sums widen in registers).
inline size_t ScratchFloats(const Problem& p) {
  const size_t queries = static_cast<size_t>(kQueryRows) * (p.heads / p.kvHeads);
  const size_t block = static_cast<size_t>(p.headSize) * kKeyBlock;
  return queries * p.headSize + 2 * queries + block + 4 * kKeyBlock + (p.keyHalf ? block : 0);  // 4: kTile
}

void RunTaskPortable(const Problem& p, size_t task, float* scratch);
void RunTaskAvx2(const Problem& p, size_t task, float* scratch);
void RunTaskAvx512(const Problem& p, size_t task, float* scratch);

// out[i] = in[i] rounded to the nearest fp16 (ties to even), for n a multiple of 16: F16C's
// vcvtps2ph in the SIMD variants, half.h's FloatToHalf (the same results) in the portable one.
void NarrowRowPortable(const float* in, uint16_t* out, int n);
void NarrowRowAvx2(const float* in, uint16_t* out, int n);
void NarrowRowAvx512(const float* in, uint16_t* out, int n);

}  // namespace phi4::attention::detail
