// The int4 kernel on its own, for the tests that hold it to ONNX Runtime's MatMulNBits on the same
// inputs (test/int4-kernel.test.ts). Synchronous and single-threaded: meant for small matrices.
#pragma once

#include <napi.h>

namespace phi4 {

// int4MatMul({ a, rows, weights, scales, n, k }) -> Float32Array [rows][n]: a is Float32Array
// [rows][k]; weights (Uint8Array [n][k/32][16]) and scales (Float32Array [n][k/32]) are MatMulNBits'
// B and scales with 4 bits, block 32 and zero point 8. Optional: variant (a name from
// int4KernelVariants, default the fastest here).
Napi::Value Int4MatMul(const Napi::CallbackInfo& info);

// int4KernelVariants() -> [{ name, supported, tileRows }], fastest first.
Napi::Value Int4KernelVariants(const Napi::CallbackInfo& info);

}  // namespace phi4
