// SequenceWorker: the base of every operation on sequences (eval, states, batched decode).
#pragma once

#include <napi.h>

#include <vector>

#include "promise_worker.h"
#include "sequence.h"

namespace phi4 {

// Base of every operation on sequences: keeps the JS objects of the sequences involved alive, marks
// them busy while it runs and idle again when it settles.
class SequenceWorker : public PromiseWorker {
 public:
  SequenceWorker(Napi::Env env, const std::vector<Napi::Object>& owners) : PromiseWorker(env) {
    for (const Napi::Object& object : owners) {
      Sequence* owner = Sequence::Unwrap(object);
      owner->BeginOperation();
      owners_.push_back(owner);
      refs_.push_back(Napi::Persistent(object));
    }
  }

 protected:
  void Settle() override {
    for (Sequence* owner : owners_) owner->FinishOperation();
  }

 private:
  std::vector<Sequence*> owners_;
  std::vector<Napi::ObjectReference> refs_;
};

}  // namespace phi4
