#include "context.h"

#include "addon_data.h"
#include "batch_decode.h"
#include "promise_worker.h"
#include "sequence.h"
#include "sequence_worker.h"

namespace phi4 {
namespace {

class DecodeWorker : public SequenceWorker {
 public:
  DecodeWorker(Napi::Env env, const std::vector<Napi::Object>& owners, std::shared_ptr<KvPool> pool, std::vector<BatchMember> members,
               std::vector<std::shared_ptr<SequenceCore>> cores, int draftRows)
      : SequenceWorker(env, owners), pool_(std::move(pool)), members_(std::move(members)), cores_(std::move(cores)), draftRows_(draftRows) {}

 protected:
  void Run() override { DecodeBatch(*pool_, members_, draftRows_); }

  // One entry per member: its next token ({ token, accepted } for a row whose draft was verified), or
  // the error (with `code`) it failed with alone.
  Napi::Value Result(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, members_.size());
    for (uint32_t i = 0; i < members_.size(); ++i) {
      const BatchMember& m = members_[i];
      if (m.errorCode) {
        out.Set(i, MakeJsError(env, m.errorCode, m.error).Value());
      } else if (m.verified) {
        Napi::Object step = Napi::Object::New(env);
        step.Set("token", Napi::Number::New(env, m.next));
        Napi::Array accepted = Napi::Array::New(env, m.accepted.size());
        for (uint32_t j = 0; j < m.accepted.size(); ++j) accepted.Set(j, Napi::Number::New(env, m.accepted[j]));
        step.Set("accepted", accepted);
        out.Set(i, step);
      } else {
        out.Set(i, Napi::Number::New(env, m.next));
      }
    }
    return out;
  }

 private:
  std::shared_ptr<KvPool> pool_;
  std::vector<BatchMember> members_;
  std::vector<std::shared_ptr<SequenceCore>> cores_;  // keep the cores alive while the worker runs
  int draftRows_;
};

}  // namespace

Napi::Function Context::Init(Napi::Env env) {
  return DefineClass(
      env, "Context",
      {InstanceMethod<&Context::CreateSequence>("createSequence"), InstanceMethod<&Context::Decode>("decode"), InstanceMethod<&Context::Dispose>("dispose"),
       InstanceAccessor<&Context::Slots>("slots"), InstanceAccessor<&Context::Capacity>("capacity"), InstanceAccessor<&Context::FreeSlots>("freeSlots"),
       InstanceAccessor<&Context::KvMemory>("kvMemory")});
}

Napi::Object Context::NewInstance(Napi::Env env, std::shared_ptr<KvPool> pool) {
  Napi::Object object = GetAddonData(env).context.New({});
  Context::Unwrap(object)->pool_ = std::move(pool);
  return object;
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {}

Napi::Value Context::CreateSequence(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!pool_) ThrowJs(env, code::kDisposed, "the context has been disposed");
    return Sequence::NewInstance(env, std::make_shared<SequenceCore>(pool_));
  });
}

Napi::Value Context::Decode(const Napi::CallbackInfo& info) {
  return GuardSync(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (!pool_) return RejectedPromise(env, code::kDisposed, "the context has been disposed");
    if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsArray())
      return RejectedPromise(env, code::kInvalidArgument, "decode(sequences, samplings): two arrays of the same length");
    Napi::Array sequences = info[0].As<Napi::Array>(), samplings = info[1].As<Napi::Array>();
    // Optional: one { draft, draftMasks? } (or undefined) per sequence, for speculative rows.
    const Napi::Value drafts = info.Length() > 2 ? info[2] : env.Undefined();
    if (!drafts.IsUndefined() && (!drafts.IsArray() || drafts.As<Napi::Array>().Length() != sequences.Length()))
      return RejectedPromise(env, code::kInvalidArgument, "decode(sequences, samplings, drafts): drafts must be an array as long as sequences");
    if (sequences.Length() == 0 || samplings.Length() != sequences.Length())
      return RejectedPromise(env, code::kInvalidArgument, "decode(sequences, samplings): two non-empty arrays of the same length");
    std::vector<Napi::Object> owners;
    std::vector<BatchMember> members;
    std::vector<std::shared_ptr<SequenceCore>> cores;
    try {
      for (uint32_t i = 0; i < sequences.Length(); ++i) {
        Napi::Value item = sequences.Get(i);
        if (!item.IsObject() || !item.As<Napi::Object>().InstanceOf(GetAddonData(env).sequence.Value()))
          ThrowJs(env, code::kInvalidArgument, "decode(): every item of sequences must be a Sequence");
        Sequence* sequence = Sequence::Unwrap(item.As<Napi::Object>());
        if (Napi::Value refusal = sequence->RefuseIfUnavailable(env); !refusal.IsEmpty()) return refusal;
        for (const auto& core : cores)
          if (core == sequence->core()) ThrowJs(env, code::kInvalidArgument, "decode(): a sequence appears twice");
        Napi::Value sampling = samplings.Get(i);
        if (!sampling.IsObject()) ThrowJs(env, code::kInvalidArgument, "decode(): samplings must be objects");
        owners.push_back(item.As<Napi::Object>());
        cores.push_back(sequence->core());
        BatchMember member;
        member.sequence = sequence->core().get();
        // Bad sampling options fail their own member only.
        try {
          member.params = ReadSamplingParams(sampling.As<Napi::Object>());
          const Napi::Value draft = drafts.IsUndefined() ? env.Undefined() : drafts.As<Napi::Array>().Get(i);
          if (draft.IsObject()) ReadDraft(draft.As<Napi::Object>(), member.params, &member.draft, &member.positions);
        } catch (const Napi::Error& e) {
          member.errorCode = code::kInvalidArgument;
          member.error = e.Message();
        }
        members.push_back(std::move(member));
      }
    } catch (const Napi::Error& e) {
      auto deferred = Napi::Promise::Deferred::New(env);
      deferred.Reject(e.Value());
      return deferred.Promise();
    }
    const int draftRows = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
    auto* worker = new DecodeWorker(env, owners, pool_, std::move(members), std::move(cores), draftRows);
    worker->Queue();
    return worker->Promise();
  });
}

Napi::Value Context::Dispose(const Napi::CallbackInfo& info) {
  pool_.reset();
  return info.Env().Undefined();
}

Napi::Value Context::Slots(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_ ? pool_->slots() : 0); }
Napi::Value Context::Capacity(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_ ? pool_->capacity() : 0); }
Napi::Value Context::FreeSlots(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), pool_ ? pool_->freeSlots() : 0); }

Napi::Value Context::KvMemory(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("committed", static_cast<double>(pool_ ? pool_->kvMemoryCommitted() : 0));
  out.Set("budget", static_cast<double>(pool_ ? pool_->kvMemoryBudget() : 0));
  out.Set("releasing", static_cast<double>(pool_ ? pool_->kvMemoryReleasing() : 0));
  out.Set("growsOnDemand", pool_ && pool_->growsOnDemand());
  return out;
}

}  // namespace phi4
