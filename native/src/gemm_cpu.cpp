// Batch-invariant transformer kernels for x86-64: the GEMM over weights packed once (with a fused
// epilogue: bias, activation, layer scale, residual add), LayerNorm and multi-head attention, all
// sharing one pool of worker threads. This file holds the C ABI, the pool, the AVX2 family of the
// GEMM (AVX2 + FMA) and the fp32 LayerNorm and attention kernels (AVX2, one fixed order on every
// CPU); gemm_avx512.cpp holds the AVX-512 family (fp32 with the AVX2 family's bits, and bf16).
//
// Why clip4j has its own GEMM: LibTorch's linear hands the whole batch to the BLAS, whose
// blocking (and so the rounding of every output) depends on the number of rows; one GEMM per
// sample keeps each sample bitwise independent of its batch but repacks the weights for every
// sample, which costs about half the speed on ViT shapes. Here the weights are packed once, when
// a model is loaded, and every output element is summed in one fixed order that depends on k only:
//
//     for each block of KC = 192 inner indices, in order:   acc = sum of a*w by sequential FMA,
//                                                            from 0.0f
//     c = acc(block 0);  c = c + acc(block 1);  ...;  then the epilogue on the last block
//
// Row tiles that are only partly filled run the same micro-kernel and the same vector epilogue
// on zero-padded rows, and the worker threads split the columns, so neither the number of rows,
// a row's position, nor the thread count can change a single bit of a row's result. LayerNorm
// works row by row and attention (sample, head) by (sample, head), each in a fixed order, so
// they are batch-invariant the same way.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define CLIP4J_GEMM_X86 1
#endif

#include "clip4j/clip4j.h"
#include "cpu_features.h"
#include "errors.h"
#include "gemm_kernels.h"

namespace {

using clip4j::gemm::kKC;
using clip4j::gemm::kMC;
using clip4j::gemm::kScratchFloats;
using GemmJob = clip4j::gemm::Job;
constexpr int64_t kMR = 4;                         // rows of an AVX2 micro-tile
constexpr int64_t kNR = clip4j::gemm::kNR_AVX2;  // columns of an AVX2 micro-tile and packed weight panel
constexpr int64_t kMaxDim = int64_t(1) << 24;
constexpr int64_t kMaxRows = int64_t(1) << 31;
// Below this much work a call runs on the calling thread alone (same results either way).
constexpr int64_t kParallelWork = int64_t(1) << 20;
constexpr int kMaxThreads = 256;

int64_t panels_of(int64_t n) { return (n + kNR - 1) / kNR; }

// One thread's scratch (a packed block of A; attention scores), 64-byte aligned.
struct Scratch {
  float* data = nullptr;
  Scratch() { data = static_cast<float*>(::operator new(sizeof(float) * kScratchFloats, std::align_val_t(64))); }
  ~Scratch() { ::operator delete(data, std::align_val_t(64)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

thread_local std::unique_ptr<Scratch> tls_scratch;

float* caller_scratch() {
  if (!tls_scratch) tls_scratch.reset(new Scratch());
  return tls_scratch->data;
}

// A parallel job: fn(ctx, part, parts, scratch) for part in [0, parts).
using PartFn = void (*)(const void* ctx, int part, int parts, float* scratch);

#ifdef CLIP4J_GEMM_X86
inline void cpu_relax() { _mm_pause(); }
#else
inline void cpu_relax() { std::this_thread::yield(); }
#endif

}  // namespace

// Persistent worker threads. One job at a time uses them (run_mu); a caller that finds them busy
// runs its job's parts one after another on its own thread, which gives the same bits.
struct clip4j_gemm_pool {
  int threads = 1;
  std::vector<std::thread> workers;
  std::vector<std::unique_ptr<Scratch>> scratch;  // one per worker (index 0 unused: the caller's own)
  std::mutex run_mu;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<bool> stop{false};
  int parts = 1;
  PartFn fn = nullptr;
  const void* ctx = nullptr;

  void worker(int id) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      if (g == seen) {
        // Spin briefly: the next kernel of a forward pass usually follows within microseconds.
        const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
        int spins = 0;
        while ((g = generation.load(std::memory_order_acquire)) == seen && !stop.load(std::memory_order_relaxed)) {
          cpu_relax();
          if (++spins == 256) {
            spins = 0;
            if (std::chrono::steady_clock::now() > until) break;
          }
        }
        if (g == seen) {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return stop.load() || generation.load() != seen; });
          g = generation.load(std::memory_order_acquire);
        }
      }
      if (stop.load(std::memory_order_acquire)) return;
      seen = g;
      if (id < parts) fn(ctx, id, parts, scratch[size_t(id)]->data);
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  // Runs parts [0, n_parts) of fn, n_parts <= threads; part 0 on the calling thread.
  void run(PartFn f, const void* c, int n_parts) {
    fn = f;
    ctx = c;
    parts = n_parts;
    pending.store(threads - 1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu);
      generation.fetch_add(1, std::memory_order_acq_rel);
    }
    cv.notify_all();
    f(c, 0, n_parts, caller_scratch());
    int spins = 0;
    while (pending.load(std::memory_order_acquire) != 0) {
      cpu_relax();
      if (++spins > 4096) std::this_thread::yield();
    }
  }

