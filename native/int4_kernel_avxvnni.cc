// The AVX-VNNI variant of the int4 kernels (int4_kernel_ymm.inc): vpdpbusd on ymm registers, one
// instruction where AVX2 needs two (Intel Alder Lake and later, AMD Zen 4 and later).
#include "int4_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64

PHI4_TARGET_BEGIN("avx2,fma,f16c,avxvnni")

#define PHI4_YMM_SUFFIX AvxVnni
#define PHI4_YMM_DPBUSD _mm256_dpbusd_avx_epi32
#define PHI4_YMM_GEMV_ROWS 4
#define PHI4_YMM_WITH_GEMM 1
#include "int4_kernel_ymm.inc"

PHI4_TARGET_END

#else  // not x86-64: never chosen (VariantSupported), defined so that the dispatch links

namespace phi4::int4::detail {
void GemvAvxVnni(const QuantizedRows& a, const Weights& w, size_t c0, size_t c1, float* out) { GemvPortable(a, w, c0, c1, out); }
void GemmAvxVnni(const QuantizedRows& a, const Panels& p, float* out, size_t n) { GemmPortable(a, p, out, n); }
}  // namespace phi4::int4::detail

#endif
