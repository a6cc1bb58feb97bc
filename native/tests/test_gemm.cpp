// Tests of clip4j_gemm_*: values against a double-precision reference, bitwise batch invariance
// (a row's result does not depend on m, on its position, on the thread count or on concurrent
// callers), argument validation. `clip4j_gemm_test bench` times ViT-B/32 shapes instead.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clip4j/clip4j.h"

static int failures = 0;
#define CHECK(cond, ...)                        \
  do {                                          \
    if (!(cond)) {                              \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);             \
      fprintf(stderr, "\n");                    \
      ++failures;                               \
    }                                           \
  } while (0)

struct Packed {
  std::vector<float> data;
  int64_t n, k;
  Packed(const std::vector<float>& w, int64_t n_, int64_t k_) : n(n_), k(k_) {
    int64_t len = 0;
    if (clip4j_gemm_packed_size(n, k, &len) != CLIP4J_OK) abort();
    data.resize(size_t(len));
    if (clip4j_gemm_pack_f32(w.data(), n, k, data.data(), len) != CLIP4J_OK) abort();
  }
};

static std::vector<float> random_vec(size_t len, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(len);
  for (auto& x : v) x = d(rng);
  return v;
}

static clip4j_status gemm(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t lda, const Packed& p,
                          const float* bias, float* c, int64_t ldc) {
  return clip4j_gemm_f32(pool, a, m, p.k, lda, p.data.data(), int64_t(p.data.size()), p.n, bias, c, ldc);
}

static void test_values(clip4j_gemm_pool* pool) {
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {50, 768, 768}, {17, 2304, 768}, {9, 768, 3072},
                               {5, 25, 193}, {130, 49, 385}, {4, 24, 192}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    const int64_t lda = k + 3, ldc = n + 5;  // strided rows
    auto a = random_vec(size_t(m * lda), 1, 1.0f);
    auto w = random_vec(size_t(n * k), 2, 0.05f);
    auto bias = random_vec(size_t(n), 3, 0.1f);
    Packed p(w, n, k);
    std::vector<float> c(size_t(m * ldc), 12345.0f);
    CHECK(gemm(pool, a.data(), m, lda, p, bias.data(), c.data(), ldc) == CLIP4J_OK, "%s", clip4j_last_error());
    double worst = 0;
    bool padding_kept = true;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double ref = bias[size_t(j)];
        double mag = fabs(ref);
        for (int64_t q = 0; q < k; ++q) {
          ref += double(a[size_t(i * lda + q)]) * double(w[size_t(j * k + q)]);
          mag += fabs(double(a[size_t(i * lda + q)]) * double(w[size_t(j * k + q)]));
        }
        double err = fabs(double(c[size_t(i * ldc + j)]) - ref) / (mag + 1e-30);
        if (err > worst) worst = err;
      }
      for (int64_t j = n; j < ldc; ++j) padding_kept &= c[size_t(i * ldc + j)] == 12345.0f;
    }
    // fp32 accumulation: relative to the sum of magnitudes, within a few k * 2^-24.
    CHECK(worst < 4e-7 * sqrt(double(k)) + 1e-7, "m=%ld n=%ld k=%ld: relative error %.3g", long(m), long(n), long(k),
          worst);
    CHECK(padding_kept, "m=%ld n=%ld k=%ld: wrote past n in a row", long(m), long(n), long(k));
  }
  // No bias.
  {
    auto a = random_vec(2 * 3, 4, 1.0f);
    auto w = random_vec(5 * 3, 5, 1.0f);
    Packed p(w, 5, 3);
    std::vector<float> c(2 * 5);
    CHECK(gemm(pool, a.data(), 2, 3, p, nullptr, c.data(), 5) == CLIP4J_OK, "%s", clip4j_last_error());
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 5; ++j) {
        double ref = 0;
        for (int q = 0; q < 3; ++q) ref += double(a[size_t(i * 3 + q)]) * w[size_t(j * 3 + q)];
        CHECK(fabs(c[size_t(i * 5 + j)] - ref) < 1e-5, "no bias: %g vs %g", c[size_t(i * 5 + j)], ref);
      }
  }
}

