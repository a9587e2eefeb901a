// CPU kernels for the int4 matrix products of Phi-4-mini (MatMulNBits, 4 bits, block 32, accuracy
// level 4): activations quantized to int8 per block of 32, times the int4 weights as they are stored
// in model.onnx (read in place: no repacked copy of the weights is kept, so RSS holds them once).
//
// Two paths, chosen by the number of rows:
// - GEMV (decode, and batched decode of a few rows): streams each column's weights once from memory
//   in their stored layout and multiplies them by every row while they are in registers. Memory
//   bound; the arithmetic per byte is what the variants differ in.
// - GEMM (prefill chunks, many rows): unpacks a panel of columns once into the layout the dot-product
//   instructions want (int4_panel.h) and reuses it for every row of the chunk, in register tiles of
//   rows x columns. Compute bound.
//
// Micro-kernels are chosen at run time from what the CPU has (cpu_features.h): AVX-512 VNNI (zmm,
// vpdpbusd), AVX-VNNI (ymm, vpdpbusd), AVX2 (vpmaddubsw), and portable C++ for every other CPU.
//
// Numerics are MatMulNBits' at accuracy level 4: a block's activation scale is max|a| / 127, values
// are rounded to nearest even, the weights' zero point is 8, and every block's dot product of int8
// activations and int4 weights is exact (integer). The weight scales are rounded to fp16 (2^-11
// relative at most), and the order of the float additions across blocks differs between paths and
// variants (docs/engine.md: the int4 kernels). Each row's result
// depends only on that row, the path and the variant, never on the other rows it is batched with.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace phi4::int4 {

constexpr size_t kBlock = 32;  // values per quantization block (weights and activations)

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

// Activation rows quantized for the kernels. Per row, the int8 values of each group of 4 blocks
// (128 values; the last group of a row whose K is not a multiple of 128 has 2 blocks) are stored as
// [even-indexed values of each block | odd-indexed values of each block], 16 bytes per block and
// half: the order the stored weights' low and high nibbles unpack to.
struct QuantizedRows {
  size_t rows = 0, k = 0;
  std::vector<int8_t> values;        // [rows][k], in the group layout above
  std::vector<float> scales;         // [rows][blocks]: max|a| / 127
  std::vector<float> laneScales;     // [rows][blocks][4]: each scale 4 times (GEMV's vector lanes)
  std::vector<int32_t> zeroOffsets;  // [rows][blocks]: -8 * sum of the block's int8 values (GEMM)
  // [rows][blocks][4]: -8 * sum of the 8 values that meet GEMV lane j of the block (its even and odd
  // 4-byte groups j: values 8j..8j+7), so that the GEMV's lanes start from the zero point's share.
  std::vector<int32_t> laneZeroOffsets;

  void Resize(size_t rows, size_t k);
  size_t blocks() const { return k / kBlock; }
  // Stores block b of `row`: its 32 int8 values q (in natural order) and scale, in the layout above,
  // with the sums the kernels take the zero point from. Shared by every quantizer.
  void SetBlock(size_t row, size_t b, float scale, const int32_t* q);
  // Where block b's even (odd) values start within a row.
  size_t EvenOffset(size_t b) const { return (b / 4) * 128 + (b % 4) * 16; }
  size_t OddOffset(size_t b) const {
    const size_t group = b / 4, groupBlocks = blocks() - group * 4 < 4 ? blocks() - group * 4 : 4;
    return group * 128 + groupBlocks * 16 + (b % 4) * 16;
  }
};

// The weights of one MatMulNBits node: data as stored, [n][k / 32][16] (two values per byte, low
// nibble first), zero point 8; scales [n][k / 32] rounded to fp16 (HalfScales), which a decode step
// reads 10% fewer bytes for than model.onnx's fp32 ones (llama.cpp's Q4_0 keeps fp16 scales too).
struct Weights {
  const uint8_t* data;
  const uint16_t* scales;
  size_t n, k;
};

// fp32 scales rounded to nearest fp16, ties to even.
std::vector<uint16_t> HalfScales(const float* scales, size_t count);

// Quantizes rows [rowBegin, rowEnd) of `a` ([rows][k] floats) into `out` (already Resize()d), with
// the AVX2 quantizer for the SIMD variants and the portable one (bit-identical) for `portable`.
// k must be a multiple of 64.
void QuantizeRows(Variant v, const float* a, size_t rowBegin, size_t rowEnd, QuantizedRows& out);

enum class Path { kAuto, kGemv, kGemm };

// Columns per parallel task: enough work to amortize a task, and a task's unpacked GEMM panels
// (64 x K bytes) stay in the core's L2 cache while every row tile of a prefill chunk passes over
// them. A multiple of every variant's panel width.
constexpr size_t kColumnsPerTask = 64;

// Up to this many rows take the GEMV path, more the GEMM (int4_matmul.cc says why this many).
size_t GemvMaxRows(Variant v);
// The columns a GEMM panel holds: tasks should cover multiples of it.
size_t PanelColumns(Variant v);

// out[r][c] = sum_k a[r][k] * w[c][k] for every row of `a` and the columns [columnBegin, columnEnd).
// `out` is [a.rows][w.n]. Thread-safe: GEMM scratch is per thread.
void MultiplyColumns(Variant v, Path path, const QuantizedRows& a, const Weights& w, size_t columnBegin, size_t columnEnd, float* out);

}  // namespace phi4::int4
