// attention_kernel.inc compiled for AVX2 + FMA + F16C.
#include "attention_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64
PHI4_TARGET_BEGIN("avx2,fma,f16c")
#define PHI4_ATTN_SUFFIX Avx2
#define PHI4_ATTN_SSE_TRANSPOSE 1
#define PHI4_ATTN_YMM_VALUES 1
#define PHI4_ATTN_F16C 1
#include "attention_kernel.inc"
PHI4_TARGET_END
#else  // not x86-64: never chosen, defined so that the dispatch links
namespace phi4::attention::detail {
void RunTaskAvx2(const Problem& p, size_t task, float* scratch) { RunTaskPortable(p, task, scratch); }
void NarrowRowAvx2(const float* in, uint16_t* out, int n) { NarrowRowPortable(in, out, n); }
}  // namespace phi4::attention::detail
#endif