// Every row of a batch of m rows equals, bit for bit, the same row computed alone, in other
// batches, at other offsets, with 1, 2 or 3 threads, and while another thread holds the pool.
static void test_invariance() {
  const int64_t n = 2304 + 7, k = 768 + 100, rows = 203;
  auto a = random_vec(size_t(rows * k), 6, 1.0f);
  auto w = random_vec(size_t(n * k), 7, 0.05f);
  auto bias = random_vec(size_t(n), 8, 0.1f);
  Packed p(w, n, k);
  std::vector<float> alone(size_t(rows * n));
  for (int64_t i = 0; i < rows; ++i) {
    CHECK(gemm(nullptr, a.data() + i * k, 1, k, p, bias.data(), alone.data() + i * n, n) == CLIP4J_OK, "%s",
          clip4j_last_error());
  }
  for (int threads = 1; threads <= 3; ++threads) {
    clip4j_gemm_pool* pool = nullptr;
    CHECK(clip4j_gemm_pool_create(threads, &pool) == CLIP4J_OK, "%s", clip4j_last_error());
    const int64_t batches[][2] = {{0, 203}, {0, 50}, {3, 50}, {1, 7}, {121, 82}, {5, 121}, {60, 143}};
    for (const auto& b : batches) {
      const int64_t off = b[0], m = b[1];
      std::vector<float> c(size_t(m * n));
      CHECK(gemm(pool, a.data() + off * k, m, k, p, bias.data(), c.data(), n) == CLIP4J_OK, "%s",
            clip4j_last_error());
      CHECK(memcmp(c.data(), alone.data() + off * n, sizeof(float) * size_t(m * n)) == 0,
            "threads=%d rows [%ld, %ld): not bitwise equal to the rows computed alone", threads, long(off),
            long(off + m));
    }
    // Concurrent callers: results identical whoever gets the workers.
    std::vector<std::vector<float>> outs(4, std::vector<float>(size_t(rows * n)));
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        for (int r = 0; r < 3; ++r) gemm(pool, a.data(), rows, k, p, bias.data(), outs[size_t(t)].data(), n);
      });
    }
    for (auto& t : ts) t.join();
    for (int t = 0; t < 4; ++t) {
      CHECK(memcmp(outs[size_t(t)].data(), alone.data(), sizeof(float) * size_t(rows * n)) == 0,
            "threads=%d concurrent caller %d: not bitwise equal", threads, t);
    }
    CHECK(clip4j_gemm_pool_destroy(pool) == CLIP4J_OK, "destroy");
  }
}

