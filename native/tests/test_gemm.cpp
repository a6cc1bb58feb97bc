// Tests of clip4j_gemm_*: values against a double-precision reference, bitwise batch invariance
// (a row's result does not depend on m, on its position, on the thread count or on concurrent
// callers), argument validation, through the AVX2 family's entry points (clip4j_gemm_f32 /
// _ex_f32), and the LayerNorm and attention kernels. The other families: test_gemm_families.cpp
// (`clip4j_gemm_families_test bench` times every family on ViT-B/32 shapes).
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
    std::vector<float> c(static_cast<size_t>(m * ldc), 12345.0f);
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
  std::vector<float> alone(static_cast<size_t>(rows * n));
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
      std::vector<float> c(static_cast<size_t>(m * n));
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

static double quick_gelu_ref(double x) {
  double t = double(float(1.702f * float(x)));
  return x / (1.0 + exp(-t));
}
static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
// 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3), in double (the
// second form has no cancellation in double either).
static double gelu_tanh_ref(double x) {
  const double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * u));
}
static double act_ref(int act, double z) {
  return act == CLIP4J_ACT_GELU        ? gelu_ref(z)
         : act == CLIP4J_ACT_GELU_TANH ? gelu_tanh_ref(z)
         : act == CLIP4J_ACT_QUICK_GELU ? quick_gelu_ref(z)
                                        : z;
}

// The activations alone, on a dense grid: relative error against double precision.
static void test_activations() {
  const int64_t n = 24 * 200;
  std::vector<float> xs(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) xs[size_t(i)] = -12.0f + 24.0f * float(i) / float(n - 1);
  // W = identity-like: a [n, 1] input times a 1 x n weight of ones would mix; use k = 1, w = 1.
  std::vector<float> w(static_cast<size_t>(n), 1.0f);
  Packed p(w, n, 1);
  std::vector<float> one(1, 1.0f), out(static_cast<size_t>(n));
  for (int act : {CLIP4J_ACT_QUICK_GELU, CLIP4J_ACT_GELU, CLIP4J_ACT_GELU_TANH}) {
    // out[j] = act(1 * 1 + bias[j]) with bias = x - 1 (exact for these values).
    std::vector<float> bias(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) bias[size_t(j)] = xs[size_t(j)] - 1.0f;
    CHECK(clip4j_gemm_ex_f32(nullptr, one.data(), 1, 1, 1, p.data.data(), int64_t(p.data.size()), n, bias.data(), act,
                             nullptr, 0, nullptr, 0, out.data(), n) == CLIP4J_OK, "%s", clip4j_last_error());
    double worst = 0, worst_abs = 0, worst_x = 0;
    for (int64_t j = 0; j < n; ++j) {
      double x = double(1.0f + bias[size_t(j)]);
      double ref = act_ref(act, x);
      double err = fabs(out[size_t(j)] - ref);
      worst_abs = err > worst_abs ? err : worst_abs;
      double rel = err / (fabs(ref) + 1e-30);
      // Relative error where the value matters (|f(x)| > 1e-6; below, exp(-x^2/2) magnifies the
      // rounding of x^2 and only the absolute error, ~1e-12 there, is meaningful).
      // The rounding of x^2 inside exp(-x^2/2) gives GELU's tail a relative error growing like
      // x^2 * 2^-24; the bound follows it: 4e-7 * (1 + x^2) (about 3 ulps at 0). GELU-tanh's
      // negative tail magnifies the rounding of u = sqrt(2/pi) (x + 0.044715 x^3) by 2|u|, below it.
      rel /= 4e-7 * (1.0 + x * x);
      if (fabs(ref) > 1e-6 && rel > worst) {
        worst = rel;
        worst_x = x;
      }
    }
    printf("activation %d: max relative error / 4e-7 (1 + x^2) = %.3g (at x = %g), max absolute %.3g over [-12, 12] (relative where |f| > 1e-6)\n", act, worst,
           worst_x, worst_abs);
    CHECK(worst < 1.0, "activation %d: relative error %.3g x its bound 4e-7 (1 + x^2)", act, worst);
    CHECK(worst_abs < 2e-6, "activation %d: absolute error %.3g", act, worst_abs);
  }
}

