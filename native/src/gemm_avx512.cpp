// The AVX-512 family of clip4j's packed GEMM: fp32 (AVX-512 F/DQ/BW/VL + FMA) and bf16 weights
// (AVX512_BF16's vdpbf16ps), both on 6 x 64 micro-tiles over weights packed in 64-column panels.
//
// fp32 keeps the AVX2 family's contract to the bit: every output element is the same sequential
// FMA chain over blocks of kKC = 192 inner indices, the blocks added in order, then the same
// epilogue operations (the vector width changes how many elements run side by side, never what
// happens to one of them), so an embedding is bitwise the same on either family.
//
// bf16: the weights are rounded to bf16 once, when packed; each GEMM rounds its input rows to bf16
// while packing them (round to nearest even); a block's chain steps two inner indices at a time
// (one vdpbf16ps: two exact products added to the fp32 accumulator as the CPU does), and the
// blocks, the epilogue and the output stay fp32. The order depends on k only, as for fp32, so bf16
// results are batch-invariant too (and differ from fp32 by the bf16 rounding of the inputs).
//
// Only functions compiled for AVX-512 live here; gemm_cpu.cpp calls them after checking the CPU.
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps() (a self-initialised variable),
// which -Wmaybe-uninitialized reports once inlined; the value is never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define CLIP4J_GEMM_X86 1
#endif

#include "clip4j/clip4j.h"
#include "gemm_kernels.h"

namespace clip4j {
namespace gemm {

void pack_avx512_f32(const float* w, int64_t n, int64_t k, float* dst) {
  const int64_t panels = (n + kNR_AVX512 - 1) / kNR_AVX512;
  for (int64_t jp = 0; jp < panels; ++jp) {
    float* panel = dst + jp * kNR_AVX512 * k;
    for (int64_t jj = 0; jj < kNR_AVX512; ++jj) {
      const int64_t col = jp * kNR_AVX512 + jj;
      if (col < n) {
        const float* src = w + col * k;
        for (int64_t p = 0; p < k; ++p) panel[p * kNR_AVX512 + jj] = src[p];
      } else {
        for (int64_t p = 0; p < k; ++p) panel[p * kNR_AVX512 + jj] = 0.0f;
      }
    }
  }
}

void pack_avx512_bf16(const float* w, int64_t n, int64_t k, uint16_t* dst) {
  const int64_t panels = (n + kNR_AVX512 - 1) / kNR_AVX512;
  const int64_t pairs = (k + 1) / 2;
  for (int64_t jp = 0; jp < panels; ++jp) {
    uint16_t* panel = dst + jp * kNR_AVX512 * pairs * 2;
    for (int64_t jj = 0; jj < kNR_AVX512; ++jj) {
      const int64_t col = jp * kNR_AVX512 + jj;
      for (int64_t q = 0; q < pairs; ++q) {
        uint16_t lo = 0, hi = 0;
        if (col < n) {
          lo = bf16_round(w[col * k + 2 * q]);
          hi = 2 * q + 1 < k ? bf16_round(w[col * k + 2 * q + 1]) : uint16_t(0);
        }
        panel[(q * kNR_AVX512 + jj) * 2] = lo;
        panel[(q * kNR_AVX512 + jj) * 2 + 1] = hi;
      }
    }
  }
}

#ifdef CLIP4J_GEMM_X86

#define CLIP4J_AVX512 __attribute__((target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl")))
#define CLIP4J_AVX512_BF16 __attribute__((target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl,avx512bf16")))

namespace {

constexpr int64_t kMR = 6;   // rows of a micro-tile
constexpr int64_t kNV = 4;   // 16-float vectors across a micro-tile: 64 columns
constexpr int64_t kNR = kNR_AVX512;
static_assert(kMC % kMR == 0, "kMC must hold whole row tiles");
static_assert(kKC % 2 == 0, "bf16 pairs must not straddle inner blocks");

// ---- vector math: the AVX2 family's functions, operation for operation, 16 lanes wide -------------

CLIP4J_AVX512 inline __m512 exp_ps(__m512 x) {
  const __m512 hi = _mm512_set1_ps(88.3762626647949f);
  const __m512 lo = _mm512_set1_ps(-88.3762626647949f);
  x = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
  __m512 fx = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 y = _mm512_set1_ps(1.9875691500E-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1.0f)));
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

CLIP4J_AVX512 inline __m512 quick_gelu_ps(__m512 x) {
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.702f));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), t))));
  return _mm512_mul_ps(x, s);
}

