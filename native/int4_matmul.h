// CPU kernels for the int4 matrix products of Phi-4-mini (MatMulNBits, 4 bits, block 32, accuracy
// level 4): activations quantized to int8 per block of 32, times int4 weights repacked once at load
// (PackedWeights: 4.5 bits per weight, fp16 scales interleaved with the nibbles).
//
// One path for every number of rows: the weights are read panel by panel (16 columns), each block of
// a panel is split into low and high nibbles in registers, and a tile of rows meets them in
// dot-product instructions while they are there. One row (decode) streams the weights from memory
// once; a batched decode step of up to a tile of rows streams them once for all its rows; a prefill
// chunk's row tiles find a task's panels in L2.
//
// Micro-kernels are chosen at run time from what the CPU has (cpu_features.h): AVX-512 VNNI (zmm,
// vpdpbusd), AVX-VNNI (ymm, vpdpbusd), AVX2 (vpmaddubsw), and portable C++ for every other CPU.
//
// Numerics are MatMulNBits' at accuracy level 4: a block's activation scale is max|a| / 127, values
// are rounded to nearest even, the weights' zero point is 8, and every block's dot product of int8
// activations and int4 weights is exact (integer). The weight scales are rounded to fp16 (2^-11
// relative at most), and the order of the float additions across blocks differs from ONNX Runtime's
// (docs/engine.md: the int4 kernels). Each row's result depends only on that row and the variant:
// never on how many rows share its product, so a prompt chunk, a decode step and a batched step give
// a position the same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace phi4::int4 {

constexpr size_t kBlock = 32;         // values per quantization block (weights and activations)
constexpr size_t kPanelColumns = 16;  // columns per panel of PackedWeights

enum class Variant { kPortable, kAvx2, kAvxVnni, kAvx512Vnni };

// Every variant, in order of preference (fastest first).
const std::vector<Variant>& AllVariants();
const char* VariantName(Variant v);
bool ParseVariant(const std::string& name, Variant* out);
// Whether this CPU can run `v` (the portable variant runs everywhere).
bool VariantSupported(Variant v);
// The fastest variant this CPU runs.
Variant BestVariant();
// True where a SIMD variant runs here: only then is the kernel faster than ONNX Runtime's own, so
// only then do models use it by default.
bool KernelSupported();

// Activation rows quantized for the kernels. Per row and block: the block's 16 even-indexed int8
// values, then its 16 odd-indexed ones (the order the weights' low and high nibbles unpack to).
struct QuantizedRows {
  size_t rows = 0, k = 0;
  std::vector<int8_t> values;        // [rows][k], in the block layout above
  std::vector<float> scales;         // [rows][blocks]: max|a| / 127
  std::vector<int32_t> zeroOffsets;  // [rows][blocks]: -8 * sum of the block's int8 values

  void Resize(size_t rows, size_t k);
  size_t blocks() const { return k / kBlock; }
  // Stores block b of `row`: its 32 int8 values q (in natural order) and scale, in the layout above,
  // with the sum the kernels take the zero point from. Shared by every quantizer.
  void SetBlock(size_t row, size_t b, float scale, const int32_t* q);
  const int8_t* Block(size_t row, size_t b) const { return values.data() + row * k + b * kBlock; }
};

// The weights of one MatMulNBits node, repacked for the kernels. Columns are grouped in panels of 16
// (the last one padded with zero columns). A panel is a run of block pairs, 576 bytes each: the two
// blocks' values (256 bytes each), then their scales (16 fp16 each). A block's values are 4 groups of
// 64 bytes; group j holds, for each of the panel's 16 columns in turn, that column's stored bytes
// 4j..4j+3 of the block (low nibbles: its values 8j, 8j+2, 8j+4, 8j+6; high nibbles: 8j+1, ...). So one
// load and two masks give, per column lane, the 4 weights that meet one 4-byte group of a row's even
// or odd activations. The same bytes as MatMulNBits stores, reordered, with fp16 scales instead of
// fp32: 4.5 bits per weight, one sequential stream per panel.
class PackedWeights {
 public:
  static constexpr size_t kBlockBytes = 4 * kPanelColumns * 4;                   // 256
  static constexpr size_t kPairBytes = 2 * kBlockBytes + 2 * 2 * kPanelColumns;  // 576

  // Storage for n columns of k values (k a multiple of 64), contents undefined until packed.
  PackedWeights(size_t n, size_t k);

  // Packs columns [begin, begin + count) from MatMulNBits' layout: data [count][k / 32][16] (two
  // values per byte, low nibble first, zero point 8) and scales [count][k / 32] (rounded to nearest
  // fp16, ties to even). `begin` must be a multiple of 16 and `count` too unless the columns reach n;
  // every column must be packed once before the weights are used.
  void PackColumns(size_t begin, size_t count, const uint8_t* data, const float* scales);

  size_t n() const { return n_; }
  size_t k() const { return k_; }
  size_t blocks() const { return k_ / kBlock; }
  size_t panels() const { return panels_; }
  size_t bytes() const { return panels_ * PanelBytes(); }
  size_t PanelBytes() const { return blocks() / 2 * kPairBytes; }
  const uint8_t* Panel(size_t p) const { return storage_.get() + p * PanelBytes(); }

 private:
  struct FreeStorage {
    void operator()(uint8_t* p) const;
  };
  size_t n_, k_, panels_;
  std::unique_ptr<uint8_t, FreeStorage> storage_;
};

// The packed weights of MatMulNBits data and fp32 scales in memory (tests, and weights held inline).
std::unique_ptr<PackedWeights> Pack(const uint8_t* data, const float* scales, size_t n, size_t k);

// Quantizes rows [rowBegin, rowEnd) of `a` ([rows][k] floats) into `out` (already Resize()d), with
// the AVX2 quantizer for the SIMD variants and the portable one (bit-identical) for `portable`.
// k must be a multiple of 64.
void QuantizeRows(Variant v, const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out);

// Columns per parallel task: enough work to amortize a task, and a task's panels (about 18 x K
// bytes) stay in the core's L2 cache while every row tile of a prefill chunk passes over them.
// A multiple of kPanelColumns.
constexpr size_t kColumnsPerTask = 64;

// Rows the variant's register tile holds: a product of up to this many rows reads the weights once.
size_t TileRows(Variant v);

// out[r][c] = sum_k a[r][k] * w[c][k] for every row of `a` and the columns [columnBegin, columnEnd)
// (columnBegin a multiple of kPanelColumns). `out` is [a.rows][w.n()]. Thread-safe.
void MultiplyColumns(Variant v, const QuantizedRows& a, const PackedWeights& w, size_t columnBegin, size_t columnEnd, float* out);

}  // namespace phi4::int4
