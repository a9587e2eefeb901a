// attention.h's entry points: validation, the rotary and KV-cache phase, the choice of kernel
// variant, and the portable variant itself (attention_kernel.inc compiled for the baseline).
#include "attention.h"

#include <vector>

#include "attention_kernels.h"
#include "cpu_features.h"
#include "half.h"

#define PHI4_ATTN_SUFFIX Portable
#include "attention_kernel.inc"

namespace phi4::attention {
namespace {

enum class Variant { kPortable, kAvx2, kAvx512 };

Variant Best() {
  const CpuFeatures& cpu = DetectCpuFeatures();
  return cpu.avx512Vnni ? Variant::kAvx512 : cpu.avx2Fma ? Variant::kAvx2 : Variant::kPortable;
}

Variant Chosen(const Problem& p) { return p.portable ? Variant::kPortable : Best(); }

// Stores n fp32 values (a multiple of 16) into an fp16 cache row with the problem's variant.
void Narrow(const Problem& p, const float* in, uint16_t* out, int n) {
  switch (Chosen(p)) {
    case Variant::kAvx512:
      return detail::NarrowRowAvx512(in, out, n);
    case Variant::kAvx2:
      return detail::NarrowRowAvx2(in, out, n);
    case Variant::kPortable:
      return detail::NarrowRowPortable(in, out, n);
  }
}

// Rotates the first 2 * half values of x in place (non-interleaved halves, as ONNX Runtime).
void Rotate(float* x, const float* cos, const float* sin, int half) {
  for (int i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

}  // namespace

const char* Validate(const Problem& p) {
  if (p.heads <= 0 || p.kvHeads <= 0 || p.heads % p.kvHeads != 0) return "num_heads must be a multiple of kv_num_heads";
  if (p.headSize <= 0 || p.headSize % 16 != 0) return "the head size must be a multiple of 16";
  if (p.rotaryHalf <= 0 || 2 * p.rotaryHalf > p.headSize) return "the cos/sin caches must be at most half a head wide";
  const bool fp32 = p.key && p.value, fp16 = p.keyHalf && p.valueHalf;
  if (fp32 == fp16 || (fp32 && (p.keyHalf || p.valueHalf)) || (fp16 && (p.key || p.value)))
    return "the KV cache must be one fp32 or one fp16 key and value pair";
  for (int b = 0; b < p.batch; ++b) {
    const int total = p.seqlensK[b] + 1;
    if (total < p.seq) return "seqlens_k is shorter than the new tokens";
    if (total > p.capacity) return "the KV cache is too small for seqlens_k";
    if (total > p.cacheRows) return "a position is past the cos/sin caches";
  }
  return "";
}

void PrepareRows(const Problem& p, size_t begin, size_t end) {
  const int D = p.headSize, width = (p.heads + 2 * p.kvHeads) * D;
  thread_local std::vector<float> rotatedKey;  // an fp16 cache's key, rotated in fp32 before it is rounded
  rotatedKey.resize(p.keyHalf ? D : 0);
  for (size_t row = begin; row < end; ++row) {
    const int b = static_cast<int>(row) / p.seq, s = static_cast<int>(row) % p.seq;
    const int position = p.seqlensK[b] + 1 - p.seq + s;
    const float* cos = p.cos + static_cast<size_t>(position) * p.rotaryHalf;
    const float* sin = p.sin + static_cast<size_t>(position) * p.rotaryHalf;
    const float* in = p.qkv + row * width;
    float* q = p.rotatedQuery + row * p.heads * D;
    for (int i = 0; i < p.heads * D; ++i) q[i] = in[i];
    for (int h = 0; h < p.heads; ++h) {
      Rotate(q + h * D, cos, sin, p.rotaryHalf);
      for (int d = 0; d < D; ++d) q[h * D + d] *= p.scale;
    }
    for (int g = 0; g < p.kvHeads; ++g) {
      const size_t at = ((static_cast<size_t>(b) * p.kvHeads + g) * p.capacity + position) * D;
      const float* kIn = in + (p.heads + g) * D;
      const float* vIn = in + (p.heads + p.kvHeads + g) * D;
      float* k = p.keyHalf ? rotatedKey.data() : p.key + at;
      for (int d = 0; d < D; ++d) k[d] = kIn[d];
      Rotate(k, cos, sin, p.rotaryHalf);
      if (p.keyHalf) {
        Narrow(p, k, p.keyHalf + at, D);
        Narrow(p, vIn, p.valueHalf + at, D);
      } else {
        for (int d = 0; d < D; ++d) p.value[at + d] = vIn[d];
      }
    }
  }
}

size_t TaskCount(const Problem& p) {
  const size_t queryBlocks = (p.seq + detail::kQueryRows - 1) / detail::kQueryRows;
  return static_cast<size_t>(p.batch) * p.kvHeads * queryBlocks;
}

void RunTask(const Problem& p, size_t task) {
  thread_local std::vector<float> scratch;
  scratch.resize(detail::ScratchFloats(p));
  switch (Chosen(p)) {
    case Variant::kAvx512:
      return detail::RunTaskAvx512(p, task, scratch.data());
    case Variant::kAvx2:
      return detail::RunTaskAvx2(p, task, scratch.data());
    case Variant::kPortable:
      return detail::RunTaskPortable(p, task, scratch.data());
  }
}

const char* VariantName() {
  switch (Best()) {
    case Variant::kAvx512:
      return "avx512";
    case Variant::kAvx2:
      return "avx2";
    case Variant::kPortable:
      return "portable";
  }
  return "portable";
}

}  // namespace phi4::attention