CLIP4J_AVX512 inline __m512 gelu_ps(__m512 x) {
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
  const __m512 a = _mm512_abs_ps(z);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), a, one));
  __m512 p = _mm512_set1_ps(0.17087277f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
  const __m512 erfc = _mm512_mul_ps(t, exp_ps(_mm512_sub_ps(p, _mm512_mul_ps(a, a))));
  const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 one_plus_erf = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), erfc), erfc);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), one_plus_erf);
}

// GELU-tanh as x / (1 + exp(-2u)), -0 where -2u > 88 (see the AVX2 family's gelu_tanh_ps).
CLIP4J_AVX512 inline __m512 gelu_tanh_ps(__m512 x) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 inner = _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), x3, x);  // x + 0.044715 x^3
  const __m512 u = _mm512_mul_ps(_mm512_set1_ps(0.79788456080286536f), inner);  // sqrt(2/pi), as torch's fp32
  const __m512 t = _mm512_mul_ps(_mm512_set1_ps(-2.0f), u);
  const __m512 y = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), exp_ps(t)));
  const __m512 zero = _mm512_mul_ps(x, _mm512_setzero_ps());
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, _mm512_set1_ps(88.0f), _CMP_GT_OQ), y, zero);
}

// Lanes [0, valid) of a 16-lane vector (valid may be <= 0 or > 16).
inline __mmask16 lanes(int64_t valid) {
  return valid >= 16 ? __mmask16(0xffff) : valid <= 0 ? __mmask16(0) : __mmask16((1u << valid) - 1);
}

// The end of a tile's inner block: s = acc (first block) or partial + acc; on the last block
// v = act(s + bias) * colscale, out = v or out + v; otherwise partial = s. Masked lanes (columns
// past n) are neither read nor written; the others go through the same operations in every tile.
CLIP4J_AVX512 inline void epilogue(const Job& j, __m512 (&c)[kMR][kNV], int64_t row, int64_t col, int64_t mr,
                                   int64_t nr, bool first, bool last) {
  __mmask16 mask[kNV];
  for (int v = 0; v < kNV; ++v) mask[v] = lanes(nr - 16 * v);
  __m512 bias[kNV], scale[kNV];
  for (int v = 0; v < kNV; ++v) {
    bias[v] = _mm512_setzero_ps();
    scale[v] = _mm512_setzero_ps();
  }
  if (last) {
    for (int v = 0; v < kNV; ++v) {
      if (j.bias != nullptr) bias[v] = _mm512_maskz_loadu_ps(mask[v], j.bias + col + 16 * v);
      if (j.colscale != nullptr) scale[v] = _mm512_maskz_loadu_ps(mask[v], j.colscale + col + 16 * v);
    }
  }
  float* part = j.partial + row * j.ldp + col;
  for (int64_t i = 0; i < mr; ++i) {
    __m512* x = c[i];
    if (!first) {
      for (int v = 0; v < kNV; ++v)
        x[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], part + i * j.ldp + 16 * v), x[v]);
    }
    if (!last) {
      for (int v = 0; v < kNV; ++v) _mm512_mask_storeu_ps(part + i * j.ldp + 16 * v, mask[v], x[v]);
      continue;
    }
    if (j.bias != nullptr) {
      for (int v = 0; v < kNV; ++v) x[v] = _mm512_add_ps(x[v], bias[v]);
    }
    if (j.activation == CLIP4J_ACT_QUICK_GELU) {
      for (int v = 0; v < kNV; ++v) x[v] = quick_gelu_ps(x[v]);
    } else if (j.activation == CLIP4J_ACT_GELU) {
      for (int v = 0; v < kNV; ++v) x[v] = gelu_ps(x[v]);
    } else if (j.activation == CLIP4J_ACT_GELU_TANH) {
      for (int v = 0; v < kNV; ++v) x[v] = gelu_tanh_ps(x[v]);
    }
    if (j.colscale != nullptr) {
      for (int v = 0; v < kNV; ++v) x[v] = _mm512_mul_ps(x[v], scale[v]);
    }
    float* dst = j.out + (row + i) * j.ldo + col;
    if (j.accumulate) {
      for (int v = 0; v < kNV; ++v) x[v] = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], dst + 16 * v), x[v]);
    }
    for (int v = 0; v < kNV; ++v) _mm512_mask_storeu_ps(dst + 16 * v, mask[v], x[v]);
  }
}