  ~clip4j_gemm_pool() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop.store(true, std::memory_order_release);
    }
    cv.notify_all();
    for (auto& t : workers) t.join();
  }
};

// A weight packed for one kernel family and element type; owns its 64-byte aligned memory.
struct clip4j_packed_weight {
  int32_t kernels = 0;  // CLIP4J_CPU_KERNELS_AVX2 or _AVX512
  int32_t dtype = 0;    // CLIP4J_DTYPE_F32 or _BF16
  int64_t n = 0, k = 0, bytes = 0;
  void* data = nullptr;
  clip4j_packed_weight() = default;
  clip4j_packed_weight(const clip4j_packed_weight&) = delete;
  clip4j_packed_weight& operator=(const clip4j_packed_weight&) = delete;
  ~clip4j_packed_weight() {
    if (data != nullptr) ::operator delete(data, std::align_val_t(64));
  }
};

namespace {

// Runs fn over `want` parts: on the pool when it is free and the work is large enough, else every
// part in order on the calling thread. The parts' results never depend on which.
void parallel(clip4j_gemm_pool* pool, int64_t work, int64_t max_parts, PartFn fn, const void* ctx) {
  int parts = 1;
  if (pool != nullptr && pool->threads > 1 && work >= kParallelWork) {
    parts = int(pool->threads < max_parts ? pool->threads : max_parts);
  }
  if (parts > 1) {
    std::unique_lock<std::mutex> lk(pool->run_mu, std::try_to_lock);
    if (lk.owns_lock()) {
      pool->run(fn, ctx, parts);
      return;
    }
  }
  for (int p = 0; p < parts; ++p) fn(ctx, p, parts, caller_scratch());
}

#ifdef CLIP4J_GEMM_X86

bool cpu_supported() { return clip4j::cpu_features().avx2; }

// ---- vector math (Cephes expf: about 1 ulp on [-87, 88]) -----------------------------------------

__attribute__((target("avx2,fma"))) inline __m256 exp_ps(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-88.3762626647949f);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

// x * sigmoid(1.702 x), as open_clip's QuickGELU (1.702 * x rounded to float first).
__attribute__((target("avx2,fma"))) inline __m256 quick_gelu_ps(__m256 x) {
  const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(1.702f));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), t))));
  return _mm256_mul_ps(x, s);
}

// 0.5 x (1 + erf(x / sqrt 2)), nn.GELU. erfc(|z|) by the Chebyshev fit of Numerical Recipes
// (erfcc: relative error < 1.2e-7 everywhere), so the negative tail has no cancellation:
// 1 + erf(z) = erfc(|z|) for z < 0 and 2 - erfc(|z|) otherwise.
__attribute__((target("avx2,fma"))) inline __m256 gelu_ps(__m256 x) {
  const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
  const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), a, one));
  __m256 p = _mm256_set1_ps(0.17087277f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.82215223f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.48851587f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.13520398f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.27886807f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.18628806f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.09678418f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.37409196f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.00002368f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.26551223f));
  const __m256 erfc = _mm256_mul_ps(t, exp_ps(_mm256_sub_ps(p, _mm256_mul_ps(a, a))));
  const __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 one_plus_erf = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc, neg);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), one_plus_erf);
}

// 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3): torch.gelu(approximate='tanh'), written as
// x / (1 + exp(-2u)) (the same function: 1 + tanh(u) = 2 sigmoid(2u)), which has neither the
// cancellation of 1 + tanh(u) in the negative tail nor that of tanh's 1 - 2/(e^2u + 1) near 0
// (there exp(-2u) is near 1, the sum near 2). Where -2u > 88 (u < -44, x < about -10.1; exp_ps
// clamps there) the result is x * 0: -0 as torch's fp32 gives it (and NaN for -inf, as torch).
__attribute__((target("avx2,fma"))) inline __m256 gelu_tanh_ps(__m256 x) {
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  const __m256 inner = _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, x);  // x + 0.044715 x^3
  const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.79788456080286536f), inner);  // sqrt(2/pi), as torch's fp32
  const __m256 t = _mm256_mul_ps(_mm256_set1_ps(-2.0f), u);
  const __m256 y = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), exp_ps(t)));
  const __m256 zero = _mm256_mul_ps(x, _mm256_setzero_ps());
  return _mm256_blendv_ps(y, zero, _mm256_cmp_ps(t, _mm256_set1_ps(88.0f), _CMP_GT_OQ));
}

__attribute__((target("avx2,fma"))) inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// ---- GEMM ----------------------------------------------------------------------------------------


// A[i0 .. i0+mc, p0 .. p0+kc] into micro-panels of kMR rows, k-major; rows past mc are zeros.
void pack_a(const GemmJob& j, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ip = 0; ip < mc; ip += kMR) {
    float* panel = dst + ip * kc;
    for (int64_t r = 0; r < kMR; ++r) {
      if (ip + r < mc) {
        const float* src = j.a + (i0 + ip + r) * j.lda + p0;
        for (int64_t p = 0; p < kc; ++p) panel[p * kMR + r] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) panel[p * kMR + r] = 0.0f;
      }
    }
  }
}

