#include "sequence.h"

#include "addon_data.h"
#include "js_args.h"
#include "promise_worker.h"

namespace phi4 {
namespace {

SamplingParams ReadSampling(const Napi::Object& o) {
  SamplingParams p;
  p.greedy = GetBool(o, "greedy", false);
  p.temperature = static_cast<float>(GetNumber(o, "temperature", 1.0));
  p.topK = GetInt(o, "topK", 0);
  p.topP = static_cast<float>(GetNumber(o, "topP", 1.0));
  p.repetitionPenalty = static_cast<float>(GetNumber(o, "repetitionPenalty", 1.0));
  if (p.temperature < 0 || p.topK < 0 || p.topP <= 0 || p.topP > 1 || p.repetitionPenalty <= 0)
    ThrowJs(o.Env(), code::kInvalidArgument, "sampling needs temperature >= 0, topK >= 0, 0 < topP <= 1, repetitionPenalty > 0");
  Napi::Value allowed = o.Get("allowedTokens");
  if (allowed.IsTypedArray() && allowed.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    Napi::Uint8Array mask = allowed.As<Napi::Uint8Array>();
    p.allowed.assign(mask.Data(), mask.Data() + mask.ElementLength());  // copied: the worker thread reads it
  } else if (!allowed.IsUndefined() && !allowed.IsNull()) {
    ThrowJs(o.Env(), code::kInvalidArgument, "allowedTokens must be a Uint8Array bit mask (bit i = token i allowed)");
  }
  return p;
}

class EvalWorker : public PromiseWorker {
 public:
  EvalWorker(Napi::Env env, Sequence* owner, Napi::Object ownerObject, std::shared_ptr<SequenceCore> core, std::vector<int32_t> tokens,
             bool sample, SamplingParams params, bool reseed, uint64_t seed, bool returnLogits)
      : PromiseWorker(env), owner_(owner), core_(std::move(core)), tokens_(std::move(tokens)), sample_(sample), params_(std::move(params)),
        reseed_(reseed), seed_(seed), returnLogits_(returnLogits) {
    ownerRef_ = Napi::Persistent(ownerObject);  // keeps the JS object (and `owner_`) alive until settled
  }

