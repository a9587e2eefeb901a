#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace phi4 {
namespace {

#if defined(__x86_64__) || defined(_M_X64)

void CpuId(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
#if defined(_MSC_VER) && !defined(__clang__)
  int info[4];
  __cpuidex(info, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<unsigned>(info[i]);
#else
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

unsigned long long ReadXcr0() {
#if defined(_MSC_VER) && !defined(__clang__)
  return _xgetbv(0);
#else
  unsigned eax = 0, edx = 0;
  __asm__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}

CpuFeatures Detect() {
  CpuFeatures f;
  unsigned r[4];
  CpuId(0, 0, r);
  const unsigned maxLeaf = r[0];
  if (maxLeaf < 7) return f;
  CpuId(1, 0, r);
  const bool fma = (r[2] >> 12) & 1, osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1, f16c = (r[2] >> 29) & 1;
  if (!osxsave || !avx) return f;
  const unsigned long long xcr0 = ReadXcr0();
  const bool ymmState = (xcr0 & 0x6) == 0x6;    // SSE and AVX state saved by the OS
  const bool zmmState = (xcr0 & 0xE6) == 0xE6;  // plus opmask and both halves of zmm
  CpuId(7, 0, r);
  const unsigned ebx = r[1], ecx = r[2];
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1, avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
  const bool avx512vnni = (ecx >> 11) & 1;
  CpuId(7, 1, r);
  const bool avxvnni = (r[0] >> 4) & 1;
  f.avx2Fma = ymmState && avx2 && fma && f16c;
  f.avxVnni = f.avx2Fma && avxvnni;
  f.avx512Vnni = f.avx2Fma && zmmState && avx512f && avx512bw && avx512vl && avx512vnni;
  return f;
}

#else

CpuFeatures Detect() { return {}; }

#endif

// PHI4_CPU_ISA caps what the kernels may use, to reproduce here what a CPU with less runs (the test
// suite runs its kernel tests once more as an AVX2-only CPU). The library checks the value when a
// model loads (lib/engine/runtime.ts); anything else leaves the detection as it is.
CpuFeatures Capped(CpuFeatures f, const char* cap) {
  if (cap == nullptr) return f;
  if (std::strcmp(cap, "avxvnni") == 0) {
    f.avx512Vnni = false;
  } else if (std::strcmp(cap, "avx2") == 0) {
    f.avx512Vnni = f.avxVnni = false;
  } else if (std::strcmp(cap, "portable") == 0) {
    f = {};
  }
  return f;
}

}  // namespace

const CpuFeatures& DetectCpuFeatures() {
  static const CpuFeatures features = Capped(Detect(), std::getenv("PHI4_CPU_ISA"));
  return features;
}

}  // namespace phi4