// Loads 24 floats of a row (nr valid, zeros after) into v[3].
__attribute__((target("avx2,fma"))) inline void load_row(const float* src, int64_t nr, __m256* v) {
  if (nr == kNR) {
    v[0] = _mm256_loadu_ps(src);
    v[1] = _mm256_loadu_ps(src + 8);
    v[2] = _mm256_loadu_ps(src + 16);
  } else {
    alignas(32) float t[kNR] = {0};
    for (int64_t q = 0; q < nr; ++q) t[q] = src[q];
    v[0] = _mm256_load_ps(t);
    v[1] = _mm256_load_ps(t + 8);
    v[2] = _mm256_load_ps(t + 16);
  }
}

__attribute__((target("avx2,fma"))) inline void store_row(float* dst, int64_t nr, const __m256* v) {
  if (nr == kNR) {
    _mm256_storeu_ps(dst, v[0]);
    _mm256_storeu_ps(dst + 8, v[1]);
    _mm256_storeu_ps(dst + 16, v[2]);
  } else {
    alignas(32) float t[kNR];
    _mm256_store_ps(t, v[0]);
    _mm256_store_ps(t + 8, v[1]);
    _mm256_store_ps(t + 16, v[2]);
    for (int64_t q = 0; q < nr; ++q) dst[q] = t[q];
  }
}

// One 4 x 24 tile over inner block [p0, p0 + kc): acc = A-panel @ B-panel; then
// s = acc (first block) or partial + acc; on the last block the epilogue
// v = act(s + bias) * colscale, out = v or out + v; otherwise partial = s.
// Every element goes through the same vector operations whether the tile is full or not.
__attribute__((target("avx2,fma"))) void kernel_4x24(const GemmJob& j, int64_t kc, const float* a, const float* b,
                                                     int64_t row, int64_t col, int64_t mr, int64_t nr, bool first,
                                                     bool last, const float* pf, const float* pf_end) {
  float* part = j.partial + row * j.ldp + col;
  if (!first) {
    for (int64_t i = 0; i < mr; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(part + i * j.ldp), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(part + i * j.ldp + 16), _MM_HINT_T0);
    }
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    // Each tile of a panel fetches its share of the next panel's block, a line per step
    // (the weights stream from memory at small batches).
    if (pf < pf_end) {
      _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T0);
      pf += 16;
    }
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    const __m256 b2 = _mm256_loadu_ps(b + 16);
    __m256 av = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    c02 = _mm256_fmadd_ps(av, b2, c02);
    av = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    c12 = _mm256_fmadd_ps(av, b2, c12);
    av = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    c22 = _mm256_fmadd_ps(av, b2, c22);
    av = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    c32 = _mm256_fmadd_ps(av, b2, c32);
    a += kMR;
    b += kNR;
  }
  __m256 c[kMR][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
  __m256 bias[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  __m256 scale[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  if (last) {
    if (j.bias != nullptr) load_row(j.bias + col, nr, bias);
    if (j.colscale != nullptr) load_row(j.colscale + col, nr, scale);
  }
  for (int64_t i = 0; i < mr; ++i) {
    __m256* v = c[i];
    if (!first) {
      __m256 prev[3];
      load_row(part + i * j.ldp, nr, prev);
      for (int q = 0; q < 3; ++q) v[q] = _mm256_add_ps(prev[q], v[q]);
    }
    if (!last) {
      store_row(part + i * j.ldp, nr, v);
      continue;
    }
    if (j.bias != nullptr) {
      for (int q = 0; q < 3; ++q) v[q] = _mm256_add_ps(v[q], bias[q]);
    }
    if (j.activation == CLIP4J_ACT_QUICK_GELU) {
      for (int q = 0; q < 3; ++q) v[q] = quick_gelu_ps(v[q]);
    } else if (j.activation == CLIP4J_ACT_GELU) {
      for (int q = 0; q < 3; ++q) v[q] = gelu_ps(v[q]);
    } else if (j.activation == CLIP4J_ACT_GELU_TANH) {
      for (int q = 0; q < 3; ++q) v[q] = gelu_tanh_ps(v[q]);
    }
    if (j.colscale != nullptr) {
      for (int q = 0; q < 3; ++q) v[q] = _mm256_mul_ps(v[q], scale[q]);
    }
    float* dst = j.out + (row + i) * j.ldo + col;
    if (j.accumulate) {
      __m256 prev[3];
      load_row(dst, nr, prev);
      for (int q = 0; q < 3; ++q) v[q] = _mm256_add_ps(prev[q], v[q]);
    }
    store_row(dst, nr, v);
  }
}

// Part `part` of `parts`: column panels [P*part/parts, P*(part+1)/parts), all rows.
void gemm_part(const void* ctx, int part, int parts, float* scratch) {
  const GemmJob& j = *static_cast<const GemmJob*>(ctx);
  const int64_t panels = panels_of(j.n);
  const int64_t p_begin = panels * part / parts, p_end = panels * (part + 1) / parts;
  if (p_begin >= p_end) return;
  for (int64_t p0 = 0; p0 < j.k; p0 += kKC) {
    const int64_t kc = j.k - p0 < kKC ? j.k - p0 : kKC;
    const bool first = p0 == 0;
    const bool last = p0 + kc == j.k;
    for (int64_t i0 = 0; i0 < j.m; i0 += kMC) {
      const int64_t mc = j.m - i0 < kMC ? j.m - i0 : kMC;
      pack_a(j, i0, mc, p0, kc, scratch);
      for (int64_t jp = p_begin; jp < p_end; ++jp) {
        const int64_t col = jp * kNR;
        const int64_t nr = j.n - col < kNR ? j.n - col : kNR;
        const float* bp = static_cast<const float*>(j.packed) + jp * kNR * j.k + p0 * kNR;
        const float* next = jp + 1 < p_end ? bp + kNR * j.k : bp;
        const int64_t tiles = (mc + kMR - 1) / kMR, lines = jp + 1 < p_end ? kc * kNR / 16 : 0;
        for (int64_t ip = 0; ip < mc; ip += kMR) {
          const int64_t mr = mc - ip < kMR ? mc - ip : kMR;
          const int64_t t = ip / kMR;
          kernel_4x24(j, kc, scratch + ip * kc, bp, i0 + ip, col, mr, nr, first, last,
                      next + lines * t / tiles * 16, next + lines * (t + 1) / tiles * 16);
        }
      }
    }
  }
}

// ---- LayerNorm -------------------------------------------------------------------------------------

struct NormJob {
  const float* x;
  int64_t m, n, ldx;
  const float* w;
  const float* b;
  float eps;
  float* y;
  int64_t ldy;
};

// Row sums in a fixed order, accumulated in double (4 lanes, then the lanes in order, then the tail).
__attribute__((target("avx2,fma"))) inline double hsum_pd(__m256d v) {
  alignas(32) double t[4];
  _mm256_store_pd(t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}

__attribute__((target("avx2,fma"))) inline double row_sum(const float* x, int64_t n) {
  __m256d acc = _mm256_setzero_pd();
  int64_t q = 0;
  for (; q + 4 <= n; q += 4) acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm_loadu_ps(x + q)));
  double sum = hsum_pd(acc);
  for (; q < n; ++q) sum += double(x[q]);
  return sum;
}

__attribute__((target("avx2,fma"))) inline double row_sq_sum(const float* x, int64_t n, double mean) {
  __m256d acc = _mm256_setzero_pd();
  const __m256d mu = _mm256_set1_pd(mean);
  int64_t q = 0;
  for (; q + 4 <= n; q += 4) {
    const __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + q)), mu);
    acc = _mm256_fmadd_pd(d, d, acc);
  }
  double sum = hsum_pd(acc);
  for (; q < n; ++q) sum += (double(x[q]) - mean) * (double(x[q]) - mean);
  return sum;
}

