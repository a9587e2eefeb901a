#include "model.h"

#include <cstdint>

#include "addon_data.h"
#include "context.h"
#include "int4_matmul.h"
#include "kv_pool.h"
#include "promise_worker.h"
#include "sequence.h"
#include "sequence_core.h"

namespace phi4 {
namespace {

const char* TypeName(ONNXTensorElementDataType type) { return type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 ? "float16" : "float32"; }

Napi::Array StringArray(Napi::Env env, const std::vector<std::string>& items) {
  Napi::Array out = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); ++i) out.Set(i, items[i]);
  return out;
}

}  // namespace

Napi::Function Model::Init(Napi::Env env) {
  return DefineClass(env, "Model",
                     {InstanceAccessor<&Model::Info>("info"), InstanceMethod<&Model::CreateSequence>("createSequence"),
                      InstanceMethod<&Model::CreateContext>("createContext"), InstanceMethod<&Model::Dispose>("dispose")});
}

Napi::Object Model::NewInstance(Napi::Env env, std::shared_ptr<ModelCore> core) {
  Napi::Object object = GetAddonData(env).model.New({});
  Model::Unwrap(object)->core_ = std::move(core);
  return object;
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {}

ModelCore& Model::core(Napi::Env env) {
  if (!core_) ThrowJs(env, code::kDisposed, "the model has been disposed");
  return *core_;
}

Napi::Value Model::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelCore& model = core(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("inputNames", StringArray(env, model.inputNames()));
  out.Set("outputNames", StringArray(env, model.outputNames()));
  out.Set("kvType", TypeName(model.kvType()));
  out.Set("logitsType", TypeName(model.logitsType()));
  out.Set("hasPositionIds", model.hasPositionIds());
  out.Set("lastPositionLogits", model.lastPositionLogits());
  out.Set("int4Kernel", model.spec().int4Kernel);
  out.Set("attentionKernel", model.spec().attentionKernel);
  out.Set("int4KernelVariant", model.spec().int4Kernel ? Napi::Value(Napi::String::New(env, model.spec().int4Variant)) : env.Null());
  out.Set("kvBytesPerToken", static_cast<double>(model.kvBytesPerToken()));
  out.Set("kvOnHost", model.kvOnHost());
  return out;
}

namespace {

// The KV memory budget argument in bytes (absent: no budget), or 0 when it is not a positive number.
size_t KvMemoryArg(const Napi::Value& value) {
  if (value.IsUndefined()) return SIZE_MAX;
  if (!value.IsNumber()) return 0;
  const double bytes = value.As<Napi::Number>().DoubleValue();
  return bytes >= 1 && bytes < 9.0e18 ? static_cast<size_t>(bytes) : 0;
}

}  // namespace

Napi::Value Model::CreateSequence(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!core_) return RejectedPromise(env, code::kDisposed, "the model has been disposed");
    if (info.Length() < 1 || !info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1 || KvMemoryArg(info[1]) == 0)
      return RejectedPromise(env, code::kInvalidArgument, "createSequence(capacity, kvMemory?): both must be positive integers");
    // Reserving (or, on a device, allocating) KV for a long capacity takes time: off the event loop.
    // A standalone sequence is the one slot of a context of its own.
    int capacity = info[0].As<Napi::Number>().Int32Value();
    size_t kvMemory = KvMemoryArg(info[1]);
    return QueueConstruct<SequenceCore, &Sequence::NewInstance>(
        env, [model = core_, capacity, kvMemory] { return std::make_shared<SequenceCore>(std::make_shared<KvPool>(model, 1, capacity, kvMemory)); });
  });
}

Napi::Value Model::CreateContext(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!core_) return RejectedPromise(env, code::kDisposed, "the model has been disposed");
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1 ||
        info[1].As<Napi::Number>().Int32Value() < 1 || KvMemoryArg(info[2]) == 0)
      return RejectedPromise(env, code::kInvalidArgument, "createContext(slots, capacity, kvMemory?): all must be positive integers");
    int slots = info[0].As<Napi::Number>().Int32Value(), capacity = info[1].As<Napi::Number>().Int32Value();
    size_t kvMemory = KvMemoryArg(info[2]);
    return QueueConstruct<KvPool, &Context::NewInstance>(
        env, [model = core_, slots, capacity, kvMemory] { return std::make_shared<KvPool>(model, slots, capacity, kvMemory); });
  });
}

Napi::Value Model::Dispose(const Napi::CallbackInfo& info) {
  core_.reset();
  return info.Env().Undefined();
}

}  // namespace phi4
