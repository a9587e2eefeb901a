#include "int4_weights_file.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace phi4::int4 {
namespace {

// Columns read and packed at a time: a few MiB of buffer, whatever the matrix.
constexpr size_t kColumnsPerRead = 256;

// Identifies the bytes a node names: the same ranges of the same files, unchanged since.
using Key = std::tuple<std::string, uint64_t, std::string, uint64_t, int64_t, int64_t, size_t, size_t>;

bool ReadAt(std::ifstream& file, uint64_t offset, void* out, size_t bytes) {
  file.seekg(static_cast<std::streamoff>(offset));
  file.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes));
  return static_cast<size_t>(file.gcount()) == bytes;
}

std::unique_ptr<PackedWeights> ReadPacked(const FileRange& data, const FileRange& scales, size_t n, size_t k, std::string* error) {
  std::ifstream dataFile(data.path, std::ios::binary);
  std::ifstream scalesFile(scales.path, std::ios::binary);
  if (!dataFile || !scalesFile) {
    *error = "cannot open the weights file " + (dataFile ? scales.path : data.path);
    return nullptr;
  }
  const size_t blocks = k / kBlock;
  auto packed = std::make_unique<PackedWeights>(n, k);
  std::vector<uint8_t> values(kColumnsPerRead * blocks * 16);
  std::vector<float> blockScales(kColumnsPerRead * blocks);
  for (size_t begin = 0; begin < n; begin += kColumnsPerRead) {
    const size_t count = n - begin < kColumnsPerRead ? n - begin : kColumnsPerRead;
    if (!ReadAt(dataFile, data.offset + begin * blocks * 16, values.data(), count * blocks * 16) ||
        !ReadAt(scalesFile, scales.offset + begin * blocks * sizeof(float), blockScales.data(), count * blocks * sizeof(float))) {
      *error = "the weights file " + data.path + " ends before the weights it should hold (is the model folder complete?)";
      return nullptr;
    }
    packed->PackColumns(begin, count, values.data(), blockScales.data());
  }
  return packed;
}

}  // namespace

std::shared_ptr<const PackedWeights> LoadPackedWeights(const FileRange& data, const FileRange& scales, size_t n, size_t k, std::string* error) {
  struct stat info {};
  if (stat(data.path.c_str(), &info) != 0) {
    *error = "cannot read the weights file " + data.path;
    return nullptr;
  }
  const Key key{data.path, data.offset, scales.path, scales.offset, static_cast<int64_t>(info.st_mtime), static_cast<int64_t>(info.st_size), n, k};
  static std::mutex mutex;
  static std::map<Key, std::weak_ptr<const PackedWeights>> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  for (auto it = loaded.begin(); it != loaded.end();) it = it->second.expired() && it->first != key ? loaded.erase(it) : std::next(it);
  if (auto shared = loaded[key].lock()) return shared;
  std::shared_ptr<const PackedWeights> packed = ReadPacked(data, scales, n, k, error);
  if (packed) loaded[key] = packed;
  return packed;
}

}  // namespace phi4::int4