__attribute__((target("avx2,fma"))) void norm_part(const void* ctx, int part, int parts, float*) {
  const NormJob& j = *static_cast<const NormJob*>(ctx);
  const int64_t r0 = j.m * part / parts, r1 = j.m * (part + 1) / parts;
  for (int64_t r = r0; r < r1; ++r) {
    const float* x = j.x + r * j.ldx;
    float* y = j.y + r * j.ldy;
    // Two passes (mean, then the mean squared deviation): no cancellation for offset rows.
    const double mean_d = row_sum(x, j.n) / double(j.n);
    const double var = row_sq_sum(x, j.n, mean_d) / double(j.n);
    // The mean as a float pair (hi + lo): x - mean stays accurate for rows far from zero.
    const float mean = float(mean_d);
    const float mean_lo = float(mean_d - double(mean));
    const float rstd = float(1.0 / sqrt(var + double(j.eps)));
    const __m256 mu = _mm256_set1_ps(mean), mu_lo = _mm256_set1_ps(mean_lo), rs = _mm256_set1_ps(rstd);
    int64_t q = 0;
    for (; q + 8 <= j.n; q += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + q), mu), mu_lo);
      const __m256 h = _mm256_mul_ps(d, rs);
      _mm256_storeu_ps(y + q, _mm256_fmadd_ps(h, _mm256_loadu_ps(j.w + q), _mm256_loadu_ps(j.b + q)));
    }
    for (; q < j.n; ++q) y[q] = fmaf(((x[q] - mean) - mean_lo) * rstd, j.w[q], j.b[q]);
  }
}

// ---- attention ---------------------------------------------------------------------------------------

struct AttnJob {
  const float* qkv;  // [batch * seq, 3 * heads * dim]: q heads, then k heads, then v heads
  int64_t batch, seq, heads, dim;
  bool causal;
  float* out;  // [batch * seq, heads * dim]
};

// q . k over dim: 8-lane partial sums over the vector part in order, the lanes added by hsum_ps,
// then the tail. Every score goes through exactly this, however the keys are grouped below.
__attribute__((target("avx2,fma"))) inline float dot_tail(const float* q, const float* k, int64_t dv, int64_t dim,
                                                          __m256 acc) {
  float d = hsum_ps(acc);
  for (int64_t e = dv; e < dim; ++e) d = fmaf(q[e], k[e], d);
  return d;
}

