// A CPU kernel for Phi-3/Phi-4's attention, the drop-in for GroupQueryAttention as the genai export
// uses it (packed QKV, rotary inside, the KV cache shared between past and present): fp32 throughout.
//
// Why our own: at long context the attention, not the int4 products, is what a prompt waits for
// (docs/performance.md: at 4k tokens of past it is half of a prefill chunk's time). ONNX Runtime's
// CPU kernel materializes every head's [queries x keys] score matrix and reads the keys once per
// query head. This one runs flash-style: the keys and values of one KV head are read in blocks,
// once for every query row and every query head of its group, with an online softmax, so nothing
// of size [queries x keys] is ever written.
//
// Numerics: the same fp32 sums and softmax in another order (rotary as ONNX Runtime applies it,
// non-interleaved: x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin over the cos cache's width).
//
// The KV cache may be fp16 instead (half the memory per token): the new keys and values are computed
// in fp32 as above and stored rounded to the nearest fp16 (ties to even), and the kernels widen what
// they read back to fp32 in registers; every sum stays fp32.
#pragma once

#include <cstddef>
#include <cstdint>

namespace phi4::attention {

struct Problem {
  int batch = 0, seq = 0;  // query rows per batch row
  int heads = 0, kvHeads = 0, headSize = 0;
  int rotaryHalf = 0;  // columns of the cos/sin caches: rotary dimension / 2
  int cacheRows = 0;   // rows of the cos/sin caches (positions they cover)
  int capacity = 0;    // rows of the KV cache per (batch row, KV head)
  float scale = 0.f;
  const float* qkv = nullptr;         // [batch][seq][(heads + 2 kvHeads) headSize]
  const int32_t* seqlensK = nullptr;  // [batch]: total length - 1
  const float* cos = nullptr;         // [cacheRows][rotaryHalf]
  const float* sin = nullptr;
  float* key = nullptr;  // [batch][kvHeads][capacity][headSize], written at the new rows
  float* value = nullptr;
  uint16_t* keyHalf = nullptr;  // or the same cache in fp16 (then key and value stay null)
  uint16_t* valueHalf = nullptr;
  float* out = nullptr;           // [batch][seq][heads headSize]
  float* rotatedQuery = nullptr;  // scratch [batch][seq][heads][headSize]: rotated and scaled
  bool portable = false;          // run the plain C++ variant even where SIMD ones exist (tests)
};

// Checks what the kernels assume (positions inside the caches and the KV capacity, head size a
// multiple of 16, one cache of one type); returns an empty string or the reason.
const char* Validate(const Problem& p);

// Phase 1, rows [begin, end) of batch x seq: rotary on the queries and keys, keys and values into
// the cache. Every phase 1 row must be done before phase 2 starts.
void PrepareRows(const Problem& p, size_t begin, size_t end);

// Phase 2: the attention of one block of query rows of one (batch row, KV head).
size_t TaskCount(const Problem& p);
void RunTask(const Problem& p, size_t task);

// The variant RunTask uses on this CPU unless a problem asks for the portable one: "avx512",
// "avx2" or "portable".
const char* VariantName();

}  // namespace phi4::attention