// Epilogue: act(x W^T + b) * scale, added into c, against double; partial buffer for k > 192.
static void test_epilogue(clip4j_gemm_pool* pool) {
  const int64_t shapes[][3] = {{50, 72, 768}, {13, 25, 100}, {130, 49, 385}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    auto a = random_vec(size_t(m * k), 21, 1.0f);
    auto w = random_vec(size_t(n * k), 22, 0.05f);
    auto bias = random_vec(size_t(n), 23, 0.5f);
    auto scale = random_vec(size_t(n), 24, 1.0f);
    auto resid = random_vec(size_t(m * n), 25, 1.0f);
    Packed p(w, n, k);
    for (int act : {CLIP4J_ACT_IDENTITY, CLIP4J_ACT_QUICK_GELU, CLIP4J_ACT_GELU, CLIP4J_ACT_GELU_TANH}) {
      std::vector<float> c = resid, partial(static_cast<size_t>(m * n), -7.0f);
      CHECK(clip4j_gemm_ex_f32(pool, a.data(), m, k, k, p.data.data(), int64_t(p.data.size()), n, bias.data(), act,
                               scale.data(), 1, partial.data(), n, c.data(), n) == CLIP4J_OK, "%s", clip4j_last_error());
      double worst = 0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double z = bias[size_t(j)];
          for (int64_t q = 0; q < k; ++q) z += double(a[size_t(i * k + q)]) * w[size_t(j * k + q)];
          double v = act_ref(act, z);
          double ref = resid[size_t(i * n + j)] + v * scale[size_t(j)];
          double e = fabs(c[size_t(i * n + j)] - ref);
          worst = e > worst ? e : worst;
        }
      CHECK(worst < 2e-5, "epilogue act=%d m=%ld n=%ld k=%ld: abs error %.3g", act, long(m), long(n), long(k), worst);
    }
  }
  // accumulate with k > 192 and no partial buffer is refused.
  auto w = random_vec(8 * 200, 26, 1.0f);
  Packed p(w, 8, 200);
  std::vector<float> a(200, 1.0f), c(8);
  CHECK(clip4j_gemm_ex_f32(nullptr, a.data(), 1, 200, 200, p.data.data(), int64_t(p.data.size()), 8, nullptr,
                           CLIP4J_ACT_IDENTITY, nullptr, 1, nullptr, 0, c.data(), 8) == CLIP4J_ERR_INVALID_ARGUMENT,
        "accumulate without partial accepted");
  CHECK(clip4j_gemm_ex_f32(nullptr, a.data(), 1, 200, 200, p.data.data(), int64_t(p.data.size()), 8, nullptr,
                           CLIP4J_ACT_TANH, nullptr, 0, nullptr, 0, c.data(), 8) == CLIP4J_ERR_INVALID_ARGUMENT,
        "tanh accepted");
  CHECK(clip4j_gemm_ex_f32(nullptr, a.data(), 1, 200, 200, p.data.data(), int64_t(p.data.size()), 8, nullptr, 5,
                           nullptr, 0, nullptr, 0, c.data(), 8) == CLIP4J_ERR_INVALID_ARGUMENT &&
            strstr(clip4j_last_error(), "GELU_TANH") != nullptr,
        "activation 5 accepted or not named: %s", clip4j_last_error());
}

