#include "kv_pool.h"

#include <string>

namespace phi4 {

namespace {

// Mark drops smaller than this many positions keep their pages: a rewind of a few tokens (a retry,
// prefix reuse) would otherwise give pages back only to fault them in again on the next steps. Past
// it, giving pages back costs far less than the prefill that refills them.
constexpr int kShrinkSlack = 64;

std::string SizeText(size_t bytes) {
  return bytes < (1u << 20) ? std::to_string((bytes + 1023) >> 10) + " KiB" : std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

}  // namespace

KvPool::KvPool(std::shared_ptr<ModelCore> model, int slots, int capacity, size_t kvMemory)
    : model_(std::move(model)), slots_(slots), capacity_(capacity), budget_(kvMemory), marks_(slots, 0), used_(slots, false) {
  const ModelSpec& spec = model_->spec();
  const size_t tensors = static_cast<size_t>(spec.numLayers) * 2;
  rowBytes_ = static_cast<size_t>(spec.headSize) * ElementSize(model_->kvType());
  bytesPerToken_ = model_->kvBytesPerToken();
  if (model_->kvOnHost()) {
    // Reserve the full capacity; where the system refuses that much address space (a strict
    // overcommit policy, a ulimit, Windows' commit charge), halve it until it fits.
    for (; capacity_ >= 1; capacity_ /= 2) {
      const size_t bytes = static_cast<size_t>(slots_) * spec.numKvHeads * capacity_ * rowBytes_;
      for (size_t i = 0; i < tensors; ++i) {
        reservations_.emplace_back(bytes);
        if (!reservations_.back().ok()) break;
      }
      if (reservations_.size() == tensors && reservations_.back().ok()) break;
      reservations_.clear();
    }
    if (reservations_.empty())
      throw EngineError(code::kOutOfMemory, "cannot reserve address space for the KV cache of " + std::to_string(slots_) + " sequences");
    Check(Ort().AllocatorGetInfo(model_->kvAllocator(), &memory_));  // the CPU allocator: host memory
    for (const KvReservation& r : reservations_) data_.push_back(r.data());
    releaser_ = std::make_unique<KvReleaser>(slots_, [this](int slot, int from, int to) { Decommit(slot, from, to); });
  } else {
    const int64_t shape[4] = {slots_, spec.numKvHeads, capacity_, spec.headSize};
    for (size_t i = 0; i < tensors; ++i) {
      OrtValue* value = nullptr;
      Check(Ort().CreateTensorAsOrtValue(model_->kvAllocator(), shape, 4, model_->kvType(), &value), code::kOutOfMemory);
      buffers_.emplace_back(value);
      void* data = nullptr;
      Check(Ort().GetTensorMutableData(value, &data));
      data_.push_back(static_cast<uint8_t*>(data));
    }
    Check(Ort().AllocatorGetInfo(model_->kvAllocator(), &memory_));
  }
  slotBytes_ = static_cast<size_t>(spec.numKvHeads) * capacity_ * rowBytes_;
  OrtRunOptions* options = nullptr;
  Check(Ort().CreateRunOptions(&options));
  batchRunOptions_.reset(options);
}

KvPool::~KvPool() { releaser_.reset(); }  // its thread touches the reservations: stop it first

size_t KvPool::kvMemoryReleasing() const { return releaser_ ? releaser_->pendingPositions() * bytesPerToken_ : 0; }

size_t KvPool::kvMemoryCommitted() const {
  if (!growsOnDemand()) return static_cast<size_t>(slots_) * capacity_ * bytesPerToken_;
  std::lock_guard<std::mutex> lock(markMutex_);
  return markedPositions_ * bytesPerToken_;
}

void KvPool::Grow(int slot, int end) {
  if (!growsOnDemand()) return;
  {
    std::lock_guard<std::mutex> lock(markMutex_);
    const int mark = marks_[slot];
    if (end <= mark) return;
    const size_t wanted = (markedPositions_ - mark + end) * bytesPerToken_;
    if (wanted > budget_) {
      const size_t others = (markedPositions_ - mark) * bytesPerToken_;
      throw EngineError(code::kKvMemoryExceeded, "the KV memory budget of " + SizeText(budget_) + " is used up: this sequence needs " + std::to_string(end) +
                                                     " positions (" + SizeText(static_cast<size_t>(end) * bytesPerToken_) +
                                                     ") and the context's other sequences hold " + SizeText(others) +
                                                     "; raise kvMemory (--kv-memory) or dispose idle sequences");
    }
    markedPositions_ += end - mark;
    marks_[slot] = end;
  }
  // Pages of this slot still on their way back must be gone before the caller writes past its old mark.
  releaser_->Flush(slot);
}

void KvPool::Shrink(int slot, int keep, bool always) {
  if (!growsOnDemand()) return;
  int mark;
  {
    std::lock_guard<std::mutex> lock(markMutex_);
    mark = marks_[slot];
    if (keep >= mark || (!always && mark - keep < kShrinkSlack)) return;
    markedPositions_ -= mark - keep;
    marks_[slot] = keep;
  }
  releaser_->Queue(slot, keep, mark);
}

void KvPool::Decommit(int slot, int from, int to) const {
  // Only this slot's own positions at or past its mark go: no run reads them (its sequence is not
  // running, and a batched step's filler row touches position 0 only, saving and restoring it), and
  // none writes them before Grow has flushed this release.
  const ModelSpec& spec = model_->spec();
  for (size_t t = 0; t < reservations_.size(); ++t) {
    for (int head = 0; head < spec.numKvHeads; ++head) {
      uint8_t* region = SlotData(t, slot) + static_cast<size_t>(head) * capacity_ * rowBytes_;
      reservations_[t].Decommit(region + static_cast<size_t>(from) * rowBytes_, region + static_cast<size_t>(to) * rowBytes_);
    }
  }
}

int KvPool::AcquireSlot() {
  std::lock_guard<std::mutex> lock(slotMutex_);
  for (int slot = 0; slot < slots_; ++slot) {
    if (!used_[slot]) {
      used_[slot] = true;
      return slot;
    }
  }
  throw EngineError(code::kBusy, "all " + std::to_string(slots_) + " sequences of this context are in use; dispose one or create a larger context");
}

void KvPool::ReleaseSlot(int slot) {
  Shrink(slot, 0, true);
  std::lock_guard<std::mutex> lock(slotMutex_);
  used_[slot] = false;
}

int KvPool::freeSlots() const {
  std::lock_guard<std::mutex> lock(slotMutex_);
  int free = 0;
  for (bool used : used_) free += used ? 0 : 1;
  return free;
}

std::vector<ValuePtr> KvPool::Views(int first, int count) const {
  const ModelSpec& spec = model_->spec();
  const int64_t shape[4] = {count, spec.numKvHeads, capacity_, spec.headSize};
  std::vector<ValuePtr> views;
  views.reserve(data_.size());
  for (uint8_t* data : data_) {
    views.push_back(TensorView(memory_, data + static_cast<size_t>(first) * slotBytes_, static_cast<size_t>(count) * slotBytes_, shape, 4, model_->kvType()));
  }
  return views;
}

void KvPool::BeginBatchRun(std::vector<const std::atomic<bool>*> memberCancelled) {
  std::lock_guard<std::mutex> lock(batchRunMutex_);
  batchMembers_ = std::move(memberCancelled);
  batchCancelled_.store(false);
  if (OrtStatus* status = Ort().RunOptionsUnsetTerminate(batchRunOptions_.get())) Ort().ReleaseStatus(status);
  TerminateIfAllCancelled();  // the last cancel may have come just before the run was registered
}

void KvPool::EndBatchRun() {
  std::lock_guard<std::mutex> lock(batchRunMutex_);
  batchMembers_.clear();
}

void KvPool::MemberCancelled() {
  std::lock_guard<std::mutex> lock(batchRunMutex_);
  TerminateIfAllCancelled();
}

void KvPool::TerminateIfAllCancelled() {
  if (batchMembers_.empty()) return;
  for (const std::atomic<bool>* cancelled : batchMembers_) {
    if (!cancelled->load()) return;
  }
  batchCancelled_.store(true);
  if (OrtStatus* status = Ort().RunOptionsSetTerminate(batchRunOptions_.get())) Ort().ReleaseStatus(status);
}

uint8_t* KvPool::SlotData(size_t tensor, int slot) const { return data_[tensor] + static_cast<size_t>(slot) * slotBytes_; }

}  // namespace phi4
