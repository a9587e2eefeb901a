// What the CPU can run, detected once at run time: prebuilds target a baseline x86-64, so every
// kernel that needs more (AVX2, VNNI, AVX-512) is chosen here, never at compile time.
#pragma once

namespace phi4 {

struct CpuFeatures {
  bool avx2Fma = false;     // AVX2, FMA and F16C (every CPU with AVX2 has F16C)
  bool avxVnni = false;     // AVX-VNNI: vpdpbusd on ymm (VEX)
  bool avx512Vnni = false;  // AVX-512 F, BW, VL and VNNI: vpdpbusd on zmm, with OS support for zmm state
};

const CpuFeatures& DetectCpuFeatures();

}  // namespace phi4
