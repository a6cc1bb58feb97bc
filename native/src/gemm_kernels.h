// Internal interface between the packed GEMM's driver (gemm_cpu.cpp: the C ABI, the worker pool,
// the AVX2 family) and the kernel families compiled elsewhere (gemm_avx512.cpp).
//
// The summation-order contract every family keeps: each output element is
//     acc_b = sequential fused multiply-add chain over inner block b (kKC inner indices), from 0
//     c = acc_0;  c = c + acc_1;  ...;  then the epilogue
//         v = act(c + bias) * colscale;   out = v   or   out = out + v
// with bf16 weights, one step of a block's chain is one vdpbf16ps (the sum of two products, then
// the add, as the CPU does it). The AVX2 and AVX-512 fp32 families run exactly the same chain per
// element, with the same epilogue operations, so they give the same bits; bf16 differs from both.
#pragma once

#include <stdint.h>

namespace clip4j {
namespace gemm {

constexpr int64_t kKC = 192;  // inner block: part of the summation-order contract, never tuned per call
constexpr int64_t kMC = 240;  // rows of A packed at once (a multiple of every family's MR)
constexpr int64_t kScratchFloats = kMC * kKC;

// Panel widths (columns of a packed weight panel) per family.
constexpr int64_t kNR_AVX2 = 24;
constexpr int64_t kNR_AVX512 = 64;

struct Job {
  const float* a;
  int64_t m, k, lda;
  const void* packed;  // the family's layout (see pack_*)
  int64_t n;
  const float* bias;      // [n] or null
  const float* colscale;  // [n] or null: multiplies the activated result (LayerScale)
  int32_t activation;     // IDENTITY, QUICK_GELU, GELU or GELU_TANH
  bool accumulate;        // out = out + result (the residual add)
  float* partial;         // partial sums across inner blocks [m, ldp]
  int64_t ldp;
  float* out;
  int64_t ldo;
};

// fp32 -> bf16 as VCVTNEPS2BF16 does: round to nearest even, denormals to signed zero, NaN quieted.
inline uint16_t bf16_round(float f) {
  uint32_t x;
  __builtin_memcpy(&x, &f, 4);
  if ((x & 0x7f800000u) == 0) return uint16_t((x >> 16) & 0x8000u);  // zero or denormal
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40u);  // NaN
  return uint16_t((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

// Packed lengths in bytes.
inline int64_t packed_bytes_avx512_f32(int64_t n, int64_t k) {
  return (n + kNR_AVX512 - 1) / kNR_AVX512 * kNR_AVX512 * k * 4;
}
inline int64_t packed_bytes_avx512_bf16(int64_t n, int64_t k) {
  return (n + kNR_AVX512 - 1) / kNR_AVX512 * kNR_AVX512 * ((k + 1) / 2) * 4;
}

// w [n, k] row-major into panels of 64 columns: fp32 [panel][k][64]; bf16 [panel][(k+1)/2][64][2]
// (inner pairs (2p, 2p+1), the odd tail paired with 0). Columns past n are zeros.
void pack_avx512_f32(const float* w, int64_t n, int64_t k, float* dst);
void pack_avx512_bf16(const float* w, int64_t n, int64_t k, uint16_t* dst);

// One worker's share of a job: column panels [P * part / parts, P * (part + 1) / parts), all rows.
// scratch holds kScratchFloats floats.
void part_avx512_f32(const void* job, int part, int parts, float* scratch);
void part_avx512_bf16(const void* job, int part, int parts, float* scratch);

}  // namespace gemm
}  // namespace clip4j
