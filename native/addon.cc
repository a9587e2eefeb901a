// Module entry: exports Runtime (the only constructor JS calls directly), Model, Context and Sequence, and the
// measureReadBandwidth probe the benchmarks use, the int4 kernel's support flag and test entry, and the
// attention kernel's test entry.
#include <napi.h>

#include "addon_data.h"
#include "attention.h"
#include "attention_js.h"
#include "bandwidth.h"
#include "context.h"
#include "int4_matmul.h"
#include "int4_matmul_js.h"
#include "model.h"
#include "runtime.h"
#include "sequence.h"

namespace phi4 {

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  Napi::Function model = Model::Init(env);
  Napi::Function context = Context::Init(env);
  Napi::Function sequence = Sequence::Init(env);
  data->model = Napi::Persistent(model);
  data->context = Napi::Persistent(context);
  data->sequence = Napi::Persistent(sequence);
  env.SetInstanceData<AddonData>(data);
  exports.Set("Runtime", Runtime::Init(env));
  exports.Set("Model", model);
  exports.Set("Context", context);
  exports.Set("Sequence", sequence);
  exports.Set("int4KernelSupported", Napi::Boolean::New(env, int4::KernelSupported()));
  exports.Set("int4KernelVariant", Napi::String::New(env, int4::VariantName(int4::BestVariant())));
  exports.Set("int4KernelVariants", Napi::Function::New(env, Int4KernelVariants, "int4KernelVariants"));
  exports.Set("int4MatMul", Napi::Function::New(env, Int4MatMul, "int4MatMul"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionKernelVariant", Napi::String::New(env, attention::VariantName()));
  exports.Set("measureReadBandwidth", Napi::Function::New(env, MeasureReadBandwidth, "measureReadBandwidth"));
  return exports;
}

}  // namespace phi4

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return phi4::InitAddon(env, exports); }

NODE_API_MODULE(phi4_onnx, Init)
