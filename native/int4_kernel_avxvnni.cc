// The AVX-VNNI variant of the int4 kernels (int4_kernel_ymm.inc): vpdpbusd on ymm registers, one
// instruction where AVX2 needs two (Intel Alder Lake and later, AMD Zen 4 and later).
#include "int4_kernels.h"
#include "simd_target.h"

#ifdef PHI4_X64

PHI4_TARGET_BEGIN("avx2,fma,f16c,avxvnni")

#define PHI4_YMM_SUFFIX AvxVnni
#define PHI4_YMM_DPBUSD _mm256_dpbusd_avx_epi32
#include "int4_kernel_ymm.inc"

PHI4_TARGET_END

#else  // not x86-64: never chosen (VariantSupported), defined so that the dispatch links

namespace phi4::int4::detail {
void MultiplyAvxVnni(const QuantizedRows& a, const PackedWeights& w, size_t c0, size_t c1, float* out) { MultiplyPortable(a, w, c0, c1, out); }
}  // namespace phi4::int4::detail

#endif