// The fused epilogue keeps rows batch-invariant (rows in edge tiles go through the same code).
static void test_epilogue_invariance() {
  const int64_t n = 3072 + 5, k = 768, rows = 57;
  auto a = random_vec(size_t(rows * k), 31, 1.0f);
  auto w = random_vec(size_t(n * k), 32, 0.05f);
  auto bias = random_vec(size_t(n), 33, 0.1f);
  auto scale = random_vec(size_t(n), 34, 1.0f);
  auto resid = random_vec(size_t(rows * n), 35, 1.0f);
  Packed p(w, n, k);
  clip4j_gemm_pool* pool = nullptr;
  clip4j_gemm_pool_create(2, &pool);
  for (int act : {CLIP4J_ACT_QUICK_GELU, CLIP4J_ACT_GELU, CLIP4J_ACT_GELU_TANH}) {
    std::vector<float> alone = resid, partial(static_cast<size_t>(n));
    for (int64_t i = 0; i < rows; ++i) {
      clip4j_gemm_ex_f32(nullptr, a.data() + i * k, 1, k, k, p.data.data(), int64_t(p.data.size()), n, bias.data(), act,
                         scale.data(), 1, partial.data(), n, alone.data() + i * n, n);
    }
    std::vector<float> all = resid, partials(static_cast<size_t>(rows * n));
    clip4j_gemm_ex_f32(pool, a.data(), rows, k, k, p.data.data(), int64_t(p.data.size()), n, bias.data(), act,
                       scale.data(), 1, partials.data(), n, all.data(), n);
    CHECK(memcmp(all.data(), alone.data(), sizeof(float) * size_t(rows * n)) == 0,
          "act=%d: batched rows differ from rows computed alone", act);
  }
  clip4j_gemm_pool_destroy(pool);
}

static void test_layer_norm(clip4j_gemm_pool* pool) {
  const int64_t m = 37, n = 771;
  auto x = random_vec(size_t(m * n), 41, 2.0f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) x[size_t(i * n + j)] += float(i) * 10.0f;  // offset rows
  auto w = random_vec(size_t(n), 42, 1.0f);
  auto b = random_vec(size_t(n), 43, 1.0f);
  std::vector<float> y(static_cast<size_t>(m * n));
  CHECK(clip4j_layer_norm_f32(pool, x.data(), m, n, n, w.data(), b.data(), 1e-5f, y.data(), n) == CLIP4J_OK, "%s",
        clip4j_last_error());
  double worst = 0;
  for (int64_t i = 0; i < m; ++i) {
    double mean = 0, var = 0;
    for (int64_t j = 0; j < n; ++j) mean += x[size_t(i * n + j)];
    mean /= double(n);
    for (int64_t j = 0; j < n; ++j) var += (x[size_t(i * n + j)] - mean) * (x[size_t(i * n + j)] - mean);
    var /= double(n);
    for (int64_t j = 0; j < n; ++j) {
      double ref = (x[size_t(i * n + j)] - mean) / sqrt(var + 1e-5) * w[size_t(j)] + b[size_t(j)];
      double e = fabs(y[size_t(i * n + j)] - ref);
      worst = e > worst ? e : worst;
    }
  }
  CHECK(worst < 5e-6, "layer norm: abs error %.3g", worst);
  for (int64_t i = 0; i < m; i += 7) {
    std::vector<float> one(static_cast<size_t>(n));
    clip4j_layer_norm_f32(nullptr, x.data() + i * n, 1, n, n, w.data(), b.data(), 1e-5f, one.data(), n);
    CHECK(memcmp(one.data(), y.data() + i * n, sizeof(float) * size_t(n)) == 0, "layer norm row %ld not invariant",
          long(i));
  }
  CHECK(clip4j_layer_norm_f32(pool, x.data(), m, n, n - 1, w.data(), b.data(), 1e-5f, y.data(), n) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "ldx < n accepted");
  CHECK(clip4j_layer_norm_f32(pool, x.data(), m, n, n, w.data(), b.data(), 0.0f, y.data(), n) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "eps 0 accepted");
}