static void test_validation() {
  int64_t len = 0;
  CHECK(clip4j_gemm_packed_size(0, 5, &len) == CLIP4J_ERR_INVALID_ARGUMENT, "n=0 accepted");
  CHECK(clip4j_gemm_packed_size(5, (int64_t(1) << 24) + 1, &len) == CLIP4J_ERR_INVALID_ARGUMENT, "huge k accepted");
  CHECK(clip4j_gemm_packed_size(5, 3, nullptr) == CLIP4J_ERR_INVALID_ARGUMENT, "NULL out accepted");
  CHECK(clip4j_gemm_packed_size(25, 3, &len) == CLIP4J_OK && len == 2 * 24 * 3, "packed size of 25x3: %ld",
        long(len));
  std::vector<float> w(25 * 3, 1.0f);
  std::vector<float> packed(static_cast<size_t>(len));
  CHECK(clip4j_gemm_pack_f32(w.data(), 25, 3, packed.data(), len - 1) == CLIP4J_ERR_INVALID_ARGUMENT,
        "short packed buffer accepted");
  CHECK(clip4j_gemm_pack_f32(nullptr, 25, 3, packed.data(), len) == CLIP4J_ERR_INVALID_ARGUMENT, "NULL w accepted");
  CHECK(clip4j_gemm_pack_f32(w.data(), 25, 3, packed.data(), len) == CLIP4J_OK, "%s", clip4j_last_error());
  std::vector<float> a(4 * 3, 1.0f), c(4 * 25);
  CHECK(clip4j_gemm_f32(nullptr, a.data(), 4, 3, 2, packed.data(), len, 25, nullptr, c.data(), 25) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "lda < k accepted");
  CHECK(clip4j_gemm_f32(nullptr, a.data(), 4, 3, 3, packed.data(), len, 25, nullptr, c.data(), 24) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "ldc < n accepted");
  CHECK(clip4j_gemm_f32(nullptr, a.data(), -1, 3, 3, packed.data(), len, 25, nullptr, c.data(), 25) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "m < 0 accepted");
  CHECK(clip4j_gemm_f32(nullptr, a.data(), 4, 3, 3, packed.data(), len + 1, 25, nullptr, c.data(), 25) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "wrong packed_len accepted");
  CHECK(clip4j_gemm_f32(nullptr, nullptr, 4, 3, 3, packed.data(), len, 25, nullptr, c.data(), 25) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "NULL a accepted");
  CHECK(strlen(clip4j_last_error()) > 0, "no message");
  CHECK(clip4j_gemm_f32(nullptr, a.data(), 0, 3, 3, packed.data(), len, 25, nullptr, nullptr, 25) == CLIP4J_OK,
        "m=0 must be a no-op");
  clip4j_gemm_pool* pool = nullptr;
  CHECK(clip4j_gemm_pool_create(0, &pool) == CLIP4J_ERR_INVALID_ARGUMENT && pool == nullptr, "0 threads accepted");
  CHECK(clip4j_gemm_pool_destroy(nullptr) == CLIP4J_OK, "destroy(NULL)");
}

static double gflops_of(clip4j_gemm_pool* pool, int64_t m, int64_t n, int64_t k, int reps) {
  auto a = random_vec(size_t(m * k), 9, 1.0f);
  auto w = random_vec(size_t(n * k), 10, 0.05f);
  auto bias = random_vec(size_t(n), 11, 0.1f);
  Packed p(w, n, k);
  std::vector<float> c(size_t(m * n));
  gemm(pool, a.data(), m, k, p, bias.data(), c.data(), n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    gemm(pool, a.data(), m, k, p, bias.data(), c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  return 2.0 * double(m) * double(n) * double(k) / best / 1e9;
}

int main(int argc, char** argv) {
  int32_t supported = 0;
  clip4j_gemm_supported(&supported);
  if (!supported) {
    printf("clip4j_gemm: not supported on this CPU (no AVX2/FMA); checking UNSUPPORTED only\n");
    float x = 0;
    return clip4j_gemm_f32(nullptr, &x, 1, 1, 1, &x, 24, 1, nullptr, &x, 1) == CLIP4J_ERR_UNSUPPORTED ? 0 : 1;
  }
  if (argc > 1 && strcmp(argv[1], "bench") == 0) {
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    clip4j_gemm_pool* pool = nullptr;
    clip4j_gemm_pool_create(threads, &pool);
    const int64_t shapes[][3] = {{50, 2304, 768}, {50, 768, 768}, {50, 3072, 768}, {50, 768, 3072},
                                 {400, 3072, 768}, {400, 768, 3072}, {1600, 2304, 768}, {1600, 3072, 768},
                                 {1600, 768, 3072}, {2048, 2048, 2048}};
    for (const auto& s : shapes) {
      printf("m=%5ld n=%5ld k=%5ld  %7.1f GFLOP/s (%d threads)\n", long(s[0]), long(s[1]), long(s[2]),
             gflops_of(pool, s[0], s[1], s[2], 10), threads);
    }
    clip4j_gemm_pool_destroy(pool);
    return 0;
  }
  clip4j_gemm_pool* pool = nullptr;
  clip4j_gemm_pool_create(2, &pool);
  test_values(nullptr);
  test_values(pool);
  clip4j_gemm_pool_destroy(pool);
  test_invariance();
  test_validation();
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("gemm: all tests passed\n");
  return 0;
}
