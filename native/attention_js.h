// The attention kernel on its own, for the tests that hold it to ONNX Runtime's GroupQueryAttention
// on the same inputs (test/attention-kernel.test.ts). Synchronous: meant for small problems.
#pragma once

#include <napi.h>

namespace phi4 {

// attention({ qkv, key, value, seqlensK, cos, sin, batch, seq, heads, kvHeads, capacity, scale,
// portable? }) -> Float32Array [batch][seq][heads * headSize]. key and value (Float32Array
// [batch][kvHeads][capacity][headSize]) are the KV cache, updated in place, or keyHalf and
// valueHalf (Uint16Array, the same cache in fp16 bit patterns); cos and sin
// [rows][rotary / 2]; portable runs the plain C++ variant even where SIMD ones exist.
Napi::Value Attention(const Napi::CallbackInfo& info);

}  // namespace phi4
