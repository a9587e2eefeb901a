#include "kv_pool.h"

#include <string>

namespace phi4 {

KvPool::KvPool(std::shared_ptr<ModelCore> model, int slots, int capacity)
    : model_(std::move(model)), slots_(slots), capacity_(capacity), used_(slots, false) {
  const ModelSpec& spec = model_->spec();
  const int64_t shape[4] = {slots_, spec.numKvHeads, capacity_, spec.headSize};
  for (int i = 0; i < spec.numLayers * 2; ++i) {
    OrtValue* value = nullptr;
    Check(Ort().CreateTensorAsOrtValue(model_->kvAllocator(), shape, 4, model_->kvType(), &value), code::kOutOfMemory);
    buffers_.emplace_back(value);
    void* data = nullptr;
    Check(Ort().GetTensorMutableData(value, &data));
    data_.push_back(static_cast<uint8_t*>(data));
  }
  Check(Ort().AllocatorGetInfo(model_->kvAllocator(), &memory_));
  rowBytes_ = static_cast<size_t>(spec.headSize) * ElementSize(model_->kvType());
  slotBytes_ = static_cast<size_t>(spec.numKvHeads) * capacity_ * rowBytes_;
  OrtRunOptions* options = nullptr;
  Check(Ort().CreateRunOptions(&options));
  batchRunOptions_.reset(options);
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
