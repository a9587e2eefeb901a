// KvReleaser: gives the pages of KV positions back to the system on a thread of its own. Giving back
// gigabytes takes about 0.1 s per GiB (the kernel frees every page), too long for the event loop,
// where rewinds and disposes happen; the pool lowers its accounting at once and queues the pages here.
//
// A slot's pending range must be gone before that slot is written past it again: Flush(slot), called
// before every write that grows a slot (KvPool::Grow), runs a pending release itself or waits for the
// running one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace phi4 {

class KvReleaser {
 public:
  // `release(slot, from, to)` gives back the pages of positions [from, to) of `slot`.
  using Release = std::function<void(int slot, int from, int to)>;
  KvReleaser(int slots, Release release);
  // Stops the thread; releases still queued are dropped (the mapping goes with the pool).
  ~KvReleaser();
  KvReleaser(const KvReleaser&) = delete;
  KvReleaser& operator=(const KvReleaser&) = delete;

  // Queues positions [from, to) of `slot` (merged with what is already queued for it).
  void Queue(int slot, int from, int to);
  // Returns once `slot` has nothing queued or being released.
  void Flush(int slot);
  // Positions queued or being released, over all slots.
  size_t pendingPositions() const;

 private:
  struct Range {
    int from = 0, to = 0;
    bool empty() const { return to <= from; }
  };
  void Loop();
  // Takes `slot`'s queued range and releases it with the lock dropped meanwhile.
  void Run(std::unique_lock<std::mutex>& lock, int slot);

  const Release release_;
  mutable std::mutex mutex_;
  std::condition_variable work_, done_;
  std::vector<Range> queued_, running_;
  bool stopping_ = false;
  std::thread thread_;  // started at the first Queue
};

}  // namespace phi4
