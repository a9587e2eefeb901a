// Compiles the functions between PHI4_TARGET_BEGIN_<set> and PHI4_TARGET_END for an instruction set
// the build's baseline lacks (prebuilds target plain x86-64): callers check cpu_features.h first.
// Files in such a region use intrinsics and plain loops only, no standard-library templates, so no
// inline function compiled for the wider set can be picked by the linker for other callers.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define PHI4_X64 1
#include <immintrin.h>
#endif

#if defined(__clang__)
#define PHI4_PRAGMA(x) _Pragma(#x)
#define PHI4_TARGET_BEGIN(features) PHI4_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define PHI4_TARGET_END _Pragma("clang attribute pop")
#elif defined(__GNUC__)
#define PHI4_PRAGMA(x) _Pragma(#x)
#define PHI4_TARGET_BEGIN(features) _Pragma("GCC push_options") PHI4_PRAGMA(GCC target(features))
#define PHI4_TARGET_END _Pragma("GCC pop_options")
#else  // MSVC compiles intrinsics for any target
#define PHI4_TARGET_BEGIN(features)
#define PHI4_TARGET_END
#endif