static void test_attention(clip4j_gemm_pool* pool) {
  const int64_t batch = 3, seq = 77, heads = 4, dim = 20;  // dim not a multiple of 8: the tails too
  const int64_t width = heads * dim;
  auto qkv = random_vec(size_t(batch * seq * 3 * width), 51, 1.5f);
  for (int causal = 0; causal <= 1; ++causal) {
    std::vector<float> out(static_cast<size_t>(batch * seq * width));
    CHECK(clip4j_attention_f32(pool, qkv.data(), batch, seq, heads, dim, causal, out.data()) == CLIP4J_OK, "%s",
          clip4j_last_error());
    double worst = 0;
    for (int64_t s = 0; s < batch; ++s)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < seq; ++i) {
          const float* q = qkv.data() + (s * seq + i) * 3 * width + h * dim;
          int64_t keys = causal ? i + 1 : seq;
          std::vector<double> sc(static_cast<size_t>(keys));
          double mx = -1e300;
          for (int64_t t = 0; t < keys; ++t) {
            const float* kk = qkv.data() + (s * seq + t) * 3 * width + width + h * dim;
            double d = 0;
            for (int64_t e = 0; e < dim; ++e) d += double(q[e]) * kk[e];
            sc[size_t(t)] = d / sqrt(double(dim));
            mx = sc[size_t(t)] > mx ? sc[size_t(t)] : mx;
          }
          double sum = 0;
          for (auto& v : sc) sum += (v = exp(v - mx));
          for (int64_t e = 0; e < dim; ++e) {
            double o = 0;
            for (int64_t t = 0; t < keys; ++t) o += sc[size_t(t)] * qkv[size_t((s * seq + t) * 3 * width + 2 * width + h * dim + e)];
            double err = fabs(out[size_t((s * seq + i) * width + h * dim + e)] - o / sum);
            worst = err > worst ? err : worst;
          }
        }
    CHECK(worst < 1e-5, "attention causal=%d: abs error %.3g", causal, worst);
    // Sample 2 alone gives the same bits as inside the batch.
    std::vector<float> one(static_cast<size_t>(seq * width));
    clip4j_attention_f32(nullptr, qkv.data() + 2 * seq * 3 * width, 1, seq, heads, dim, causal, one.data());
    CHECK(memcmp(one.data(), out.data() + 2 * seq * width, sizeof(float) * size_t(seq * width)) == 0,
          "attention causal=%d: sample not batch-invariant", causal);
  }
  std::vector<float> out(16);
  CHECK(clip4j_attention_f32(pool, qkv.data(), 1, 0, heads, dim, 0, out.data()) == CLIP4J_ERR_INVALID_ARGUMENT,
        "seq 0 accepted");
  CHECK(clip4j_attention_f32(pool, qkv.data(), 1, seq, heads, dim, 2, out.data()) == CLIP4J_ERR_INVALID_ARGUMENT,
        "causal 2 accepted");
}

int main() {
  int32_t supported = 0;
  clip4j_gemm_supported(&supported);
  if (!supported) {
    printf("clip4j_gemm: not supported on this CPU (no AVX2/FMA); checking UNSUPPORTED only\n");
    float x = 0;
    return clip4j_gemm_f32(nullptr, &x, 1, 1, 1, &x, 24, 1, nullptr, &x, 1) == CLIP4J_ERR_UNSUPPORTED ? 0 : 1;
  }
  clip4j_gemm_pool* pool = nullptr;
  clip4j_gemm_pool_create(2, &pool);
  test_values(nullptr);
  test_values(pool);
  clip4j_gemm_pool_destroy(pool);
  test_invariance();
  test_validation();
  test_activations();
  clip4j_gemm_pool* pool2 = nullptr;
  clip4j_gemm_pool_create(2, &pool2);
  test_epilogue(nullptr);
  test_epilogue(pool2);
  test_layer_norm(pool2);
  test_attention(pool2);
  test_attention(nullptr);
  clip4j_gemm_pool_destroy(pool2);
  test_epilogue_invariance();
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("gemm: all tests passed\n");
  return 0;
}