// softmax(q k^T / sqrt(dim)) v for the (sample, head) pairs of this part, one query row at a time:
// scores (four keys at once, each its own chain), max, exp, sum, then the value rows weighted and
// summed in key order (eight output lanes at once), each element in one fixed order.
__attribute__((target("avx2,fma"))) void attn_part(const void* ctx, int part, int parts, float* scratch) {
  const AttnJob& j = *static_cast<const AttnJob*>(ctx);
  const int64_t pairs = j.batch * j.heads;
  const int64_t p0 = pairs * part / parts, p1 = pairs * (part + 1) / parts;
  const int64_t width = j.heads * j.dim, row_stride = 3 * width;
  const float scale = 1.0f / sqrtf(float(j.dim));
  const int64_t dv = j.dim / 8 * 8;
  float* s = scratch;                               // scores of one query, padded to a multiple of 8
  float* acc_buf = scratch + ((j.seq + 15) / 8 * 8);  // output accumulators when dim != 64
  for (int64_t pr = p0; pr < p1; ++pr) {
    const int64_t nb = pr / j.heads, h = pr % j.heads;
    const float* base = j.qkv + nb * j.seq * row_stride + h * j.dim;
    const float* kbase = base + width;
    const float* vbase = base + 2 * width;
    for (int64_t i = 0; i < j.seq; ++i) {
      const float* q = base + i * row_stride;
      const int64_t keys = j.causal ? i + 1 : j.seq;
      int64_t t = 0;
      for (; t + 4 <= keys; t += 4) {
        const float* k0 = kbase + t * row_stride;
        const float* k1 = k0 + row_stride;
        const float* k2 = k1 + row_stride;
        const float* k3 = k2 + row_stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int64_t e = 0; e < dv; e += 8) {
          const __m256 qv = _mm256_loadu_ps(q + e);
          a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + e), a0);
          a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + e), a1);
          a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + e), a2);
          a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + e), a3);
        }
        s[t] = dot_tail(q, k0, dv, j.dim, a0) * scale;
        s[t + 1] = dot_tail(q, k1, dv, j.dim, a1) * scale;
        s[t + 2] = dot_tail(q, k2, dv, j.dim, a2) * scale;
        s[t + 3] = dot_tail(q, k3, dv, j.dim, a3) * scale;
      }
      for (; t < keys; ++t) {
        const float* k0 = kbase + t * row_stride;
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t e = 0; e < dv; e += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + e), _mm256_loadu_ps(k0 + e), a0);
        s[t] = dot_tail(q, k0, dv, j.dim, a0) * scale;
      }
      float mx = s[0];
      for (int64_t u = 1; u < keys; ++u) mx = s[u] > mx ? s[u] : mx;
      const int64_t padded = (keys + 7) / 8 * 8;
      for (int64_t u = keys; u < padded; ++u) s[u] = -INFINITY;
      __m256 sum8 = _mm256_setzero_ps();
      const __m256 mx8 = _mm256_set1_ps(mx);
      for (int64_t u = 0; u < padded; u += 8) {
        const __m256 sv = _mm256_loadu_ps(s + u);
        // exp_ps clamps its input, so the -inf padding is masked to 0 explicitly.
        const __m256 valid = _mm256_cmp_ps(sv, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ);
        const __m256 pv = _mm256_and_ps(exp_ps(_mm256_sub_ps(sv, mx8)), valid);
        _mm256_storeu_ps(s + u, pv);
        sum8 = _mm256_add_ps(sum8, pv);
      }
      const __m256 inv = _mm256_set1_ps(1.0f / hsum_ps(sum8));
      float* o = j.out + (nb * j.seq + i) * width + h * j.dim;
      if (j.dim == 64) {
        __m256 o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps(), o2 = _mm256_setzero_ps(), o3 = _mm256_setzero_ps();
        __m256 o4 = _mm256_setzero_ps(), o5 = _mm256_setzero_ps(), o6 = _mm256_setzero_ps(), o7 = _mm256_setzero_ps();
        for (int64_t u = 0; u < keys; ++u) {
          const float* v = vbase + u * row_stride;
          const __m256 pu = _mm256_set1_ps(s[u]);
          o0 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v), o0);
          o1 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 8), o1);
          o2 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 16), o2);
          o3 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 24), o3);
          o4 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 32), o4);
          o5 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 40), o5);
          o6 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 48), o6);
          o7 = _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + 56), o7);
        }
        _mm256_storeu_ps(o, _mm256_mul_ps(o0, inv));
        _mm256_storeu_ps(o + 8, _mm256_mul_ps(o1, inv));
        _mm256_storeu_ps(o + 16, _mm256_mul_ps(o2, inv));
        _mm256_storeu_ps(o + 24, _mm256_mul_ps(o3, inv));
        _mm256_storeu_ps(o + 32, _mm256_mul_ps(o4, inv));
        _mm256_storeu_ps(o + 40, _mm256_mul_ps(o5, inv));
        _mm256_storeu_ps(o + 48, _mm256_mul_ps(o6, inv));
        _mm256_storeu_ps(o + 56, _mm256_mul_ps(o7, inv));
      } else {
        for (int64_t e = 0; e < j.dim; ++e) acc_buf[e] = 0.0f;
        for (int64_t u = 0; u < keys; ++u) {
          const float* v = vbase + u * row_stride;
          const __m256 pu = _mm256_set1_ps(s[u]);
          int64_t e = 0;
          for (; e < dv; e += 8) {
            _mm256_storeu_ps(acc_buf + e, _mm256_fmadd_ps(pu, _mm256_loadu_ps(v + e), _mm256_loadu_ps(acc_buf + e)));
          }
          for (; e < j.dim; ++e) acc_buf[e] = fmaf(s[u], v[e], acc_buf[e]);
        }
        const float invs = _mm256_cvtss_f32(inv);
        int64_t e = 0;
        for (; e < dv; e += 8) _mm256_storeu_ps(o + e, _mm256_mul_ps(_mm256_loadu_ps(acc_buf + e), inv));
        for (; e < j.dim; ++e) o[e] = acc_buf[e] * invs;
      }
    }
  }
}

