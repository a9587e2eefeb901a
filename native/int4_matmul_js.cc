#include "int4_matmul_js.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "int4_matmul.h"
#include "js_args.h"

namespace phi4 {
namespace {

// The variant and path the caller asked for (default: what the engine would choose).
void ReadChoice(const Napi::Object& o, int4::Variant* variant, int4::Path* path) {
  *variant = int4::BestVariant();
  *path = int4::Path::kAuto;
  Napi::Value v = o.Get("variant");
  if (!v.IsUndefined()) {
    const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (!int4::ParseVariant(name, variant)) ThrowJs(o.Env(), code::kInvalidArgument, "unknown int4 kernel variant '" + name + "'");
    if (!int4::VariantSupported(*variant)) {
      ThrowJs(o.Env(), code::kInvalidArgument, "this CPU cannot run the int4 kernel variant '" + name + "'");
    }
  }
  Napi::Value p = o.Get("path");
  if (!p.IsUndefined()) {
    const std::string name = p.IsString() ? p.As<Napi::String>().Utf8Value() : "";
    if (name == "gemv")
      *path = int4::Path::kGemv;
    else if (name == "gemm")
      *path = int4::Path::kGemm;
    else
      ThrowJs(o.Env(), code::kInvalidArgument, "path must be 'gemv' or 'gemm'");
  }
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
    entry.Set("gemvMaxRows", static_cast<double>(int4::GemvMaxRows(v)));
    out.Set(i++, entry);
  }
  return out;
}

Napi::Value Int4MatMul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = RequireObject(info, 0, "int4MatMul's argument");
  int4::Variant variant;
  int4::Path path;
  ReadChoice(o, &variant, &path);
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
  // Column tasks as the ONNX Runtime op runs them, one after the other.
  const std::vector<uint16_t> halfScales = int4::HalfScales(scales, static_cast<size_t>(n) * blocks);
  const int4::Weights w{weights, halfScales.data(), static_cast<size_t>(n), static_cast<size_t>(k)};
  for (size_t c = 0; c < w.n; c += int4::kColumnsPerTask) {
    int4::MultiplyColumns(variant, path, quantized, w, c, std::min(c + int4::kColumnsPerTask, w.n), out.Data());
  }
  return out;
}

}  // namespace phi4
