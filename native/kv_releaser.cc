#include "kv_releaser.h"

#include <algorithm>
#include <utility>

namespace phi4 {

KvReleaser::KvReleaser(int slots, Release release) : release_(std::move(release)), queued_(slots), running_(slots) {}

KvReleaser::~KvReleaser() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KvReleaser::Queue(int slot, int from, int to) {
  if (to <= from) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Range& r = queued_[slot];
    r = r.empty() ? Range{from, to} : Range{std::min(r.from, from), std::max(r.to, to)};
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  }
  work_.notify_one();
}

void KvReleaser::Flush(int slot) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!running_[slot].empty()) {
      done_.wait(lock);
    } else if (!queued_[slot].empty()) {
      Run(lock, slot);  // no need to wait for the thread to get to it
    } else {
      return;
    }
  }
}

size_t KvReleaser::pendingPositions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t positions = 0;
  for (size_t slot = 0; slot < queued_.size(); ++slot) {
    if (!queued_[slot].empty()) positions += queued_[slot].to - queued_[slot].from;
    if (!running_[slot].empty()) positions += running_[slot].to - running_[slot].from;
  }
  return positions;
}

void KvReleaser::Run(std::unique_lock<std::mutex>& lock, int slot) {
  const Range range = std::exchange(queued_[slot], Range{});
  running_[slot] = range;
  lock.unlock();
  release_(slot, range.from, range.to);
  lock.lock();
  running_[slot] = Range{};
  done_.notify_all();
}

void KvReleaser::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    auto next = std::find_if(queued_.begin(), queued_.end(), [](const Range& r) { return !r.empty(); });
    if (stopping_) return;
    if (next == queued_.end()) {
      work_.wait(lock);
      continue;
    }
    const int slot = static_cast<int>(next - queued_.begin());
    // A slot whose earlier release is still running (Flush stole it) waits for that one.
    if (!running_[slot].empty()) {
      done_.wait(lock);
      continue;
    }
    Run(lock, slot);
  }
}

}  // namespace phi4
