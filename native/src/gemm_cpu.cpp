// Batch-invariant fp32 GEMM over pre-packed weights:  C[m, n] = A[m, k] @ W[n, k]^T (+ bias[n]).
//
// Why clip4j has its own: LibTorch's linear hands the whole batch to the BLAS, whose blocking (and
// so the rounding of every output) depends on the number of rows; one GEMM per sample keeps each
// sample bitwise independent of its batch but repacks the weights for every sample, which costs
// about half the speed on ViT shapes. Here the weights are packed once, when a model is loaded,
// and every output element is summed in one fixed order that depends on k only:
//
//     for each block of KC = 192 inner indices, in order:   acc = sum of a*w by sequential FMA,
//                                                            from 0.0f
//     c = acc(block 0);  c = c + acc(block 1);  ...;  c = c + bias
//
// Row tiles that are only partly filled run the same micro-kernel on zero-padded rows, and the
// worker threads split the columns, so neither the number of rows, a row's position, nor the
// thread count can change a single bit of a row's result.
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
#include "errors.h"

namespace {

constexpr int64_t kMR = 4;    // rows of a micro-tile
constexpr int64_t kNR = 24;   // columns of a micro-tile and of a packed weight panel
constexpr int64_t kKC = 192;  // inner block: part of the summation-order contract, never tuned per call
constexpr int64_t kMC = 120;  // rows of A packed at once (a multiple of kMR; 92 KB with kKC, for L2)
constexpr int64_t kMaxDim = int64_t(1) << 24;
constexpr int64_t kMaxRows = int64_t(1) << 31;
// Below this many multiply-adds a call runs on the calling thread alone (same results either way).
constexpr int64_t kParallelMacs = int64_t(1) << 21;
constexpr int kMaxThreads = 256;

int64_t panels_of(int64_t n) { return (n + kNR - 1) / kNR; }

struct Job {
  const float* a;
  int64_t m, k, lda;
  const float* packed;
  int64_t n;
  const float* bias;
  float* c;
  int64_t ldc;
};

// One thread's scratch for a packed block of A, 64-byte aligned.
struct Scratch {
  float* data = nullptr;
  Scratch() {
    data = static_cast<float*>(::operator new(sizeof(float) * kMC * kKC, std::align_val_t(64)));
  }
  ~Scratch() { ::operator delete(data, std::align_val_t(64)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

#ifdef CLIP4J_GEMM_X86

bool cpu_supported() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}

// A[i0 .. i0+mc, p0 .. p0+kc] into micro-panels of kMR rows, k-major; rows past m are zeros.
void pack_a(const Job& j, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ip = 0; ip < mc; ip += kMR) {
    float* panel = dst + ip * kc;
    for (int64_t r = 0; r < kMR; ++r) {
      const int64_t row = i0 + ip + r;
      if (ip + r < mc) {
        const float* src = j.a + row * j.lda + p0;
        for (int64_t p = 0; p < kc; ++p) panel[p * kMR + r] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) panel[p * kMR + r] = 0.0f;
      }
    }
  }
}

// One 4 x 24 tile: acc = A-panel @ B-panel over kc; then c = acc (first block) or c + acc, then
// + bias on the last block. Only the mr x nr valid part of the tile is written.
__attribute__((target("avx2,fma"))) void kernel_4x24(int64_t kc, const float* a, const float* b, float* c,
                                                     int64_t ldc, int64_t mr, int64_t nr, bool first,
                                                     const float* bias) {
  if (!first) {
    // The tile's previous partial sums are needed at the end: start fetching them now.
    for (int64_t i = 0; i < mr; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
    }
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c02 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(), c12 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c22 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c32 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
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
  alignas(32) float t[kMR * kNR];
  _mm256_store_ps(t + 0, c00);
  _mm256_store_ps(t + 8, c01);
  _mm256_store_ps(t + 16, c02);
  _mm256_store_ps(t + 24, c10);
  _mm256_store_ps(t + 32, c11);
  _mm256_store_ps(t + 40, c12);
  _mm256_store_ps(t + 48, c20);
  _mm256_store_ps(t + 56, c21);
  _mm256_store_ps(t + 64, c22);
  _mm256_store_ps(t + 72, c30);
  _mm256_store_ps(t + 80, c31);
  _mm256_store_ps(t + 88, c32);
  if (mr == kMR && nr == kNR) {
    for (int64_t i = 0; i < kMR; ++i) {
      float* row = c + i * ldc;
      for (int64_t v = 0; v < kNR; v += 8) {
        __m256 x = _mm256_load_ps(t + i * kNR + v);
        if (!first) x = _mm256_add_ps(_mm256_loadu_ps(row + v), x);
        if (bias != nullptr) x = _mm256_add_ps(x, _mm256_loadu_ps(bias + v));
        _mm256_storeu_ps(row + v, x);
      }
    }
  } else {
    // The same two IEEE additions per element as the vector path, one element at a time.
    for (int64_t i = 0; i < mr; ++i) {
      float* row = c + i * ldc;
      for (int64_t jj = 0; jj < nr; ++jj) {
        float x = t[i * kNR + jj];
        if (!first) x = row[jj] + x;
        if (bias != nullptr) x = x + bias[jj];
        row[jj] = x;
      }
    }
  }
}

// Columns panels [p_begin, p_end) of the job, all rows.
void run_part(const Job& j, int64_t p_begin, int64_t p_end, float* scratch) {
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
        const float* bp = j.packed + jp * kNR * j.k + p0 * kNR;
        const float* bias = (last && j.bias != nullptr) ? j.bias + col : nullptr;
        for (int64_t ip = 0; ip < mc; ip += kMR) {
          const int64_t mr = mc - ip < kMR ? mc - ip : kMR;
          kernel_4x24(kc, scratch + ip * kc, bp, j.c + (i0 + ip) * j.ldc + col, j.ldc, mr, nr, first, bias);
        }
      }
    }
  }
}

