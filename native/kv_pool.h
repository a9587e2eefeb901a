// KvPool: the KV cache of a context, one buffer per layer for K and one for V, each
// [slots, kv_heads, capacity, head_size]. A sequence owns one slot (a contiguous [1, ...] block), and a
// batched decode step runs over a contiguous range of slots, so B sequences share one ORT run (see
// batch_decode.cc for the slots in that range that are not decoding).
//
// Host KV grows on demand: each buffer is address space reserved for the full capacity
// (kv_reservation.h) whose pages are backed only once written, so the layout above never changes and
// nothing is copied as a sequence grows. What is backed is accounted per slot as a high-water mark
// of positions; their sum, times the KV bytes of a token, stays within the pool's KV memory budget
// (Grow refuses with KV_MEMORY_EXCEEDED before anything changes). Shrink hands the whole pages past a
// sequence's length back when it drops far below its mark (rewind, a shorter restored state, a
// released slot). Device KV (kvOnHost() false) is one fixed allocation through ORT's allocator and
// counts as used from the start.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "kv_releaser.h"
#include "kv_reservation.h"
#include "model_core.h"
#include "run_step.h"

namespace phi4 {

class KvPool {
 public:
  // Reserves (host KV) or allocates (device KV) the buffers (blocking: call from a worker thread).
  // When the system refuses a host reservation that large, the capacity is halved until it fits:
  // capacity() says what was granted. `kvMemory`: the budget of backed host KV in bytes.
  KvPool(std::shared_ptr<ModelCore> model, int slots, int capacity, size_t kvMemory);
  ~KvPool();

  const std::shared_ptr<ModelCore>& model() const { return model_; }
  int slots() const { return slots_; }
  int capacity() const { return capacity_; }
  // True for host KV: memory follows use within the budget.
  bool growsOnDemand() const { return !reservations_.empty(); }
  size_t kvMemoryBudget() const { return budget_; }
  // Bytes of KV accounted as backed: the slots' high-water marks (host), the whole allocation (device).
  size_t kvMemoryCommitted() const;
  // Bytes no longer accounted whose pages are still being given back (kv_releaser.h).
  size_t kvMemoryReleasing() const;

  // Accounts positions [0, end) of `slot` as backed before a run writes them: raises its high-water
  // mark, or throws KV_MEMORY_EXCEEDED (and changes nothing) when that would pass the budget.
  void Grow(int slot, int end);
  // The slot keeps only positions [0, keep): when its mark is far above (or `always`), the mark drops
  // to `keep` at once and the whole pages past it in each (layer, K/V, head) region go back to the
  // system on the releaser's thread (Grow waits for them before the slot is written again).
  void Shrink(int slot, int keep, bool always = false);

  // Claims a free slot (the lowest, which keeps batched ranges short); throws BUSY when none is free.
  int AcquireSlot();
  void ReleaseSlot(int slot);
  int freeSlots() const;

  // Tensor views [count, kv_heads, capacity, head_size] over slots [first, first + count), one per
  // layer K and V in run order.
  std::vector<ValuePtr> Views(int first, int count) const;
  // Start of slot `slot` in buffer `tensor` (layer * 2 + 0 for K, + 1 for V).
  uint8_t* SlotData(size_t tensor, int slot) const;
  size_t tensorCount() const { return data_.size(); }
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
  const int slots_;
  int capacity_;
  std::vector<ValuePtr> buffers_;            // device KV: ORT-allocated tensors
  std::vector<KvReservation> reservations_;  // host KV: reserved address space
  std::vector<uint8_t*> data_;
  size_t budget_ = 0;
  size_t bytesPerToken_ = 0;
  mutable std::mutex markMutex_;          // guards marks_ and markedPositions_ (sequences grow from several workers)
  std::vector<int> marks_;                // per slot: positions accounted as backed
  size_t markedPositions_ = 0;            // their sum
  std::unique_ptr<KvReleaser> releaser_;  // host KV; stopped first when the pool goes
  void Decommit(int slot, int from, int to) const;
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