#else  // not x86-64: the entry points report UNSUPPORTED

bool cpu_supported() { return false; }

#endif

clip4j_status unsupported() {
  return clip4j::fail(CLIP4J_ERR_UNSUPPORTED, "clip4j's packed CPU kernels need an x86-64 CPU with AVX2 and FMA");
}

std::string str(int64_t v) { return std::to_string(v); }

// OK when `kernels` (AVX2 or AVX512) runs weights of `dtype` here; else UNSUPPORTED naming what is missing.
clip4j_status check_family(int32_t kernels, int32_t dtype) {
  const clip4j::CpuFeatures& f = clip4j::cpu_features();
  if (dtype == CLIP4J_DTYPE_BF16) {
    if (kernels == CLIP4J_CPU_KERNELS_AVX2)
      return clip4j::fail(CLIP4J_ERR_UNSUPPORTED,
                          "clip4j's bf16 CPU kernels are AVX-512 kernels (vdpbf16ps); the AVX2 family runs fp32 only");
    if (!f.avx512_bf16)
      return clip4j::fail(CLIP4J_ERR_UNSUPPORTED, "clip4j's bf16 CPU kernels need AVX-512 with AVX512_BF16; this CPU "
                                                  "lacks " + f.missing_avx512_bf16);
    return clip4j::ok();
  }
  if (kernels == CLIP4J_CPU_KERNELS_AVX2 && !f.avx2)
    return clip4j::fail(CLIP4J_ERR_UNSUPPORTED,
                        "clip4j's avx2 CPU kernels need AVX2 and FMA; this CPU lacks " + f.missing_avx2);
  if (kernels == CLIP4J_CPU_KERNELS_AVX512 && !f.avx512)
    return clip4j::fail(CLIP4J_ERR_UNSUPPORTED, "clip4j's avx512 CPU kernels need AVX-512 F, DQ, BW and VL; this CPU "
                                                "lacks " + f.missing_avx512);
  return clip4j::ok();
}

// The GEMM on a packed weight of a checked family and dtype (packed and n, k already validated).
clip4j_status run_gemm(clip4j_gemm_pool* pool, int32_t kernels, int32_t dtype, const void* packed, const float* a,
                       int64_t m, int64_t k, int64_t lda, int64_t n, const float* bias, int32_t activation,
                       const float* colscale, int32_t accumulate, float* partial, int64_t ldp, float* c, int64_t ldc) {
  if (m < 0 || m > kMaxRows) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "m must be in [0, 2^31], got " + str(m));
  if (lda < k) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "lda must be >= k");
  if (ldc < n) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "ldc must be >= n");
  if (activation != CLIP4J_ACT_IDENTITY && activation != CLIP4J_ACT_QUICK_GELU && activation != CLIP4J_ACT_GELU &&
      activation != CLIP4J_ACT_GELU_TANH)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "the GEMM's activation must be IDENTITY, QUICK_GELU, GELU or "
                                                     "GELU_TANH, got " + str(activation));
  if (accumulate != 0 && accumulate != 1)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "accumulate must be 0 or 1, got " + str(accumulate));
  const bool blocks = k > kKC;
  if (blocks && accumulate == 1) {
    if (partial == nullptr)
      return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "accumulating with k > 192 needs a partial buffer [m, ldp]");
    if (ldp < n) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "ldp must be >= n");
  }
  clip4j_status st = check_family(kernels, dtype);
  if (st != CLIP4J_OK) return st;
  if (m == 0) return clip4j::ok();
  if (a == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "a is NULL");
  if (c == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "c is NULL");
#ifdef CLIP4J_GEMM_X86
  GemmJob job{a, m, k, lda, packed, n, bias, colscale, activation, accumulate == 1, nullptr, 0, c, ldc};
  // Without a residual to keep, the partial sums live in the output itself.
  job.partial = accumulate == 1 && blocks ? partial : c;
  job.ldp = accumulate == 1 && blocks ? ldp : ldc;
  if (kernels == CLIP4J_CPU_KERNELS_AVX2) {
    parallel(pool, m * n * k / 16, panels_of(n), gemm_part, &job);
  } else {
    const int64_t panels = (n + clip4j::gemm::kNR_AVX512 - 1) / clip4j::gemm::kNR_AVX512;
    parallel(pool, m * n * k / 16, panels,
             dtype == CLIP4J_DTYPE_BF16 ? clip4j::gemm::part_avx512_bf16 : clip4j::gemm::part_avx512_f32, &job);
  }
  return clip4j::ok();
#else
  return unsupported();
#endif
}

}  // namespace