inline void cpu_relax() { _mm_pause(); }

#else  // not x86-64: the entry points report UNSUPPORTED

bool cpu_supported() { return false; }
void run_part(const Job&, int64_t, int64_t, float*) {}
inline void cpu_relax() { std::this_thread::yield(); }

#endif

// Part t of T covers column panels [t*P/T, (t+1)*P/T).
int64_t part_begin(int64_t panels, int t, int parts) { return panels * t / parts; }

thread_local std::unique_ptr<Scratch> tls_scratch;

float* caller_scratch() {
  if (!tls_scratch) tls_scratch.reset(new Scratch());
  return tls_scratch->data;
}

}  // namespace

// Persistent worker threads. One GEMM at a time uses them (run_mu); a caller that finds them busy
// computes its GEMM alone on its own thread, which gives the same bits.
struct clip4j_gemm_pool {
  int threads = 1;
  std::vector<std::thread> workers;
  std::vector<std::unique_ptr<Scratch>> scratch;  // one per worker (index 0 unused)
  std::mutex run_mu;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<bool> stop{false};
  int parts = 1;
  const Job* job = nullptr;

  void worker(int id) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t g = generation.load(std::memory_order_acquire);
      if (g == seen) {
        // Spin briefly: the next GEMM of a forward pass usually follows within microseconds.
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
      const Job& j = *job;
      if (id < parts) {
        const int64_t panels = panels_of(j.n);
        run_part(j, part_begin(panels, id, parts), part_begin(panels, id + 1, parts), scratch[id]->data);
      }
      pending.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  // Runs `j` split over `n_parts` <= threads parts; part 0 on the calling thread.
  void run(const Job& j, int n_parts) {
    job = &j;
    parts = n_parts;
    pending.store(threads - 1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu);
      generation.fetch_add(1, std::memory_order_acq_rel);
    }
    cv.notify_all();
    const int64_t panels = panels_of(j.n);
    run_part(j, 0, part_begin(panels, 1, n_parts), caller_scratch());
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
  if (n < 1 || n > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "n must be in [1, 2^24], got " + std::to_string(n));
  if (k < 1 || k > kMaxDim) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "k must be in [1, 2^24], got " + std::to_string(k));
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
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed_len must be " + std::to_string(need) + " floats for n=" +
                                                         std::to_string(n) + " k=" + std::to_string(k) + ", got " +
                                                         std::to_string(packed_len));
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
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "threads must be in [1, 256], got " + std::to_string(threads));
  std::unique_ptr<clip4j_gemm_pool> p(new clip4j_gemm_pool());
  p->threads = threads;
  p->scratch.resize(size_t(threads));
  for (int t = 1; t < threads; ++t) p->scratch[size_t(t)].reset(new Scratch());
  try {
    for (int t = 1; t < threads; ++t) p->workers.emplace_back([raw = p.get(), t] { raw->worker(t); });
  } catch (const std::system_error& e) {
    return clip4j::fail(CLIP4J_ERR_OUT_OF_MEMORY, std::string("could not start GEMM worker threads: ") + e.what());
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

clip4j_status clip4j_gemm_f32(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t k, int64_t lda,
                              const float* packed, int64_t packed_len, int64_t n, const float* bias, float* c,
                              int64_t ldc) {
  CLIP4J_API_GUARD_BEGIN
  if (!cpu_supported())
    return clip4j::fail(CLIP4J_ERR_UNSUPPORTED, "clip4j's packed GEMM needs an x86-64 CPU with AVX2 and FMA");
  int64_t need = 0;
  clip4j_status st = clip4j_gemm_packed_size(n, k, &need);
  if (st != CLIP4J_OK) return st;
  if (m < 0 || m > kMaxRows) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "m must be in [0, 2^31], got " + std::to_string(m));
  if (lda < k) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "lda must be >= k");
  if (ldc < n) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "ldc must be >= n");
  if (packed == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed is NULL");
  if (packed_len != need)
    return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "packed_len must be " + std::to_string(need) + ", got " +
                                                         std::to_string(packed_len));
  if (m == 0) return clip4j::ok();
  if (a == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "a is NULL");
  if (c == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "c is NULL");
  const Job job{a, m, k, lda, packed, n, bias, c, ldc};
  const int64_t panels = panels_of(n);
  int parts = 1;
  if (pool != nullptr && pool->threads > 1 && m * n * k >= kParallelMacs) {
    parts = pool->threads < panels ? pool->threads : int(panels);
  }
  if (parts > 1) {
    std::unique_lock<std::mutex> lk(pool->run_mu, std::try_to_lock);
    if (lk.owns_lock()) {
      pool->run(job, parts);
      return clip4j::ok();
    }
  }
  run_part(job, 0, panels, caller_scratch());
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}

}  // extern "C"
