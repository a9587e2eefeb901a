// KvPool: the KV cache of a context, one buffer per layer for K and one for V, each
// [slots, kv_heads, capacity, head_size]. A sequence owns one slot (a contiguous [1, ...] block), and a
// batched decode step runs over a contiguous range of slots, so B sequences share one ORT run (see
// batch_decode.cc for the slots in that range that are not decoding).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "model_core.h"
#include "run_step.h"

namespace phi4 {

class KvPool {
 public:
  // Allocates the buffers (blocking: call from a worker thread).
  KvPool(std::shared_ptr<ModelCore> model, int slots, int capacity);

  const std::shared_ptr<ModelCore>& model() const { return model_; }
  int slots() const { return slots_; }
  int capacity() const { return capacity_; }

  // Claims a free slot (the lowest, which keeps batched ranges short); throws BUSY when none is free.
  int AcquireSlot();
  void ReleaseSlot(int slot);
  int freeSlots() const;

  // Tensor views [count, kv_heads, capacity, head_size] over slots [first, first + count), one per
  // layer K and V in run order.
  std::vector<ValuePtr> Views(int first, int count) const;
  // Start of slot `slot` in buffer `tensor` (layer * 2 + 0 for K, + 1 for V).
  uint8_t* SlotData(size_t tensor, int slot) const;
  size_t tensorCount() const { return buffers_.size(); }
  // Bytes of one position of one head (head_size elements).
  size_t rowBytes() const { return rowBytes_; }

  // Every operation that reads or writes the pool's KV holds this: a batched step touches slots other
  // than its own sequences'.
  std::mutex& mutex() { return mutex_; }
  // Inputs and logits of a batched step, reused between steps (hold mutex()).
  StepInputs& batchInputs() { return batchInputs_; }
  std::vector<uint8_t>& batchLogits() { return batchLogits_; }
  // The RunOptions of batched steps, and the flag that says a failed run was stopped on purpose.
  OrtRunOptions* batchRunOptions() const { return batchRunOptions_.get(); }
  const std::atomic<bool>& batchCancelled() const { return batchCancelled_; }
  // The shared run of a batched step in flight, given its members' cancel flags: once every member
  // is cancelled, the run is stopped through the batch RunOptions. A member cancelled alone lets the
  // run finish for the others (one token) and reports ABORTED when it returns.
  void BeginBatchRun(std::vector<const std::atomic<bool>*> memberCancelled);
  void EndBatchRun();
  // Called by a sequence of this pool when it is cancelled.
  void MemberCancelled();

 private:
  std::shared_ptr<ModelCore> model_;
  const int slots_, capacity_;
  std::vector<ValuePtr> buffers_;
  std::vector<uint8_t*> data_;
  const OrtMemoryInfo* memory_ = nullptr;
  size_t slotBytes_ = 0;
  size_t rowBytes_ = 0;
  mutable std::mutex slotMutex_;
  std::vector<bool> used_;
  std::mutex mutex_;
  StepInputs batchInputs_;
  std::vector<uint8_t> batchLogits_;
  RunOptionsPtr batchRunOptions_;
  std::atomic<bool> batchCancelled_{false};
  std::mutex batchRunMutex_;  // guards batchMembers_ (cancels come from the event loop)
  std::vector<const std::atomic<bool>*> batchMembers_;
  void TerminateIfAllCancelled();  // hold batchRunMutex_
};

}  // namespace phi4
