#include "runtime.h"

#include "addon_data.h"
#include "int4_matmul.h"
#include "js_args.h"
#include "model.h"
#include "model_core.h"
#include "promise_worker.h"

namespace phi4 {
namespace {

ModelSpec ReadModelSpec(const Napi::Object& o) {
  ModelSpec spec;
  spec.modelPath = GetString(o, "modelPath");
  Napi::Value bytes = o.Get("modelBytes");
  if (bytes.IsTypedArray() && bytes.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array array = bytes.As<Napi::Uint8Array>();
    spec.modelBytes.assign(array.Data(), array.Data() + array.ByteLength());
    spec.lastPositionLogits = GetBool(o, "lastPositionLogits", false);
    if (spec.lastPositionLogits) spec.logitsStartName = GetString(o, "logitsStart", "");
    spec.int4Kernel = GetBool(o, "int4Kernel", false);
    spec.int4Variant = GetString(o, "int4KernelVariant", int4::VariantName(int4::BestVariant()));
    spec.attentionKernel = GetBool(o, "attentionKernel", false);
  }
  spec.intraOpThreads = GetInt(o, "intraOpThreads", 0);
  spec.allowSpinning = GetBool(o, "allowSpinning", false);
  spec.inputIdsName = GetString(o, "inputIds", "input_ids");
  spec.attentionMaskName = GetString(o, "attentionMask", "attention_mask");
  spec.positionIdsName = GetString(o, "positionIds", "position_ids");
  spec.pastKeyFormat = GetString(o, "pastKey", "past_key_values.%d.key");
  spec.pastValueFormat = GetString(o, "pastValue", "past_key_values.%d.value");
  spec.logitsName = GetString(o, "logits", "logits");
  spec.presentKeyFormat = GetString(o, "presentKey", "present.%d.key");
  spec.presentValueFormat = GetString(o, "presentValue", "present.%d.value");
  spec.numLayers = GetInt(o, "numLayers", 0);
  spec.numKvHeads = GetInt(o, "numKvHeads", 0);
  spec.headSize = GetInt(o, "headSize", 0);
  spec.vocabSize = GetInt(o, "vocabSize", 0);
  spec.ropeOriginalLength = GetInt(o, "ropeOriginalLength", 0);
  spec.prefillChunk = GetInt(o, "prefillChunk", 256);
  for (const std::string* pattern : {&spec.pastKeyFormat, &spec.pastValueFormat, &spec.presentKeyFormat, &spec.presentValueFormat}) {
    if (!IsLayerNamePattern(*pattern))
      ThrowJs(o.Env(), code::kInvalidArgument, "KV name \"" + *pattern + "\" must contain \"%d\" (the layer index) once and no other '%'");
  }
  if (spec.modelPath.empty() || spec.numLayers <= 0 || spec.numKvHeads <= 0 || spec.headSize <= 0 || spec.vocabSize <= 0 || spec.prefillChunk <= 0) {
    ThrowJs(o.Env(), code::kInvalidArgument, "model spec needs modelPath and positive numLayers, numKvHeads, headSize, vocabSize, prefillChunk");
  }
  Napi::Value providers = o.Get("providers");
  if (providers.IsArray()) {
    Napi::Array list = providers.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Object item = list.Get(i).As<Napi::Object>();
      ProviderSpec provider;
      provider.name = GetString(item, "name");
      Napi::Value opts = item.Get("options");
      if (opts.IsObject()) {
        Napi::Object map = opts.As<Napi::Object>();
        Napi::Array keys = map.GetPropertyNames();
        for (uint32_t k = 0; k < keys.Length(); ++k) {
          std::string key = keys.Get(k).ToString().Utf8Value();
          provider.options[key] = map.Get(key).ToString().Utf8Value();
        }
      }
      spec.providers.push_back(std::move(provider));
    }
  }
  return spec;
}

}  // namespace

RuntimeCore::RuntimeCore(const std::string& libraryPath, int logLevel) {
  LoadOrt(libraryPath);
  Check(Ort().CreateEnv(static_cast<OrtLoggingLevel>(logLevel), "phi4-onnx", &env_), code::kRuntimeLoadFailed);
}

RuntimeCore::~RuntimeCore() {
  if (env_) Ort().ReleaseEnv(env_);
}

Napi::Function Runtime::Init(Napi::Env env) {
  return DefineClass(env, "Runtime",
                     {InstanceAccessor<&Runtime::Version>("version"), InstanceAccessor<&Runtime::ApiVersion>("apiVersion"),
                      InstanceMethod<&Runtime::Providers>("availableProviders"), InstanceMethod<&Runtime::LoadModel>("loadModel")});
}

Runtime::Runtime(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Runtime>(info) {
  if (info.Length() < 1 || !info[0].IsString()) ThrowJs(info.Env(), code::kInvalidArgument, "new Runtime(libraryPath): libraryPath must be a string");
  int logLevel = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : ORT_LOGGING_LEVEL_ERROR;
  GuardSync(info.Env(), [&] { core_ = std::make_shared<RuntimeCore>(info[0].As<Napi::String>().Utf8Value(), logLevel); });
}

Napi::Value Runtime::Version(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), OrtVersion()); }

Napi::Value Runtime::ApiVersion(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ORT_API_VERSION); }

Napi::Value Runtime::Providers(const Napi::CallbackInfo& info) {
  try {
    std::vector<std::string> names = AvailableProviders();
    Napi::Array out = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) out.Set(i, names[i]);
    return out;
  } catch (const EngineError& e) {
    ThrowJs(info.Env(), e.code(), e.what());
  }
}

Napi::Value Runtime::LoadModel(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Object options = RequireObject(info, 0, "loadModel(spec): spec");
    return QueueConstruct<ModelCore, &Model::NewInstance>(
        info.Env(), [runtime = core_, spec = ReadModelSpec(options)] { return std::make_shared<ModelCore>(runtime, spec); });
  });
}

}  // namespace phi4