CLIP4J_AVX512 inline void prefetch_partial(const Job& j, int64_t row, int64_t col, int64_t mr) {
  const float* part = j.partial + row * j.ldp + col;
  for (int64_t i = 0; i < mr; ++i)
    for (int v = 0; v < kNV; ++v) _mm_prefetch(reinterpret_cast<const char*>(part + i * j.ldp + 16 * v), _MM_HINT_T0);
}

// One 6 x 64 tile over an inner block of kc indices: rows[i] = row i of the tile in A at the
// block's first inner index (rows past the tile's end repeat its first row: their results are
// computed and dropped, and every row's chain is its own), b = the panel's block [kc][64].
// pf..pf_end: this tile's share of the next panel's block, one cache line prefetched per step
// (the weights stream from memory at small batches).
CLIP4J_AVX512 void kernel_f32(const Job& j, int64_t kc, const float* const* rows, const float* b, int64_t row,
                              int64_t col, int64_t mr, int64_t nr, bool first, bool last, const char* pf,
                              const char* pf_end) {
  if (!first) prefetch_partial(j, row, col, mr);
  const float* a0 = rows[0];
  const float* a1 = rows[1];
  const float* a2 = rows[2];
  const float* a3 = rows[3];
  const float* a4 = rows[4];
  const float* a5 = rows[5];
  __m512 c[kMR][kNV];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kNV; ++v) c[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    if (pf < pf_end) {
      _mm_prefetch(pf, _MM_HINT_T0);
      pf += 64;
    }
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
    const __m512 b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
    const float av[kMR] = {a0[p], a1[p], a2[p], a3[p], a4[p], a5[p]};
    for (int i = 0; i < kMR; ++i) {
      const __m512 ai = _mm512_set1_ps(av[i]);
      c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
      c[i][2] = _mm512_fmadd_ps(ai, b2, c[i][2]);
      c[i][3] = _mm512_fmadd_ps(ai, b3, c[i][3]);
    }
    b += kNR;
  }
  epilogue(j, c, row, col, mr, nr, first, last);
}

// The bf16 tile: rows[i] = row i's inner pairs (bf16, as 32-bit words) of the block, as
// kernel_f32's rows; b = the panel's block [ceil(kc/2)][64] pairs.
CLIP4J_AVX512_BF16 void kernel_bf16(const Job& j, int64_t kc, const uint32_t* const* rows, const uint32_t* b,
                                    int64_t row, int64_t col, int64_t mr, int64_t nr, bool first, bool last,
                                    const char* pf, const char* pf_end) {
  if (!first) prefetch_partial(j, row, col, mr);
  const uint32_t* a0 = rows[0];
  const uint32_t* a1 = rows[1];
  const uint32_t* a2 = rows[2];
  const uint32_t* a3 = rows[3];
  const uint32_t* a4 = rows[4];
  const uint32_t* a5 = rows[5];
  __m512 c[kMR][kNV];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kNV; ++v) c[i][v] = _mm512_setzero_ps();
  const int64_t pairs = (kc + 1) / 2;
  for (int64_t q = 0; q < pairs; ++q) {
    if (pf < pf_end) {
      _mm_prefetch(pf, _MM_HINT_T0);
      pf += 64;
    }
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
    const __m512bh b2 = (__m512bh)_mm512_loadu_si512(b + 32), b3 = (__m512bh)_mm512_loadu_si512(b + 48);
    const uint32_t av[kMR] = {a0[q], a1[q], a2[q], a3[q], a4[q], a5[q]};
    for (int i = 0; i < kMR; ++i) {
      const __m512bh ai = (__m512bh)_mm512_set1_epi32(int(av[i]));
      c[i][0] = _mm512_dpbf16_ps(c[i][0], ai, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], ai, b1);
      c[i][2] = _mm512_dpbf16_ps(c[i][2], ai, b2);
      c[i][3] = _mm512_dpbf16_ps(c[i][3], ai, b3);
    }
    b += kNR;
  }
  epilogue(j, c, row, col, mr, nr, first, last);
}

