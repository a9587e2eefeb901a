// KvReservation: address space for a KV buffer whose physical memory follows use. The whole buffer is
// reserved up front (so tensor views, strides and batched [B, ...] layouts never change) but a page
// takes physical memory only once it is written, and Decommit hands whole pages back.
//
// Linux/macOS: an anonymous private mapping with MAP_NORESERVE: untouched pages read as the shared
// zero page and cost nothing; Decommit is madvise (MADV_DONTNEED on Linux, MADV_FREE elsewhere).
// Windows: VirtualAlloc(MEM_RESERVE | MEM_COMMIT) is demand-zero too, but the commit is charged
// against the page file up front, so large reservations fail sooner there (the pool then asks for
// less); Decommit resets the pages (MEM_RESET) and takes them out of the working set.
#pragma once

#include <cstddef>
#include <cstdint>

namespace phi4 {

class KvReservation {
 public:
  KvReservation() = default;
  // Reserves `bytes`; an empty reservation (ok() false) when the system refuses.
  explicit KvReservation(size_t bytes);
  ~KvReservation();
  KvReservation(KvReservation&& other) noexcept;
  KvReservation& operator=(KvReservation&& other) noexcept;
  KvReservation(const KvReservation&) = delete;
  KvReservation& operator=(const KvReservation&) = delete;

  bool ok() const { return data_ != nullptr; }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Gives back the physical memory of every whole page inside [begin, end) (pointers into this
  // reservation); their contents are undefined afterwards (zero on Linux), and they are
  // backed again on their next write. Partial pages at either end keep their memory.
  void Decommit(uint8_t* begin, uint8_t* end) const;

  static size_t PageSize();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace phi4
