#include "int4_matmul_js.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "int4_matmul.h"
#include "js_args.h"

namespace phi4 {
namespace {

// The variant the caller asked for (default: what the engine would choose).
int4::Variant ReadVariant(const Napi::Object& o) {
  int4::Variant variant = int4::BestVariant();
  Napi::Value v = o.Get("variant");
  if (v.IsUndefined()) return variant;
  const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (!int4::ParseVariant(name, &variant)) ThrowJs(o.Env(), code::kInvalidArgument, "unknown int4 kernel variant '" + name + "'");
  if (!int4::VariantSupported(variant)) ThrowJs(o.Env(), code::kInvalidArgument, "this CPU cannot run the int4 kernel variant '" + name + "'");
  return variant;
}

}  // namespace

Napi::Value Int4KernelVariants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (int4::Variant v : int4::AllVariants()) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", int4::VariantName(v));
    entry.Set("supported", int4::VariantSupported(v));
    entry.Set("tileRows", static_cast<double>(int4::TileRows(v)));
    out.Set(i++, entry);
  }
  return out;
}

Napi::Value Int4MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = RequireObject(info, 0, "int4MatMul's argument");
  const int4::Variant variant = ReadVariant(o);
  const int rows = GetInt(o, "rows", 0), n = GetInt(o, "n", 0), k = GetInt(o, "k", 0);
  if (rows < 1 || n < 1 || k < 64 || k % 64 != 0) ThrowJs(env, code::kInvalidArgument, "rows and n must be positive and k a multiple of 64");
  const size_t blocks = static_cast<size_t>(k) / int4::kBlock;
  const float* a = GetTypedArray<float>(o, "a", napi_float32_array, static_cast<size_t>(rows) * k);
  const uint8_t* weights = GetTypedArray<uint8_t>(o, "weights", napi_uint8_array, static_cast<size_t>(n) * blocks * 16);
  const float* scales = GetTypedArray<float>(o, "scales", napi_float32_array, static_cast<size_t>(n) * blocks);

  int4::QuantizedRows quantized;
  quantized.Resize(rows, k);
  int4::QuantizeRows(variant, a, 0, rows, quantized);
  Napi::Float32Array out = Napi::Float32Array::New(env, static_cast<size_t>(rows) * n);
  const auto packed = int4::Pack(weights, scales, static_cast<size_t>(n), static_cast<size_t>(k));
  // Column tasks as the ONNX Runtime op runs them, one after the other.
  for (size_t c = 0; c < packed->n(); c += int4::kColumnsPerTask) {
    int4::MultiplyColumns(variant, quantized, *packed, c, std::min(c + int4::kColumnsPerTask, packed->n()), out.Data());
  }
  return out;
}

}  // namespace phi4
