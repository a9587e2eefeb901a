#include "attention_js.h"

#include <string>
#include <vector>

#include "attention.h"
#include "js_args.h"

namespace phi4 {
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = RequireObject(info, 0, "attention's argument");
  attention::Problem p;
  p.batch = GetInt(o, "batch", 0);
  p.seq = GetInt(o, "seq", 0);
  p.heads = GetInt(o, "heads", 0);
  p.kvHeads = GetInt(o, "kvHeads", 0);
  p.capacity = GetInt(o, "capacity", 0);
  p.headSize = GetInt(o, "headSize", 0);
  p.rotaryHalf = GetInt(o, "rotaryHalf", 0);
  p.cacheRows = GetInt(o, "cacheRows", 0);
  p.scale = static_cast<float>(GetNumber(o, "scale", 0));
  if (p.batch < 1 || p.seq < 1 || p.heads < 1 || p.kvHeads < 1 || p.capacity < 1 || p.headSize < 1 || p.cacheRows < 1) {
    ThrowJs(env, code::kInvalidArgument, "batch, seq, heads, kvHeads, capacity, headSize and cacheRows must be positive");
  }
  const size_t cache = static_cast<size_t>(p.batch) * p.kvHeads * p.capacity * p.headSize;
  p.qkv = GetTypedArray<float>(o, "qkv", napi_float32_array, static_cast<size_t>(p.batch) * p.seq * (p.heads + 2 * p.kvHeads) * p.headSize);
  // An fp16 cache comes as keyHalf / valueHalf (Uint16Array bit patterns) instead of key / value;
  // Validate refuses both or neither.
  if (o.Has("key") || o.Has("value")) {
    p.key = GetTypedArray<float>(o, "key", napi_float32_array, cache);
    p.value = GetTypedArray<float>(o, "value", napi_float32_array, cache);
  }
  if (o.Has("keyHalf") || o.Has("valueHalf")) {
    p.keyHalf = GetTypedArray<uint16_t>(o, "keyHalf", napi_uint16_array, cache);
    p.valueHalf = GetTypedArray<uint16_t>(o, "valueHalf", napi_uint16_array, cache);
  }
  p.seqlensK = GetTypedArray<int32_t>(o, "seqlensK", napi_int32_array, p.batch);
  p.cos = GetTypedArray<float>(o, "cos", napi_float32_array, static_cast<size_t>(p.cacheRows) * p.rotaryHalf);
  p.sin = GetTypedArray<float>(o, "sin", napi_float32_array, static_cast<size_t>(p.cacheRows) * p.rotaryHalf);
  if (const char* problem = attention::Validate(p); *problem) ThrowJs(env, code::kInvalidArgument, problem);
  std::vector<float> rotated(static_cast<size_t>(p.batch) * p.seq * p.heads * p.headSize);
  p.rotatedQuery = rotated.data();
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(p.batch) * p.seq * p.heads * p.headSize);
  p.out = out.Data();
  p.portable = GetBool(o, "portable", false);
  attention::PrepareRows(p, 0, static_cast<size_t>(p.batch) * p.seq);
  for (size_t t = 0; t < attention::TaskCount(p); ++t) attention::RunTask(p, t);
  return out;
}

}  // namespace phi4
