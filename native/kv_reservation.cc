#include "kv_reservation.h"

#include <utility>

#ifdef _WIN32
#define NOMINMAX
#include <windows.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace phi4 {

size_t KvReservation::PageSize() {
#ifdef _WIN32
  SYSTEM_INFO info;
  GetSystemInfo(&info);
  return info.dwPageSize;
#else
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
#endif
}

KvReservation::KvReservation(size_t bytes) {
  if (bytes == 0) return;
#ifdef _WIN32
  void* p = VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (!p) return;
#else
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
#endif
  data_ = static_cast<uint8_t*>(p);
  size_ = bytes;
}

KvReservation::~KvReservation() {
  if (!data_) return;
#ifdef _WIN32
  VirtualFree(data_, 0, MEM_RELEASE);
#else
  munmap(data_, size_);
#endif
}

KvReservation::KvReservation(KvReservation&& other) noexcept : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

KvReservation& KvReservation::operator=(KvReservation&& other) noexcept {
  if (this != &other) {
    KvReservation old(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void KvReservation::Decommit(uint8_t* begin, uint8_t* end) const {
  const uintptr_t page = PageSize();
  const uintptr_t first = (reinterpret_cast<uintptr_t>(begin) + page - 1) / page * page;
  const uintptr_t last = reinterpret_cast<uintptr_t>(end) / page * page;
  if (last <= first) return;
  void* p = reinterpret_cast<void*>(first);
  const size_t bytes = last - first;
  // Failures only mean the memory stays backed: nothing to report.
#ifdef _WIN32
  // MEM_RESET drops the contents without decommitting (a later write needs no commit that could
  // fail); VirtualUnlock on a reset range takes its pages out of the working set.
  if (VirtualAlloc(p, bytes, MEM_RESET, PAGE_READWRITE)) VirtualUnlock(p, bytes);
#elif defined(__linux__)
  madvise(p, bytes, MADV_DONTNEED);
#else
  madvise(p, bytes, MADV_FREE);
#endif
}

}  // namespace phi4
