#include "sequence.h"

#include "addon_data.h"
#include "js_args.h"
#include "promise_worker.h"
#include "sequence_worker.h"

namespace phi4 {

SamplingParams ReadSamplingParams(const Napi::Object& o) {
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

namespace {

// What eval() was asked to do, read from its arguments on the event loop.
struct EvalRequest {
  std::vector<int32_t> tokens;
  int regimeLength = 0;
  bool sample = false;
  SamplingParams params;
  bool reseed = false;
  uint64_t seed = 0;
  bool returnLogits = false;
  // Speculative step (with sample): the drafted tokens, and each checked position's parameters
  // (draftMasks: position i's token mask, when the generation is constrained).
  bool speculate = false;
  std::vector<int32_t> draft;
  std::vector<SamplingParams> positions;
};

class EvalWorker : public SequenceWorker {
 public:
  EvalWorker(Napi::Env env, Napi::Object owner, std::shared_ptr<SequenceCore> core, EvalRequest request)
      : SequenceWorker(env, {owner}), core_(std::move(core)), request_(std::move(request)) {}

 protected:
  void Run() override {
    if (request_.speculate) {
      // Anything appended first runs on its own, so that the draft's run holds only the draft.
      if (!request_.tokens.empty()) core_->Append(request_.tokens, request_.regimeLength);
      if (request_.reseed) core_->Seed(request_.seed);
      appended_ = core_->Speculate(request_.draft, request_.positions);
      token_ = appended_.back();
      return;
    }
    core_->Append(request_.tokens, request_.regimeLength);
    if (request_.reseed) core_->Seed(request_.seed);
    if (request_.sample) token_ = core_->Sample(request_.params);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("token", request_.sample ? Napi::Value(Napi::Number::New(env, token_)) : env.Null());
    if (request_.speculate) {
      // The accepted draft tokens (the appended tokens but the last, which is `token`).
      Napi::Array accepted = Napi::Array::New(env, appended_.size() - 1);
      for (size_t i = 0; i + 1 < appended_.size(); ++i) accepted.Set(static_cast<uint32_t>(i), Napi::Number::New(env, appended_[i]));
      out.Set("accepted", accepted);
    }
    if (request_.returnLogits) {
      const auto& logits = core_->lastLogits();
      Napi::Float32Array array = Napi::Float32Array::New(env, logits.size());
      std::copy(logits.begin(), logits.end(), array.Data());
      out.Set("logits", array);
    }
    return out;
  }

 private:
  std::shared_ptr<SequenceCore> core_;
  EvalRequest request_;
  int32_t token_ = -1;
  std::vector<int32_t> appended_;
};

// Copies the KV of the first `length` positions into a new Buffer (handed to JS without a copy).
class SaveStateWorker : public SequenceWorker {
 public:
  SaveStateWorker(Napi::Env env, Napi::Object owner, std::shared_ptr<SequenceCore> core, int length)
      : SequenceWorker(env, {owner}), core_(std::move(core)), length_(length) {}

 protected:
  void Run() override {
    state_ = std::make_unique<std::vector<uint8_t>>(core_->StateBytes(length_));
    core_->SaveState(length_, state_->data());
  }

  Napi::Value Result(Napi::Env env) override {
    std::vector<uint8_t>* state = state_.release();
    return Napi::Buffer<uint8_t>::New(
        env, state->data(), state->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* owned) { delete owned; }, state);
  }

 private:
  std::shared_ptr<SequenceCore> core_;
  int length_;
  std::unique_ptr<std::vector<uint8_t>> state_;
};

class LoadStateWorker : public SequenceWorker {
 public:
  LoadStateWorker(Napi::Env env, Napi::Object owner, std::shared_ptr<SequenceCore> core, Napi::Uint8Array state, int stateLength, std::vector<int32_t> tokens,
                  int kvLength, bool longRope)
      : SequenceWorker(env, {owner}),
        core_(std::move(core)),
        data_(state.Data()),
        bytes_(state.ByteLength()),
        stateLength_(stateLength),
        tokens_(std::move(tokens)),
        kvLength_(kvLength),
        longRope_(longRope) {
    stateRef_ = Napi::Persistent(state);  // the worker reads the caller's bytes in place
  }

 protected:
  void Run() override { core_->LoadState(data_, bytes_, stateLength_, tokens_, kvLength_, longRope_); }

 private:
  std::shared_ptr<SequenceCore> core_;
  Napi::Reference<Napi::Uint8Array> stateRef_;
  const uint8_t* data_;
  size_t bytes_;
  int stateLength_;
  std::vector<int32_t> tokens_;
  int kvLength_;
  bool longRope_;
};

class CopyFromWorker : public SequenceWorker {
 public:
  CopyFromWorker(Napi::Env env, Napi::Object target, Napi::Object source, std::shared_ptr<SequenceCore> targetCore, std::shared_ptr<SequenceCore> sourceCore,
                 std::vector<int32_t> tokens)
      : SequenceWorker(env, {target, source}), target_(std::move(targetCore)), source_(std::move(sourceCore)), tokens_(std::move(tokens)) {}

 protected:
  void Run() override { target_->CopyFrom(*source_, tokens_); }

 private:
  std::shared_ptr<SequenceCore> target_, source_;
  std::vector<int32_t> tokens_;
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

bool ReadDraft(const Napi::Object& options, const SamplingParams& params, std::vector<int32_t>* draft, std::vector<SamplingParams>* positions) {
  Napi::Env env = options.Env();
  Napi::Value tokens = options.Get("draft");
  if (tokens.IsUndefined() || tokens.IsNull()) return false;
  *draft = ReadTokens(tokens);
  positions->assign(draft->size() + 1, params);
  Napi::Value masks = options.Get("draftMasks");
  if (masks.IsUndefined() || masks.IsNull()) return true;
  if (!masks.IsArray() || masks.As<Napi::Array>().Length() != positions->size())
    ThrowJs(env, code::kInvalidArgument, "draftMasks must hold one token mask per checked position (the draft's length + 1)");
  Napi::Array list = masks.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value mask = list.Get(i);
    if (!mask.IsTypedArray() || mask.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      ThrowJs(env, code::kInvalidArgument, "draftMasks must be Uint8Array bit masks (bit i = token i allowed)");
    Napi::Uint8Array bits = mask.As<Napi::Uint8Array>();
    (*positions)[i].allowed.assign(bits.Data(), bits.Data() + bits.ElementLength());
  }
  return true;
}

Napi::Function Sequence::Init(Napi::Env env) {
  return DefineClass(
      env, "Sequence",
      {InstanceMethod<&Sequence::Eval>("eval"), InstanceMethod<&Sequence::Rewind>("rewind"), InstanceMethod<&Sequence::SaveState>("saveState"),
       InstanceMethod<&Sequence::LoadState>("loadState"), InstanceMethod<&Sequence::CopyFrom>("copyFrom"), InstanceMethod<&Sequence::Cancel>("cancel"),
       InstanceMethod<&Sequence::Dispose>("dispose"), InstanceMethod<&Sequence::Tokens>("tokens"), InstanceAccessor<&Sequence::Length>("length"),
       InstanceAccessor<&Sequence::Capacity>("capacity"), InstanceAccessor<&Sequence::KvValid>("kvValid"), InstanceAccessor<&Sequence::LongRope>("longRope"),
       InstanceAccessor<&Sequence::Busy>("busy")});
}

Napi::Object Sequence::NewInstance(Napi::Env env, std::shared_ptr<SequenceCore> core) {
  Napi::Object object = GetAddonData(env).sequence.New({});
  Sequence* sequence = Sequence::Unwrap(object);
  sequence->capacity_ = core->capacity();
  sequence->core_ = std::move(core);
  return object;
}

Sequence::Sequence(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Sequence>(info) {}

Napi::Value Sequence::RefuseIfUnavailable(Napi::Env env) {
  if (!core_) return RejectedPromise(env, code::kDisposed, "the sequence has been disposed");
  if (busy_) return RejectedPromise(env, code::kBusy, "the sequence is busy with another operation; await it first");
  return Napi::Value();
}

void Sequence::BeginOperation() {
  busy_ = true;
  // On the event loop, as the operation is queued: a cancel from now on is meant for it.
  if (core_) core_->ResetCancel();
}

void Sequence::FinishOperation() {
  busy_ = false;
  if (core_) {
    length_ = core_->length();
    kvValid_ = core_->kvValid();
    longRope_ = core_->longRopeRegime();
    tokens_ = core_->tokens();
  }
}

SequenceCore& Sequence::idleCore(Napi::Env env) {
  if (!core_) ThrowJs(env, code::kDisposed, "the sequence has been disposed");
  if (busy_) ThrowJs(env, code::kBusy, "the sequence is busy with another operation; await it first");
  return *core_;
}

Napi::Value Sequence::Eval(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (Napi::Value refusal = RefuseIfUnavailable(env); !refusal.IsEmpty()) return refusal;
    EvalRequest request;
    try {
      if (info.Length() < 1) ThrowJs(env, code::kInvalidArgument, "eval(tokens, options): tokens is required");
      request.tokens = ReadTokens(info[0]);
      if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object options = info[1].As<Napi::Object>();
        Napi::Value sampling = options.Get("sampling");
        if (sampling.IsObject()) {
          request.sample = true;
          request.params = ReadSamplingParams(sampling.As<Napi::Object>());
        }
        Napi::Value seed = options.Get("seed");
        if (seed.IsNumber()) {
          request.reseed = true;
          request.seed = static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value());
        }
        request.returnLogits = GetBool(options, "returnLogits", false);
        request.regimeLength = GetInt(options, "regimeLength", 0);
        if (ReadDraft(options, request.params, &request.draft, &request.positions)) {
          if (!request.sample || request.returnLogits) ThrowJs(env, code::kInvalidArgument, "a draft needs sampling options and no returnLogits");
          request.speculate = true;
        }
      }
    } catch (const Napi::Error& e) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(e.Value());
      return deferred.Promise();
    }
    auto* worker = new EvalWorker(env, info.This().As<Napi::Object>(), core_, std::move(request));
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value Sequence::SaveState(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (Napi::Value refusal = RefuseIfUnavailable(env); !refusal.IsEmpty()) return refusal;
    if (info.Length() < 1 || !info[0].IsNumber()) return RejectedPromise(env, code::kInvalidArgument, "saveState(length): length must be a number");
    auto* worker = new SaveStateWorker(env, info.This().As<Napi::Object>(), core_, info[0].As<Napi::Number>().Int32Value());
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value Sequence::LoadState(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (Napi::Value refusal = RefuseIfUnavailable(env); !refusal.IsEmpty()) return refusal;
    if (info.Length() < 5 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array || !info[1].IsNumber() ||
        !info[3].IsNumber())
      return RejectedPromise(env, code::kInvalidArgument,
                             "loadState(kv, stateLength, tokens, kvLength, longRope): kv must be a Uint8Array, stateLength and kvLength numbers");
    std::vector<int32_t> tokens;
    try {
      tokens = ReadTokens(info[2]);
    } catch (const Napi::Error& e) {
      return RejectedPromise(env, code::kInvalidArgument, e.Message());
    }
    auto* worker = new LoadStateWorker(env, info.This().As<Napi::Object>(), core_, info[0].As<Napi::Uint8Array>(), info[1].As<Napi::Number>().Int32Value(),
                                       std::move(tokens), info[3].As<Napi::Number>().Int32Value(), info[4].ToBoolean().Value());
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value Sequence::CopyFrom(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (Napi::Value refusal = RefuseIfUnavailable(env); !refusal.IsEmpty()) return refusal;
    if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(GetAddonData(env).sequence.Value()))
      return RejectedPromise(env, code::kInvalidArgument, "copyFrom(source, tokens): source must be a Sequence");
    std::vector<int32_t> tokens;
    try {
      tokens = ReadTokens(info[1]);
    } catch (const Napi::Error& e) {
      return RejectedPromise(env, code::kInvalidArgument, e.Message());
    }
    Napi::Object sourceObject = info[0].As<Napi::Object>();
    Sequence* source = Sequence::Unwrap(sourceObject);
    if (source == this) return RejectedPromise(env, code::kInvalidArgument, "a sequence cannot copy from itself; use rewind");
    if (Napi::Value refusal = source->RefuseIfUnavailable(env); !refusal.IsEmpty()) return refusal;
    auto* worker = new CopyFromWorker(env, info.This().As<Napi::Object>(), sourceObject, core_, source->core_, std::move(tokens));
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value Sequence::Rewind(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    SequenceCore& core = idleCore(env);
    if (info.Length() < 1 || !info[0].IsNumber()) ThrowJs(env, code::kInvalidArgument, "rewind(length): length must be a number");
    core.Rewind(info[0].As<Napi::Number>().Int32Value());
    FinishOperation();
    return env.Undefined();
  });
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
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Int32Array out = Napi::Int32Array::New(info.Env(), tokens_.size());
    std::copy(tokens_.begin(), tokens_.end(), out.Data());
    return out;
  });
}

Napi::Value Sequence::Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), length_); }
Napi::Value Sequence::Capacity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), capacity_); }
Napi::Value Sequence::KvValid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), kvValid_); }
Napi::Value Sequence::LongRope(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), longRope_); }
Napi::Value Sequence::Busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), busy_); }

}  // namespace phi4