// Rows A[i0 .. i0+mc, p0 .. p0+kc] rounded to bf16 (VCVTNEPS2BF16: nearest even), row by row,
// each row's inner pairs as 32-bit words, rows kKC / 2 words apart; an odd tail pairs with 0.
CLIP4J_AVX512_BF16 void round_rows_bf16(const Job& j, int64_t i0, int64_t mc, int64_t p0, int64_t kc, uint32_t* dst) {
  for (int64_t r = 0; r < mc; ++r) {
    const float* src = j.a + (i0 + r) * j.lda + p0;
    uint32_t* out = dst + r * (kKC / 2);
    for (int64_t p = 0; p < kc; p += 32) {
      // Masked lanes (past kc) load as 0: an odd tail's partner is 0.
      const __m512 lo = _mm512_maskz_loadu_ps(lanes(kc - p), src + p);
      const __m512 hi = _mm512_maskz_loadu_ps(lanes(kc - p - 16), src + p + 16);
      const __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);  // lo's 16 values, then hi's
      _mm512_mask_storeu_epi32(out + p / 2, lanes((kc - p + 1) / 2), v);
    }
  }
}

// The driver shared by both element types: rows in kMC chunks; per chunk, the inner blocks in
// order (a chunk's partial sums stay in cache between its blocks); per block, this part's column
// panels; per panel, the row tiles. fp32 reads A in place; bf16 rounds each chunk's block once
// into the scratch.
template <bool BF16>
inline void part_impl(const void* ctx, int part, int parts, float* scratch) {
  const Job& j = *static_cast<const Job*>(ctx);
  const int64_t panels = (j.n + kNR - 1) / kNR;
  const int64_t p_begin = panels * part / parts, p_end = panels * (part + 1) / parts;
  if (p_begin >= p_end) return;
  // Bytes of one panel per inner index (fp32: 64 floats; bf16: 64 bf16) and of a whole panel.
  const int64_t row_bytes = BF16 ? kNR * 2 : kNR * 4;
  const int64_t panel_bytes = BF16 ? kNR * 4 * ((j.k + 1) / 2) : kNR * 4 * j.k;
  const char* packed = static_cast<const char*>(j.packed);
  for (int64_t i0 = 0; i0 < j.m; i0 += kMC) {
    const int64_t mc = j.m - i0 < kMC ? j.m - i0 : kMC;
    const int64_t tiles = (mc + kMR - 1) / kMR;
    for (int64_t p0 = 0; p0 < j.k; p0 += kKC) {
      const int64_t kc = j.k - p0 < kKC ? j.k - p0 : kKC;
      const bool first = p0 == 0;
      const bool last = p0 + kc == j.k;
      const int64_t block_bytes = BF16 ? (kc + 1) / 2 * kNR * 4 : kc * kNR * 4;
      if (BF16) round_rows_bf16(j, i0, mc, p0, kc, reinterpret_cast<uint32_t*>(scratch));
      for (int64_t jp = p_begin; jp < p_end; ++jp) {
        const int64_t col = jp * kNR;
        const int64_t nr = j.n - col < kNR ? j.n - col : kNR;
        const char* bp = packed + jp * panel_bytes + p0 * row_bytes;
        const char* next = jp + 1 < p_end ? bp + panel_bytes : bp;
        const int64_t lines = jp + 1 < p_end ? block_bytes / 64 : 0;
        for (int64_t t = 0; t < tiles; ++t) {
          const int64_t ip = t * kMR;
          const int64_t mr = mc - ip < kMR ? mc - ip : kMR;
          const char* pf = next + lines * t / tiles * 64;
          const char* pf_end = next + lines * (t + 1) / tiles * 64;
          if (BF16) {
            const uint32_t* rows[kMR];
            const uint32_t* rounded = reinterpret_cast<const uint32_t*>(scratch);
            for (int64_t i = 0; i < kMR; ++i) rows[i] = rounded + (ip + (i < mr ? i : 0)) * (kKC / 2);
            kernel_bf16(j, kc, rows, reinterpret_cast<const uint32_t*>(bp), i0 + ip, col, mr, nr, first, last, pf,
                        pf_end);
          } else {
            const float* rows[kMR];
            for (int64_t i = 0; i < kMR; ++i) rows[i] = j.a + (i0 + ip + (i < mr ? i : 0)) * j.lda + p0;
            kernel_f32(j, kc, rows, reinterpret_cast<const float*>(bp), i0 + ip, col, mr, nr, first, last, pf, pf_end);
          }
        }
      }
    }
  }
}

}  // namespace

void part_avx512_f32(const void* job, int part, int parts, float* scratch) {
  part_impl<false>(job, part, parts, scratch);
}

void part_avx512_bf16(const void* job, int part, int parts, float* scratch) {
  part_impl<true>(job, part, parts, scratch);
}

#else  // not x86-64: never called (the driver refuses these families first)

void part_avx512_f32(const void*, int, int, float*) {}
void part_avx512_bf16(const void*, int, int, float*) {}

#endif

}  // namespace gemm
}  // namespace clip4j
