#include "int4_matmul_js.h"

#include <cstring>
#include <string>

#include "int4_matmul.h"
#include "js_args.h"

namespace phi4 {
namespace {

template <typename T>
const T* TypedData(const Napi::Object& o, const char* key, napi_typedarray_type type, size_t count) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowJs(o.Env(), code::kInvalidArgument, std::string(key) + " has the wrong type");
  }
  Napi::TypedArrayOf<T> array = v.As<Napi::TypedArrayOf<T>>();
  if (array.ElementLength() != count) {
    ThrowJs(o.Env(), code::kInvalidArgument, std::string(key) + " must have " + std::to_string(count) + " elements");
  }
  return array.Data();
}

}  // namespace

Napi::Value Int4MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!int4::KernelSupported()) ThrowJs(env, code::kInvalidArgument, "the int4 kernel needs an x86-64 CPU with AVX2 and FMA");
  Napi::Object o = RequireObject(info, 0, "int4MatMul's argument");
  const int rows = GetInt(o, "rows", 0), n = GetInt(o, "n", 0), k = GetInt(o, "k", 0);
  if (rows < 1 || n < 1 || k < 64 || k % 64 != 0) ThrowJs(env, code::kInvalidArgument, "rows and n must be positive and k a multiple of 64");
  const size_t blocks = static_cast<size_t>(k) / int4::kBlock;
  const float* a = TypedData<float>(o, "a", napi_float32_array, static_cast<size_t>(rows) * k);
  const uint8_t* weights = TypedData<uint8_t>(o, "weights", napi_uint8_array, static_cast<size_t>(n) * blocks * 16);
  const float* scales = TypedData<float>(o, "scales", napi_float32_array, static_cast<size_t>(n) * blocks);

  int4::QuantizedRows quantized;
  quantized.Resize(rows, k);
  int4::QuantizeRows(a, 0, rows, quantized);
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(rows) * n);
  int4::MultiplyColumns(quantized, {weights, scales, static_cast<size_t>(n), static_cast<size_t>(k)}, 0, n, out.Data());
  return out;
}

}  // namespace phi4