extern "C" {

clip4j_status clip4j_gemm_supported(int32_t* supported) {
  CLIP4J_API_GUARD_BEGIN
  if (supported == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "supported is NULL");
  *supported = cpu_supported() ? 1 : 0;
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_packed_size(int64_t n, int64_t k, int64_t* floats) {
  CLIP4J_API_GUARD_BEGIN
  if (floats == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "floats is NULL");
  if (n < 1 || n > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "n must be in [1, 2^24], got " + str(n));
  if (k < 1 || k > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "k must be in [1, 2^24], got " + str(k));
  *floats = panels_of(n) * kNR * k;
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_pack_f32(const float* w, int64_t n, int64_t k, float* packed, int64_t packed_len) {
  CLIP4J_API_GUARD_BEGIN
  int64_t need = 0;
  clip4j_status st = clip4j_gemm_packed_size(n, k, &need);
  if (st != CLIP4J_OK) return st;
  if (w == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "w is NULL");
  if (packed == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed is NULL");
  if (packed_len != need)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed_len must be " + str(need) + " floats for n=" + str(n) +
                                                         " k=" + str(k) + ", got " + str(packed_len));
  for (int64_t jp = 0; jp < panels_of(n); ++jp) {
    float* panel = packed + jp * kNR * k;
    for (int64_t jj = 0; jj < kNR; ++jj) {
      const int64_t col = jp * kNR + jj;
      if (col < n) {
        const float* src = w + col * k;
        for (int64_t p = 0; p < k; ++p) panel[p * kNR + jj] = src[p];
      } else {
        for (int64_t p = 0; p < k; ++p) panel[p * kNR + jj] = 0.0f;
      }
    }
  }
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_pool_create(int32_t threads, clip4j_gemm_pool** pool) {
  CLIP4J_API_GUARD_BEGIN
  if (pool == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "pool is NULL");
  *pool = nullptr;
  if (threads < 1 || threads > kMaxThreads)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "threads must be in [1, 256], got " + str(threads));
  std::unique_ptr<clip4j_gemm_pool> p(new clip4j_gemm_pool());
  p->threads = threads;
  p->scratch.resize(size_t(threads));
  for (int t = 1; t < threads; ++t) p->scratch[size_t(t)].reset(new Scratch());
  try {
    for (int t = 1; t < threads; ++t) p->workers.emplace_back([raw = p.get(), t] { raw->worker(t); });
  } catch (const std::system_error& e) {
    return clip4j::fail(CLIP4J_ERR_OUT_OF_MEMORY, std::string("could not start worker threads: ") + e.what());
  }
  *pool = p.release();
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_pool_destroy(clip4j_gemm_pool* pool) {
  CLIP4J_API_GUARD_BEGIN
  delete pool;
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_ex_f32(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t k, int64_t lda,
                                 const float* packed, int64_t packed_len, int64_t n, const float* bias,
                                 int32_t activation, const float* colscale, int32_t accumulate, float* partial,
                                 int64_t ldp, float* c, int64_t ldc) {
  CLIP4J_API_GUARD_BEGIN
  if (!cpu_supported()) return unsupported();
  int64_t need = 0;
  clip4j_status st = clip4j_gemm_packed_size(n, k, &need);
  if (st != CLIP4J_OK) return st;
  if (packed == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed is NULL");
  if (packed_len != need)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed_len must be " + str(need) + ", got " + str(packed_len));
  return run_gemm(pool, CLIP4J_CPU_KERNELS_AVX2, CLIP4J_DTYPE_F32, packed, a, m, k, lda, n, bias, activation, colscale,
                  accumulate, partial, ldp, c, ldc);
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_f32(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t k, int64_t lda,
                              const float* packed, int64_t packed_len, int64_t n, const float* bias, float* c,
                              int64_t ldc) {
  return clip4j_gemm_ex_f32(pool, a, m, k, lda, packed, packed_len, n, bias, CLIP4J_ACT_IDENTITY, nullptr, 0,
                            nullptr, 0, c, ldc);
}

clip4j_status clip4j_cpu_kernels_resolve(int32_t requested, int32_t dtype, int32_t* kernels) {
  CLIP4J_API_GUARD_BEGIN
  if (kernels == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "kernels is NULL");
  *kernels = CLIP4J_CPU_KERNELS_AUTO;
  if (dtype != CLIP4J_DTYPE_F32 && dtype != CLIP4J_DTYPE_BF16)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "dtype must be F32 or BF16, got " + str(dtype));
  int32_t family = requested;
  if (requested == CLIP4J_CPU_KERNELS_AUTO) {
    const clip4j::CpuFeatures& f = clip4j::cpu_features();
    family = dtype == CLIP4J_DTYPE_BF16 || f.avx512 ? CLIP4J_CPU_KERNELS_AVX512 : CLIP4J_CPU_KERNELS_AVX2;
  } else if (requested != CLIP4J_CPU_KERNELS_AVX2 && requested != CLIP4J_CPU_KERNELS_AVX512) {
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "kernels must be AUTO, AVX2 or AVX512, got " + str(requested));
  }
  clip4j_status st = check_family(family, dtype);
  if (st != CLIP4J_OK) return st;
  *kernels = family;
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_packed_weight_create(const float* w, int64_t n, int64_t k, int32_t kernels, int32_t dtype,
                                          clip4j_packed_weight** weight) {
  CLIP4J_API_GUARD_BEGIN
  if (weight == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "weight is NULL");
  *weight = nullptr;
  if (n < 1 || n > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "n must be in [1, 2^24], got " + str(n));
  if (k < 1 || k > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "k must be in [1, 2^24], got " + str(k));
  if (w == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "w is NULL");
  int32_t family = 0;
  clip4j_status st = clip4j_cpu_kernels_resolve(kernels, dtype, &family);
  if (st != CLIP4J_OK) return st;
  std::unique_ptr<clip4j_packed_weight> p(new clip4j_packed_weight());
  p->kernels = family;
  p->dtype = dtype;
  p->n = n;
  p->k = k;
  if (family == CLIP4J_CPU_KERNELS_AVX2) {
    p->bytes = panels_of(n) * kNR * k * 4;
  } else if (dtype == CLIP4J_DTYPE_BF16) {
    p->bytes = clip4j::gemm::packed_bytes_avx512_bf16(n, k);
  } else {
    p->bytes = clip4j::gemm::packed_bytes_avx512_f32(n, k);
  }
  p->data = ::operator new(size_t(p->bytes), std::align_val_t(64));
  if (family == CLIP4J_CPU_KERNELS_AVX2) {
    st = clip4j_gemm_pack_f32(w, n, k, static_cast<float*>(p->data), p->bytes / 4);
    if (st != CLIP4J_OK) return st;
  } else if (dtype == CLIP4J_DTYPE_BF16) {
    clip4j::gemm::pack_avx512_bf16(w, n, k, static_cast<uint16_t*>(p->data));
  } else {
    clip4j::gemm::pack_avx512_f32(w, n, k, static_cast<float*>(p->data));
  }
  *weight = p.release();
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_packed_weight_destroy(clip4j_packed_weight* weight) {
  CLIP4J_API_GUARD_BEGIN
  delete weight;
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_packed_weight_describe(const clip4j_packed_weight* weight, int64_t* n, int64_t* k,
                                            int32_t* kernels, int32_t* dtype, int64_t* bytes) {
  CLIP4J_API_GUARD_BEGIN
  if (weight == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "weight is NULL");
  if (n != nullptr) *n = weight->n;
  if (k != nullptr) *k = weight->k;
  if (kernels != nullptr) *kernels = weight->kernels;
  if (dtype != nullptr) *dtype = weight->dtype;
  if (bytes != nullptr) *bytes = weight->bytes;
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_gemm_packed(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t lda,
                                 const clip4j_packed_weight* weight, const float* bias, int32_t activation,
                                 const float* colscale, int32_t accumulate, float* partial, int64_t ldp, float* c,
                                 int64_t ldc) {
  CLIP4J_API_GUARD_BEGIN
  if (weight == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "weight is NULL");
  return run_gemm(pool, weight->kernels, weight->dtype, weight->data, a, m, weight->k, lda, weight->n, bias,
                  activation, colscale, accumulate, partial, ldp, c, ldc);
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_layer_norm_f32(clip4j_gemm_pool* pool, const float* x, int64_t m, int64_t n, int64_t ldx,
                                    const float* w, const float* b, float eps, float* y, int64_t ldy) {
  CLIP4J_API_GUARD_BEGIN
  if (!cpu_supported()) return unsupported();
#ifdef CLIP4J_GEMM_X86
  if (m < 0 || m > kMaxRows) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "m must be in [0, 2^31], got " + str(m));
  if (n < 1 || n > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "n must be in [1, 2^24], got " + str(n));
  if (ldx < n || ldy < n) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "ldx and ldy must be >= n");
  if (!(eps > 0.0f) || !isfinite(eps)) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "eps must be finite and > 0");
  if (w == nullptr || b == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "w and b must not be NULL");
  if (m == 0) return clip4j::ok();
  if (x == nullptr || y == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "x and y must not be NULL");
  const NormJob job{x, m, n, ldx, w, b, eps, y, ldy};
  parallel(pool, m * n * 4, m, norm_part, &job);
  return clip4j::ok();
#endif
  CLIP4J_API_GUARD_END
}

clip4j_status clip4j_attention_f32(clip4j_gemm_pool* pool, const float* qkv, int64_t batch, int64_t seq,
                                   int64_t heads, int64_t head_dim, int32_t causal, float* out) {
  CLIP4J_API_GUARD_BEGIN
  if (!cpu_supported()) return unsupported();
#ifdef CLIP4J_GEMM_X86
  if (batch < 0 || batch > kMaxRows) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "batch must be in [0, 2^31]");
  if (seq < 1 || seq > 8192) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "seq must be in [1, 8192], got " + str(seq));
  if (heads < 1 || head_dim < 1 || head_dim > 8192 || heads * head_dim > kMaxDim)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT,
                        "heads >= 1 and head_dim in [1, 8192] with heads * head_dim <= 2^24 are required");
  if (causal != 0 && causal != 1) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "causal must be 0 or 1");
  if (batch * seq > kMaxRows) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "batch * seq must be <= 2^31");
  if (batch == 0) return clip4j::ok();
  if (qkv == nullptr || out == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "qkv and out must not be NULL");
  const AttnJob job{qkv, batch, seq, heads, head_dim, causal == 1, out};
  parallel(pool, batch * heads * seq * seq * head_dim / 8, batch * heads, attn_part, &job);
  return clip4j::ok();
#endif
  CLIP4J_API_GUARD_END
}

}  // extern "C"
