// attention_kernel.inc compiled for AVX-512 (F, BW, VL; chosen on the CPUs that the int4 kernel's
// AVX-512 VNNI variant runs on).
#include "attention_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64
// GCC 12 reports the deliberately undefined vectors inside its own AVX-512 intrinsics
// (_mm512_undefined_*) as maybe uninitialized; nothing here reads an uninitialized value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
PHI4_TARGET_BEGIN("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#define PHI4_ATTN_SUFFIX Avx512
#define PHI4_ATTN_ZMM 1
#define PHI4_ATTN_SSE_TRANSPOSE 1
#define PHI4_ATTN_F16C 1
#include "attention_kernel.inc"
PHI4_TARGET_END
#else  // not x86-64: never chosen, defined so that the dispatch links
namespace phi4::attention::detail {
void RunTaskAvx512(const Problem& p, size_t task, float* scratch) { RunTaskPortable(p, task, scratch); }
void NarrowRowAvx512(const float* in, uint16_t* out, int n) { NarrowRowPortable(in, out, n); }
}  // namespace phi4::attention::detail
#endif