 protected:
  void Run() override {
    core_->Append(tokens_);
    if (reseed_) core_->Seed(seed_);
    if (sample_) token_ = core_->Sample(params_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("token", sample_ ? Napi::Value(Napi::Number::New(env, token_)) : env.Null());
    if (returnLogits_) {
      const auto& logits = core_->lastLogits();
      Napi::Float32Array array = Napi::Float32Array::New(env, logits.size());
      std::copy(logits.begin(), logits.end(), array.Data());
      out.Set("logits", array);
    }
    return out;
  }

  void Settle() override { owner_->FinishOperation(); }

 private:
  Sequence* owner_;
  Napi::ObjectReference ownerRef_;
  std::shared_ptr<SequenceCore> core_;
  std::vector<int32_t> tokens_;
  bool sample_;
  SamplingParams params_;
  bool reseed_;
  uint64_t seed_;
  bool returnLogits_;
  int32_t token_ = -1;
};

std::vector<int32_t> ReadTokens(const Napi::Value& value) {
  std::vector<int32_t> tokens;
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array array = value.As<Napi::Int32Array>();
    tokens.assign(array.Data(), array.Data() + array.ElementLength());
  } else if (value.IsArray()) {
    Napi::Array array = value.As<Napi::Array>();
    tokens.reserve(array.Length());
    for (uint32_t i = 0; i < array.Length(); ++i) {
      Napi::Value item = array.Get(i);
      if (!item.IsNumber()) ThrowJs(value.Env(), code::kInvalidArgument, "tokens must be integers");
      double d = item.As<Napi::Number>().DoubleValue();
      // Out-of-range ids become a value the core rejects with TOKEN_OUT_OF_RANGE, never a wrapped int.
      tokens.push_back(d >= 0 && d < 2147483647.0 && d == static_cast<int32_t>(d) ? static_cast<int32_t>(d) : -1);
    }
  } else {
    ThrowJs(value.Env(), code::kInvalidArgument, "tokens must be an Int32Array or an array of integers");
  }
  return tokens;
}

}  // namespace

Napi::Function Sequence::Init(Napi::Env env) {
  return DefineClass(env, "Sequence",
                     {InstanceMethod<&Sequence::Eval>("eval"), InstanceMethod<&Sequence::Rewind>("rewind"),
                      InstanceMethod<&Sequence::Cancel>("cancel"), InstanceMethod<&Sequence::Dispose>("dispose"),
                      InstanceMethod<&Sequence::Tokens>("tokens"), InstanceAccessor<&Sequence::Length>("length"),
                      InstanceAccessor<&Sequence::Capacity>("capacity"), InstanceAccessor<&Sequence::KvValid>("kvValid"),
                      InstanceAccessor<&Sequence::LongRope>("longRope"), InstanceAccessor<&Sequence::Busy>("busy")});
}

Napi::Object Sequence::NewInstance(Napi::Env env, std::shared_ptr<SequenceCore> core) {
  Napi::Object object = GetAddonData(env).sequence.New({});
  Sequence* sequence = Sequence::Unwrap(object);
  sequence->capacity_ = core->capacity();
  sequence->core_ = std::move(core);
  return object;
}

Sequence::Sequence(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sequence>(info) {}

void Sequence::FinishOperation() {
  busy_ = false;
  if (core_) {
    length_ = core_->length();
    kvValid_ = core_->kvValid();
    longRope_ = core_->longRopeRegime();
  }
}

SequenceCore& Sequence::idleCore(Napi::Env env) {
  if (!core_) ThrowJs(env, code::kDisposed, "the sequence has been disposed");
  if (busy_) ThrowJs(env, code::kBusy, "the sequence is busy with another operation; await it first");
  return *core_;
}

Napi::Value Sequence::Eval(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!core_) return RejectedPromise(env, code::kDisposed, "the sequence has been disposed");
  if (busy_) return RejectedPromise(env, code::kBusy, "the sequence is busy with another operation; await it first");
  std::vector<int32_t> tokens;
  bool sample = false, reseed = false, returnLogits = false;
  SamplingParams params;
  uint64_t seed = 0;
  try {
    if (info.Length() < 1) ThrowJs(env, code::kInvalidArgument, "eval(tokens, options): tokens is required");
    tokens = ReadTokens(info[0]);
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object options = info[1].As<Napi::Object>();
      Napi::Value sampling = options.Get("sampling");
      if (sampling.IsObject()) {
        sample = true;
        params = ReadSampling(sampling.As<Napi::Object>());
      }
      Napi::Value seedValue = options.Get("seed");
      if (seedValue.IsNumber()) {
        reseed = true;
        seed = static_cast<uint64_t>(seedValue.As<Napi::Number>().Int64Value());
      }
      returnLogits = GetBool(options, "returnLogits", false);
    }
  } catch (const Napi::Error& e) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(e.Value());
    return deferred.Promise();
  }
  busy_ = true;
  core_->ResetCancel();
  auto* worker = new EvalWorker(env, this, info.This().As<Napi::Object>(), core_, std::move(tokens), sample, std::move(params), reseed, seed, returnLogits);
  worker->Queue();
  return worker->Promise();
}

Napi::Value Sequence::Rewind(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SequenceCore& core = idleCore(env);
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowJs(env, code::kInvalidArgument, "rewind(length): length must be a number");
  try {
    core.Rewind(info[0].As<Napi::Number>().Int32Value());
  } catch (const EngineError& e) {
    ThrowJs(env, e.code(), e.what());
  }
  FinishOperation();
  return env.Undefined();
}

Napi::Value Sequence::Cancel(const Napi::CallbackInfo& info) {
  if (core_ && busy_) core_->Cancel();
  return info.Env().Undefined();
}

Napi::Value Sequence::Dispose(const Napi::CallbackInfo& info) {
  if (core_ && busy_) core_->Cancel();
  core_.reset();
  return info.Env().Undefined();
}

Napi::Value Sequence::Tokens(const Napi::CallbackInfo& info) {
  const auto& tokens = idleCore(info.Env()).tokens();
  Napi::Int32Array out = Napi::Int32Array::New(info.Env(), tokens.size());
  std::copy(tokens.begin(), tokens.end(), out.Data());
  return out;
}

Napi::Value Sequence::Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), length_); }
Napi::Value Sequence::Capacity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), capacity_); }
Napi::Value Sequence::KvValid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), kvValid_); }
Napi::Value Sequence::LongRope(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), longRope_); }
Napi::Value Sequence::Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

}  // namespace phi4
