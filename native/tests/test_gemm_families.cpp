// Tests of the packed GEMM's kernel families (clip4j_cpu_kernels_resolve, clip4j_packed_weight_*,
// clip4j_gemm_packed): for every family this CPU runs (avx2, avx512 fp32, avx512 bf16), values
// against a double-precision reference on odd shapes, the fused epilogue, and bitwise batch
// invariance across m, row offset, thread count and concurrent callers; avx512 fp32 gives the avx2
// bits; a family the CPU lacks is refused with UNSUPPORTED naming the missing feature (never
// skipped). What the CPU has is read independently of clip4j (GCC's __builtin_cpu_supports), minus
// the features hidden by CLIP4J_CPU_DISABLE (ctest runs this binary a second and third time with
// avx512_bf16 and avx512 hidden, so the refusals run on every machine).
//
// `clip4j_gemm_families_test bench [threads]` times each family on ViT-B/32 shapes instead;
// `bench-epilogue [threads]` times the fused activations on an MLP GEMM (ratios to GELU's).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "clip4j/clip4j.h"
#include "gemm_kernels.h"  // bf16_round, checked below against the CPU's own conversion

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      ++failures;                                          \
    }                                                      \
  } while (0)

struct Family {
  int32_t kernels;
  int32_t dtype;
  const char* name;
};
static const Family kFamilies[] = {{CLIP4J_CPU_KERNELS_AVX2, CLIP4J_DTYPE_F32, "avx2"},
                                   {CLIP4J_CPU_KERNELS_AVX512, CLIP4J_DTYPE_F32, "avx512"},
                                   {CLIP4J_CPU_KERNELS_AVX512, CLIP4J_DTYPE_BF16, "avx512_bf16"}};

static bool hidden(const char* feature) {
  const char* off = getenv("CLIP4J_CPU_DISABLE");
  if (off == nullptr) return false;
  std::string list = std::string(",") + off + ",";
  for (auto& ch : list) ch = ch == ' ' ? ',' : ch;
  return list.find(std::string(",") + feature + ",") != std::string::npos;
}

// Whether `f` should run here and, if not, the feature the refusal must name.
static bool expect_runs(const Family& f, std::string* missing) {
#if defined(__x86_64__)
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && !hidden("avx2");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && !hidden("avx512");
  const bool bf16 = avx512 && __builtin_cpu_supports("avx512bf16") && !hidden("avx512_bf16");
#else
  const bool avx2 = false, avx512 = false, bf16 = false;
#endif
  if (f.dtype == CLIP4J_DTYPE_BF16) {
    *missing = !avx2 ? "avx2" : !avx512 ? "avx512" : "avx512_bf16";
    return bf16;
  }
  if (f.kernels == CLIP4J_CPU_KERNELS_AVX512) {
    *missing = !avx2 ? "avx2" : "avx512";
    return avx512;
  }
  *missing = "avx2";
  return avx2;
}

static std::vector<float> random_vec(size_t len, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(len);
  for (auto& x : v) x = d(rng);
  return v;
}

// A packed weight owned by the test.
struct Weight {
  clip4j_packed_weight* h = nullptr;
  int64_t n, k;
  Weight(const std::vector<float>& w, int64_t n_, int64_t k_, const Family& f) : n(n_), k(k_) {
    if (clip4j_packed_weight_create(w.data(), n, k, f.kernels, f.dtype, &h) != CLIP4J_OK) {
      fprintf(stderr, "packing %s [%ld, %ld]: %s\n", f.name, long(n), long(k), clip4j_last_error());
      abort();
    }
  }
  ~Weight() { clip4j_packed_weight_destroy(h); }
  Weight(const Weight&) = delete;
  Weight& operator=(const Weight&) = delete;
};

static clip4j_status gemm(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t lda, const Weight& w,
                          const float* bias, int act, const float* scale, int accumulate, float* partial, int64_t ldp,
                          float* c, int64_t ldc) {
  return clip4j_gemm_packed(pool, a, m, lda, w.h, bias, act, scale, accumulate, partial, ldp, c, ldc);
}

// What the family multiplies: the input itself (fp32) or its bf16 rounding.
static double as_input(const Family& f, float x) {
  if (f.dtype != CLIP4J_DTYPE_BF16) return double(x);
  const uint32_t bits = uint32_t(clip4j::gemm::bf16_round(x)) << 16;
  float r;
  memcpy(&r, &bits, 4);
  return double(r);
}

static double quick_gelu_ref(double x) {
  double t = double(float(1.702f * float(x)));
  return x / (1.0 + exp(-t));
}
static double gelu_ref(double x) { return 0.5 * x * erfc(-x / sqrt(2.0)); }
// u = sqrt(2/pi) (x + 0.044715 x^3); 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), the second form
// free of cancellation in double too.
static double gelu_tanh_u(double x) { return sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x); }
static double gelu_tanh_ref(double x) { return x / (1.0 + exp(-2.0 * gelu_tanh_u(x))); }
static double act_ref(int act, double z) {
  return act == CLIP4J_ACT_GELU        ? gelu_ref(z)
         : act == CLIP4J_ACT_GELU_TANH ? gelu_tanh_ref(z)
         : act == CLIP4J_ACT_QUICK_GELU ? quick_gelu_ref(z)
                                        : z;
}
static const int kActs[] = {CLIP4J_ACT_IDENTITY, CLIP4J_ACT_QUICK_GELU, CLIP4J_ACT_GELU, CLIP4J_ACT_GELU_TANH};

// ---- detection and refusals ------------------------------------------------------------------------

static void test_resolution() {
  for (const Family& f : kFamilies) {
    std::string missing;
    const bool runs = expect_runs(f, &missing);
    int32_t got = -1;
    const clip4j_status st = clip4j_cpu_kernels_resolve(f.kernels, f.dtype, &got);
    if (runs) {
      CHECK(st == CLIP4J_OK && got == f.kernels, "%s: expected to run here, got status %d (%s)", f.name, int(st),
            clip4j_last_error());
    } else {
      CHECK(st == CLIP4J_ERR_UNSUPPORTED && got == CLIP4J_CPU_KERNELS_AUTO, "%s: expected UNSUPPORTED, got %d", f.name,
            int(st));
      CHECK(strstr(clip4j_last_error(), missing.c_str()) != nullptr, "%s: the refusal '%s' does not name %s", f.name,
            clip4j_last_error(), missing.c_str());
      // Packing for it is refused the same way, and nothing is returned.
      std::vector<float> w(64 * 8, 1.0f);
      clip4j_packed_weight* h = reinterpret_cast<clip4j_packed_weight*>(&w);
      CHECK(clip4j_packed_weight_create(w.data(), 64, 8, f.kernels, f.dtype, &h) == CLIP4J_ERR_UNSUPPORTED &&
                h == nullptr,
            "%s: packing not refused", f.name);
      CHECK(strstr(clip4j_last_error(), missing.c_str()) != nullptr, "%s: '%s' does not name %s", f.name,
            clip4j_last_error(), missing.c_str());
      printf("%s: refused as expected: %s\n", f.name, clip4j_last_error());
    }
  }
  // AUTO: the best family that runs; bf16 only on AVX-512.
  std::string missing;
  int32_t got = -1;
  const bool avx512 = expect_runs(kFamilies[1], &missing), avx2 = expect_runs(kFamilies[0], &missing);
  const clip4j_status st = clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AUTO, CLIP4J_DTYPE_F32, &got);
  if (avx2) {
    CHECK(st == CLIP4J_OK && got == (avx512 ? CLIP4J_CPU_KERNELS_AVX512 : CLIP4J_CPU_KERNELS_AVX2),
          "auto fp32 resolved to %d (status %d)", int(got), int(st));
  } else {
    CHECK(st == CLIP4J_ERR_UNSUPPORTED, "auto fp32 without AVX2 not refused");
  }
  const bool bf16 = expect_runs(kFamilies[2], &missing);
  CHECK((clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AUTO, CLIP4J_DTYPE_BF16, &got) == CLIP4J_OK) == bf16,
        "auto bf16: %s", clip4j_last_error());
  if (bf16) CHECK(got == CLIP4J_CPU_KERNELS_AVX512, "auto bf16 resolved to %d", int(got));
  // bf16 on the AVX2 family is refused whatever the CPU.
  CHECK(clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AVX2, CLIP4J_DTYPE_BF16, &got) == CLIP4J_ERR_UNSUPPORTED,
        "bf16 on avx2 accepted");
  CHECK(clip4j_cpu_kernels_resolve(7, CLIP4J_DTYPE_F32, &got) == CLIP4J_ERR_INVALID_ARGUMENT, "kernels 7 accepted");
  CHECK(clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AUTO, CLIP4J_DTYPE_F16, &got) == CLIP4J_ERR_INVALID_ARGUMENT,
        "f16 accepted");
  CHECK(clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AUTO, CLIP4J_DTYPE_F32, nullptr) == CLIP4J_ERR_INVALID_ARGUMENT,
        "NULL out accepted");
}

static void test_validation(const Family& f) {
  auto w = random_vec(70 * 200, 1, 1.0f);
  Weight p(w, 70, 200, f);
  int64_t n = 0, k = 0, bytes = 0;
  int32_t kernels = -1, dtype = -1;
  CHECK(clip4j_packed_weight_describe(p.h, &n, &k, &kernels, &dtype, &bytes) == CLIP4J_OK && n == 70 && k == 200 &&
            kernels == f.kernels && dtype == f.dtype && bytes >= 70 * 200 * (f.dtype == CLIP4J_DTYPE_BF16 ? 2 : 4),
        "%s: describe gave n=%ld k=%ld kernels=%d dtype=%d bytes=%ld", f.name, long(n), long(k), int(kernels),
        int(dtype), long(bytes));
  std::vector<float> a(4 * 200, 1.0f), c(4 * 70);
  CHECK(gemm(nullptr, a.data(), 4, 199, p, nullptr, 0, nullptr, 0, nullptr, 0, c.data(), 70) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "%s: lda < k accepted", f.name);
  CHECK(gemm(nullptr, a.data(), 4, 200, p, nullptr, 0, nullptr, 0, nullptr, 0, c.data(), 69) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "%s: ldc < n accepted", f.name);
  CHECK(gemm(nullptr, a.data(), -1, 200, p, nullptr, 0, nullptr, 0, nullptr, 0, c.data(), 70) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "%s: m < 0 accepted", f.name);
  CHECK(gemm(nullptr, nullptr, 4, 200, p, nullptr, 0, nullptr, 0, nullptr, 0, c.data(), 70) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "%s: NULL a accepted", f.name);
  CHECK(gemm(nullptr, a.data(), 4, 200, p, nullptr, 0, nullptr, 1, nullptr, 0, c.data(), 70) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "%s: accumulate with k > 192 and no partial accepted", f.name);
  CHECK(gemm(nullptr, a.data(), 4, 200, p, nullptr, CLIP4J_ACT_TANH, nullptr, 0, nullptr, 0, c.data(), 70) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "%s: tanh accepted", f.name);
  for (int bad : {-1, 5, 1000}) {
    CHECK(gemm(nullptr, a.data(), 4, 200, p, nullptr, bad, nullptr, 0, nullptr, 0, c.data(), 70) ==
                  CLIP4J_ERR_INVALID_ARGUMENT &&
              strstr(clip4j_last_error(), "GELU_TANH") != nullptr,
          "%s: activation %d accepted or the message does not list the codes: %s", f.name, bad, clip4j_last_error());
  }
  CHECK(gemm(nullptr, a.data(), 0, 200, p, nullptr, 0, nullptr, 0, nullptr, 0, nullptr, 70) == CLIP4J_OK,
        "%s: m = 0 must be a no-op", f.name);
  CHECK(clip4j_gemm_packed(nullptr, a.data(), 4, 200, nullptr, nullptr, 0, nullptr, 0, nullptr, 0, c.data(), 70) ==
            CLIP4J_ERR_INVALID_ARGUMENT, "NULL weight accepted");
  clip4j_packed_weight* h = nullptr;
  CHECK(clip4j_packed_weight_create(w.data(), 0, 200, f.kernels, f.dtype, &h) == CLIP4J_ERR_INVALID_ARGUMENT &&
            h == nullptr, "n = 0 accepted");
  CHECK(clip4j_packed_weight_create(nullptr, 70, 200, f.kernels, f.dtype, &h) == CLIP4J_ERR_INVALID_ARGUMENT,
        "NULL w accepted");
  CHECK(clip4j_packed_weight_destroy(nullptr) == CLIP4J_OK, "destroy(NULL)");
}

// ---- values ----------------------------------------------------------------------------------------

// c = act(a W^T + bias) * scale (+ resid) against double precision over the family's inputs
// (bf16: the rounded ones), on shapes with edge tiles in both directions and odd k across blocks.
static void test_values(const Family& f, clip4j_gemm_pool* pool) {
  const int64_t shapes[][3] = {{1, 1, 1},     {3, 5, 7},      {7, 63, 191}, {6, 64, 192}, {13, 65, 193},
                               {50, 130, 385}, {17, 2304, 768}, {9, 768, 3072}, {2, 1, 3}, {241, 70, 33}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    const int64_t lda = k + 3, ldc = n + 5, ldp = n + 2;  // strided rows
    auto a = random_vec(size_t(m * lda), 1, 1.0f);
    auto w = random_vec(size_t(n * k), 2, 0.05f);
    auto bias = random_vec(size_t(n), 3, 0.1f);
    auto scale = random_vec(size_t(n), 4, 1.0f);
    auto resid = random_vec(size_t(m * ldc), 5, 1.0f);
    Weight p(w, n, k, f);
    for (int act : kActs) {
      for (int accumulate = 0; accumulate <= 1; ++accumulate) {
        const bool plain = act == CLIP4J_ACT_IDENTITY && accumulate == 0;
        std::vector<float> c = accumulate ? resid : std::vector<float>(size_t(m * ldc), 12345.0f);
        std::vector<float> partial(size_t(m * ldp), -7.0f);
        CHECK(gemm(pool, a.data(), m, lda, p, bias.data(), act, plain ? nullptr : scale.data(), accumulate,
                   partial.data(), ldp, c.data(), ldc) == CLIP4J_OK, "%s: %s", f.name, clip4j_last_error());
        double worst = 0, worst_unrounded = 0;
        bool padding_kept = true;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < n; ++j) {
            double z = bias[size_t(j)], z_unrounded = z, mag = fabs(z);
            for (int64_t q = 0; q < k; ++q) {
              const double x = as_input(f, a[size_t(i * lda + q)]), y = as_input(f, w[size_t(j * k + q)]);
              z += x * y;
              z_unrounded += double(a[size_t(i * lda + q)]) * double(w[size_t(j * k + q)]);
              mag += fabs(x * y);
            }
            const double sc = plain ? 1.0 : scale[size_t(j)];
            const double base = accumulate ? resid[size_t(i * ldc + j)] : 0.0;
            const double got = c[size_t(i * ldc + j)];
            // Relative to the sum of magnitudes (times the activation's and scale's size), fp32 accumulation.
            const double unit = (mag + 1e-30) * fabs(sc) + fabs(base) + 1e-30;
            const double err = fabs(got - (base + act_ref(act, z) * sc)) / unit;
            worst = err > worst ? err : worst;
            const double err_u = fabs(got - (base + act_ref(act, z_unrounded) * sc)) / unit;
            worst_unrounded = err_u > worst_unrounded ? err_u : worst_unrounded;
          }
          for (int64_t j = n; j < ldc; ++j) padding_kept &= c[size_t(i * ldc + j)] == (accumulate ? resid[size_t(i * ldc + j)] : 12345.0f);
        }
        CHECK(worst < 4e-7 * sqrt(double(k)) + 4e-7, "%s m=%ld n=%ld k=%ld act=%d acc=%d: relative error %.3g", f.name,
              long(m), long(n), long(k), act, accumulate, worst);
        CHECK(padding_kept, "%s m=%ld n=%ld k=%ld: wrote past n in a row", f.name, long(m), long(n), long(k));
        if (f.dtype == CLIP4J_DTYPE_BF16 && k >= 33 && plain) {
          // The inputs really were rounded to bf16: the unrounded reference is far off (~2^-9).
          CHECK(worst_unrounded > 20 * worst && worst_unrounded > 1e-6,
                "%s m=%ld n=%ld k=%ld: the result matches fp32 inputs (%.3g) as well as bf16 ones (%.3g)", f.name,
                long(m), long(n), long(k), worst_unrounded, worst);
        }
      }
    }
  }
}

// The activations alone, on a dense grid: out[j] = act(1 * 1 + bias[j]) with bias = x - 1 (exact,
// and exact in bf16 too), against double precision.
static void test_activations(const Family& f) {
  const int64_t n = 64 * 75;
  std::vector<float> w(static_cast<size_t>(n), 1.0f), one(1, 1.0f), out(static_cast<size_t>(n)),
      bias(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) bias[size_t(j)] = (-12.0f + 24.0f * float(j) / float(n - 1)) - 1.0f;
  Weight p(w, n, 1, f);
  for (int act : {CLIP4J_ACT_QUICK_GELU, CLIP4J_ACT_GELU, CLIP4J_ACT_GELU_TANH}) {
    CHECK(gemm(nullptr, one.data(), 1, 1, p, bias.data(), act, nullptr, 0, nullptr, 0, out.data(), n) == CLIP4J_OK,
          "%s", clip4j_last_error());
    double worst = 0, worst_abs = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double x = double(1.0f + bias[size_t(j)]);
      const double ref = act_ref(act, x);
      const double err = fabs(out[size_t(j)] - ref);
      worst_abs = err > worst_abs ? err : worst_abs;
      if (fabs(ref) > 1e-6) worst = fmax(worst, err / fabs(ref) / (4e-7 * (1.0 + x * x)));
    }
    CHECK(worst < 1.0 && worst_abs < 2e-6, "%s activation %d: relative error %.3g of its bound, absolute %.3g", f.name,
          act, worst, worst_abs);
  }
}

// The inputs of the GELU-tanh sweep: a dense grid over [-20, 20], logarithmic sweeps of both
// signs from the smallest denormal to 2^5, the neighbourhood of the saturation point (-2u = 88,
// x ~ -10.1) and of torch's fp32 zero point (u = -9, x ~ -5.15), huge values (x^3 overflows) and the
// special values. -0 is not among them: no GEMM input reaches the epilogue as -0 (the chain starts
// from +0, and +0 + -0 = +0), so the kernels never see it.
static std::vector<float> gelu_tanh_inputs() {
  std::vector<float> xs;
  const int dense = 1 << 19;
  for (int i = 0; i <= dense; ++i) xs.push_back(float(-20.0 + 40.0 * double(i) / dense));
  for (int e = -149; e <= 5; ++e) {
    for (int q = 0; q < 64; ++q) {
      const float v = ldexpf(1.0f + float(q) / 64.0f, e);
      xs.push_back(v);
      xs.push_back(-v);
    }
  }
  for (float c : {-10.1f, -5.15f}) {
    float v = c;
    for (int i = 0; i < 4096; ++i) {
      xs.push_back(v);
      v = nextafterf(v, 0.0f);
    }
  }
  for (float v : {1e7f, 7e12f, 1e13f, 1e30f, 3e38f, 3.4028235e38f}) {
    xs.push_back(v);
    xs.push_back(-v);
  }
  xs.push_back(INFINITY);
  xs.push_back(-INFINITY);
  xs.push_back(NAN);
  xs.push_back(0.0f);
  return xs;
}

// GELU-tanh through the epilogue: out[j] = act(1 * x_j) with the inputs as a [N, 1] weight (exact:
// the chain is fma(1, x_j, +0)). Against double precision: in float ulps of the exact value,
// scaled by 1 + 2|u| (in the negative tail the result is x e^(2u) and the rounding of u, a few
// ulps, is multiplied by 2|u|: an error of the formula in fp32, torch's included), and in absolute
// terms; the special values as torch's fp32 gives them.
static void test_gelu_tanh_sweep(const Family& f) {
  const std::vector<float> xs = gelu_tanh_inputs();
  const int64_t n = int64_t(xs.size());
  Weight p(xs, n, 1, f);
  std::vector<float> one(1, 1.0f), out(static_cast<size_t>(n));
  CHECK(gemm(nullptr, one.data(), 1, 1, p, nullptr, CLIP4J_ACT_GELU_TANH, nullptr, 0, nullptr, 0, out.data(), n) ==
            CLIP4J_OK, "%s", clip4j_last_error());
  double worst_ulp_zero = 0, worst_ulp_zero_x = 0;
  double worst_abs = 0, worst_abs_x = 0, worst_ulp_core = 0, worst_ulp_core_x = 0, worst_scaled = 0,
         worst_scaled_x = 0, worst_ulp_tail = 0, worst_ulp_tail_x = 0;
  int saturated = 0, specials_wrong = 0;
  for (int64_t j = 0; j < n; ++j) {
    const float xf = float(as_input(f, xs[size_t(j)]));
    const float got = out[size_t(j)];
    if (isnan(xf) || isinf(xf)) {
      // torch: NaN -> NaN, +inf -> +inf, -inf -> 0.5 (-inf) (1 + tanh(-inf)) = -inf * 0 = NaN.
      const bool ok = isnan(xf) || xf < 0 ? isnan(got) : got == INFINITY;
      if (!ok) ++specials_wrong;
      CHECK(ok, "%s: gelu_tanh(%g) = %g", f.name, double(xf), double(got));
      continue;
    }
    const double x = xf, u = gelu_tanh_u(x), ref = gelu_tanh_ref(x);
    if (!isfinite(x * x * x * 0.044715) || -2.0 * double(float(u)) > 88.0) {
      // x^3 overflows in fp32, or -2u > 88: x (x > 0; exactly) or -0, as torch's fp32 (tanh = +-1).
      const bool ok = x > 0 ? got == xf : (got == 0.0f && signbit(got));
      CHECK(ok, "%s: gelu_tanh(%.9g) = %.9g, expected %s", f.name, x, double(got), x > 0 ? "x" : "-0");
      if (x < 0) {
        ++saturated;
        CHECK(fabs(ref) < 1e-36, "%s: gelu_tanh(%.9g) saturated to -0 but is %.3g", f.name, x, ref);
      }
      continue;
    }
    if (!(fabs(x) <= 20.0)) {
      CHECK(got == xf, "%s: gelu_tanh(%.9g) = %.9g, expected x", f.name, x, double(got));
      continue;
    }
    const double err = fabs(double(got) - ref);
    int e = 0;
    frexp(ref, &e);
    const double ulp = ldexp(1.0, (e - 24 > -149 ? e - 24 : -149));  // the float spacing at |ref|
    const double ulps = err / ulp, scaled = ulps / (1.0 + 2.0 * fabs(u));
    if (err > worst_abs) {
      worst_abs = err;
      worst_abs_x = x;
    }
    if (scaled > worst_scaled) {
      worst_scaled = scaled;
      worst_scaled_x = x;
    }
    if (fabs(x) < 1.0 && ulps > worst_ulp_zero) {
      worst_ulp_zero = ulps;
      worst_ulp_zero_x = x;
    }
    // The core: where torch's own fp32 tanh form is not yet 0 (u > -9, x > -5.15: 1 + tanh(u) > 2^-25).
    if (u > -9.0 && ulps > worst_ulp_core) {
      worst_ulp_core = ulps;
      worst_ulp_core_x = x;
    }
    if (u <= -9.0 && ulps > worst_ulp_tail) {
      worst_ulp_tail = ulps;
      worst_ulp_tail_x = x;
    }
    // bf16: the input is rounded, not the output; the same bounds hold on the rounded input.
    CHECK(scaled < 4.0, "%s: gelu_tanh(%.9g) = %.9g, exact %.9g: %.3g ulps, %.3g x (1 + 2|u|)", f.name, x,
          double(got), ref, ulps, scaled);
  }
  printf("%s gelu_tanh over %ld inputs (|x| <= 20 dense, tiny to 2^-149, huge, inf, NaN): max abs error %.3g (x = "
         "%.7g); max ulps %.3g (x = %.7g) where |x| < 1, %.3g (x = %.7g) where x > -5.15 (u > -9), %.3g (x = %.7g) "
         "in the tail below; max ulps / (1 + 2|u|) %.3g (x = %.7g); %d inputs below x ~ -10.1 give -0\n",
         f.name, long(n), worst_abs, worst_abs_x, worst_ulp_zero, worst_ulp_zero_x, worst_ulp_core, worst_ulp_core_x, worst_ulp_tail, worst_ulp_tail_x,
         worst_scaled, worst_scaled_x, saturated);
  CHECK(worst_abs < 1e-6, "%s: gelu_tanh absolute error %.3g", f.name, worst_abs);
  CHECK(specials_wrong == 0, "%s: %d special values differ from torch", f.name, specials_wrong);
}

// The two fp32 families give the same GELU-tanh bits on the whole sweep (NaN payloads included).
static void test_gelu_tanh_families_agree() {
  std::string missing;
  if (!expect_runs(kFamilies[0], &missing) || !expect_runs(kFamilies[1], &missing)) {
    printf("gelu_tanh sweep: avx512 does not run here, nothing to compare\n");
    return;
  }
  const std::vector<float> xs = gelu_tanh_inputs();
  const int64_t n = int64_t(xs.size());
  Weight p2(xs, n, 1, kFamilies[0]), p5(xs, n, 1, kFamilies[1]);
  std::vector<float> one(1, 1.0f), o2(static_cast<size_t>(n)), o5(static_cast<size_t>(n));
  gemm(nullptr, one.data(), 1, 1, p2, nullptr, CLIP4J_ACT_GELU_TANH, nullptr, 0, nullptr, 0, o2.data(), n);
  gemm(nullptr, one.data(), 1, 1, p5, nullptr, CLIP4J_ACT_GELU_TANH, nullptr, 0, nullptr, 0, o5.data(), n);
  int64_t differ = 0;
  for (int64_t j = 0; j < n; ++j) differ += memcmp(&o2[size_t(j)], &o5[size_t(j)], 4) != 0;
  CHECK(differ == 0, "gelu_tanh: avx512 differs from avx2 on %ld of %ld inputs", long(differ), long(n));
  printf("gelu_tanh sweep: avx512 = avx2 bit for bit on all %ld inputs\n", long(n));
}

// ---- batch invariance --------------------------------------------------------------------------------

// Every row of a batch equals, bit for bit, the row computed alone, in other batches, at other
// offsets, with 1, 2 or 3 threads, and while other threads share the pool; with the epilogue too.
static void test_invariance(const Family& f) {
  const int64_t n = 2304 + 7, k = 768 + 101, rows = 203;
  auto a = random_vec(size_t(rows * k), 6, 1.0f);
  auto w = random_vec(size_t(n * k), 7, 0.05f);
  auto bias = random_vec(size_t(n), 8, 0.1f);
  auto scale = random_vec(size_t(n), 9, 1.0f);
  auto resid = random_vec(size_t(rows * n), 10, 1.0f);
  Weight p(w, n, k, f);
  for (int act : kActs) {
    const bool acc = act != CLIP4J_ACT_IDENTITY;  // the residual form with the activations
    std::vector<float> alone = acc ? resid : std::vector<float>(size_t(rows * n));
    std::vector<float> partial(static_cast<size_t>(n));
    for (int64_t i = 0; i < rows; ++i) {
      CHECK(gemm(nullptr, a.data() + i * k, 1, k, p, bias.data(), act, acc ? scale.data() : nullptr, acc ? 1 : 0,
                 partial.data(), n, alone.data() + i * n, n) == CLIP4J_OK, "%s", clip4j_last_error());
    }
    for (int threads = 1; threads <= 3; ++threads) {
      clip4j_gemm_pool* pool = nullptr;
      CHECK(clip4j_gemm_pool_create(threads, &pool) == CLIP4J_OK, "%s", clip4j_last_error());
      const int64_t batches[][2] = {{0, 203}, {0, 50}, {3, 50}, {1, 7}, {121, 82}, {5, 121}, {60, 143}};
      for (const auto& b : batches) {
        if (threads > 1 && act != CLIP4J_ACT_IDENTITY && b[1] < 100) continue;  // keeps the run short
        const int64_t off = b[0], m = b[1];
        std::vector<float> c = acc ? std::vector<float>(resid.begin() + off * n, resid.begin() + (off + m) * n)
                                   : std::vector<float>(size_t(m * n));
        std::vector<float> part(size_t(m * n));
        CHECK(gemm(pool, a.data() + off * k, m, k, p, bias.data(), act, acc ? scale.data() : nullptr, acc ? 1 : 0,
                   part.data(), n, c.data(), n) == CLIP4J_OK, "%s", clip4j_last_error());
        CHECK(memcmp(c.data(), alone.data() + off * n, sizeof(float) * size_t(m * n)) == 0,
              "%s act=%d threads=%d rows [%ld, %ld): not bitwise equal to the rows computed alone", f.name, act,
              threads, long(off), long(off + m));
      }
      if (act == CLIP4J_ACT_IDENTITY) {
        // Concurrent callers: results identical whoever gets the workers.
        std::vector<std::vector<float>> outs(4, std::vector<float>(size_t(rows * n)));
        std::vector<std::thread> ts;
        for (int t = 0; t < 4; ++t) {
          ts.emplace_back([&, t] {
            for (int r = 0; r < 3; ++r)
              gemm(pool, a.data(), rows, k, p, bias.data(), 0, nullptr, 0, nullptr, 0, outs[size_t(t)].data(), n);
          });
        }
        for (auto& t : ts) t.join();
        for (int t = 0; t < 4; ++t) {
          CHECK(memcmp(outs[size_t(t)].data(), alone.data(), sizeof(float) * size_t(rows * n)) == 0,
                "%s threads=%d concurrent caller %d: not bitwise equal", f.name, threads, t);
        }
      }
      CHECK(clip4j_gemm_pool_destroy(pool) == CLIP4J_OK, "destroy");
    }
  }
}

// avx512 fp32 gives the avx2 bits, and a weight forced to avx2 gives the bits of the AVX2 entry
// points (clip4j_gemm_ex_f32 on the AVX2 layout): every argument combination, odd shapes.
static void test_fp32_families_agree() {
  std::string missing;
  if (!expect_runs(kFamilies[0], &missing)) return;  // nothing runs fp32 here (refusals checked above)
  const bool avx512 = expect_runs(kFamilies[1], &missing);
  const int64_t shapes[][3] = {{1, 3, 5}, {50, 768, 768}, {13, 130, 385}, {77, 2304, 200}, {5, 3072, 3072}};
  clip4j_gemm_pool* pool = nullptr;
  clip4j_gemm_pool_create(2, &pool);
  int compared = 0;
  for (const auto& s : shapes) {
    const int64_t m = s[0], n = s[1], k = s[2];
    auto a = random_vec(size_t(m * k), 11, 1.0f);
    auto w = random_vec(size_t(n * k), 12, 0.05f);
    auto bias = random_vec(size_t(n), 13, 0.3f);
    auto scale = random_vec(size_t(n), 14, 1.0f);
    auto resid = random_vec(size_t(m * n), 15, 1.0f);
    Weight p2(w, n, k, kFamilies[0]);
    int64_t len = 0;
    clip4j_gemm_packed_size(n, k, &len);
    std::vector<float> legacy(static_cast<size_t>(len));
    clip4j_gemm_pack_f32(w.data(), n, k, legacy.data(), len);
    for (int act : kActs) {
      for (int accumulate = 0; accumulate <= 1; ++accumulate) {
        std::vector<float> ref = accumulate ? resid : std::vector<float>(size_t(m * n)), part(size_t(m * n));
        CHECK(clip4j_gemm_ex_f32(pool, a.data(), m, k, k, legacy.data(), len, n, bias.data(), act, scale.data(),
                                 accumulate, part.data(), n, ref.data(), n) == CLIP4J_OK, "%s", clip4j_last_error());
        std::vector<float> c2 = accumulate ? resid : std::vector<float>(size_t(m * n));
        gemm(pool, a.data(), m, k, p2, bias.data(), act, scale.data(), accumulate, part.data(), n, c2.data(), n);
        CHECK(memcmp(c2.data(), ref.data(), sizeof(float) * size_t(m * n)) == 0,
              "forced avx2 weight differs from the AVX2 entry points (m=%ld n=%ld k=%ld act=%d acc=%d)", long(m),
              long(n), long(k), act, accumulate);
        if (avx512) {
          Weight p5(w, n, k, kFamilies[1]);
          std::vector<float> c5 = accumulate ? resid : std::vector<float>(size_t(m * n));
          gemm(pool, a.data(), m, k, p5, bias.data(), act, scale.data(), accumulate, part.data(), n, c5.data(), n);
          CHECK(memcmp(c5.data(), ref.data(), sizeof(float) * size_t(m * n)) == 0,
                "avx512 fp32 differs from avx2 (m=%ld n=%ld k=%ld act=%d acc=%d)", long(m), long(n), long(k), act,
                accumulate);
          ++compared;
        }
      }
    }
  }
  clip4j_gemm_pool_destroy(pool);
  printf("fp32 families: forced avx2 = AVX2 entry points%s\n",
         compared ? ", avx512 = avx2 bit for bit on every case" : " (avx512 does not run here)");
}

#if defined(__x86_64__)
// bf16_round (the weights' rounding) against the CPU's own conversion (the activations').
__attribute__((target("avx512f,avx512bf16,avx512vl"))) static void test_bf16_rounding() {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 1e-40f, -1e-40f, 1.17549435e-38f, 3.4028235e38f, INFINITY,
                          -INFINITY, NAN, 1.00390625f, 1.01171875f, 1.0078125f, 65504.0f, 3.3895314e38f};
  uint32_t special[] = {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7fffffu, 0x7fc00001u, 0xff800001u, 0x00800000u,
                        0x007fffffu, 0x80000001u};
  for (uint32_t b : special) {
    float x;
    memcpy(&x, &b, 4);
    v.push_back(x);
  }
  std::mt19937 rng(17);
  for (int i = 0; i < 100000; ++i) {
    uint32_t b = rng();
    float x;
    memcpy(&x, &b, 4);
    v.push_back(x);
  }
  while (v.size() % 16) v.push_back(0.0f);
  int mismatches = 0;
  for (size_t i = 0; i < v.size(); i += 16) {
    alignas(32) uint16_t hw[16];
    _mm256_store_si256(reinterpret_cast<__m256i*>(hw), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(&v[i])));
    for (int l = 0; l < 16; ++l) mismatches += hw[l] != clip4j::gemm::bf16_round(v[i + size_t(l)]);
  }
  CHECK(mismatches == 0, "bf16_round differs from VCVTNEPS2BF16 on %d of %zu values", mismatches, v.size());
}
#endif

// ---- bench -------------------------------------------------------------------------------------------

static double gflops_of(const Family& f, clip4j_gemm_pool* pool, int64_t m, int64_t n, int64_t k, int reps) {
  auto a = random_vec(size_t(m * k), 9, 1.0f);
  auto w = random_vec(size_t(n * k), 10, 0.05f);
  auto bias = random_vec(size_t(n), 11, 0.1f);
  Weight p(w, n, k, f);
  std::vector<float> c(static_cast<size_t>(m * n));
  gemm(pool, a.data(), m, k, p, bias.data(), 0, nullptr, 0, nullptr, 0, c.data(), n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    gemm(pool, a.data(), m, k, p, bias.data(), 0, nullptr, 0, nullptr, 0, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
  }
  return 2.0 * double(m) * double(n) * double(k) / best / 1e9;
}

// Times the kernels of one ViT-B/32 block at batch n (L = 50, W = 768, F = 3072, 12 heads).
static void bench_block(const Family& f, clip4j_gemm_pool* pool, int64_t n) {
  const int64_t l = 50, w = 768, ff = 3072, m = n * l;
  auto x = random_vec(size_t(m * w), 61, 1.0f);
  auto lw = random_vec(size_t(w), 62, 1.0f), lb = random_vec(size_t(w), 63, 0.1f);
  auto wqkv = random_vec(size_t(3 * w * w), 64, 0.03f), bq = random_vec(size_t(3 * w), 65, 0.1f);
  auto wo = random_vec(size_t(w * w), 66, 0.03f), wfc = random_vec(size_t(ff * w), 67, 0.03f);
  auto wpr = random_vec(size_t(w * ff), 68, 0.02f), bf = random_vec(size_t(ff), 69, 0.1f);
  Weight pq(wqkv, 3 * w, w, f), po(wo, w, w, f), pf(wfc, ff, w, f), pp(wpr, w, ff, f);
  std::vector<float> h(size_t(m * w)), qkv(size_t(m * 3 * w)), at(size_t(m * w)), hid(size_t(m * ff)),
      part(size_t(m * w));
  double t[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};  // best of the repetitions (the machine is shared)
  const int reps = 12;
  for (int r = 0; r < reps + 1; ++r) {
    auto c0 = std::chrono::steady_clock::now();
    clip4j_layer_norm_f32(pool, x.data(), m, w, w, lw.data(), lb.data(), 1e-5f, h.data(), w);
    auto c1 = std::chrono::steady_clock::now();
    gemm(pool, h.data(), m, w, pq, bq.data(), 0, nullptr, 0, nullptr, 0, qkv.data(), 3 * w);
    auto c2 = std::chrono::steady_clock::now();
    clip4j_attention_f32(pool, qkv.data(), n, l, 12, 64, 0, at.data());
    auto c3 = std::chrono::steady_clock::now();
    gemm(pool, at.data(), m, w, po, lb.data(), 0, nullptr, 1, part.data(), w, x.data(), w);
    auto c4 = std::chrono::steady_clock::now();
    gemm(pool, h.data(), m, w, pf, bf.data(), CLIP4J_ACT_QUICK_GELU, nullptr, 0, nullptr, 0, hid.data(), ff);
    auto c5 = std::chrono::steady_clock::now();
    gemm(pool, hid.data(), m, ff, pp, lb.data(), 0, nullptr, 1, part.data(), w, x.data(), w);
    auto c6 = std::chrono::steady_clock::now();
    if (r == 0) continue;
    auto d = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    double v[6] = {d(c0, c1), d(c1, c2), d(c2, c3), d(c3, c4), d(c4, c5), d(c5, c6)};
    for (int i = 0; i < 6; ++i) t[i] = v[i] < t[i] ? v[i] : t[i];
  }
  const char* names[] = {"ln", "qkv", "attn", "out+res", "fc+act", "proj+res"};
  double total = 0;
  printf("%s block n=%ld (ms per image per block):", f.name, long(n));
  for (int i = 0; i < 6; ++i) {
    printf(" %s %.3f", names[i], t[i] / double(n));
    total += t[i] / double(n);
  }
  printf(" | total %.3f -> %.1f img/s for 12 blocks\n", total, 1000.0 / (12 * total));
}

// The epilogue's cost on an MLP GEMM (fc: m = 400 rows, i.e. 8 samples x 50 tokens, n = 3072,
// k = 768), each activation timed in turn within every repetition (best of reps, so a busy machine
// slows them alike), and on k = 1 (the epilogue alone, nearly). Prints ratios, asserts nothing.
static void bench_epilogue(const Family& f, clip4j_gemm_pool* pool, int reps) {
  const int acts[] = {CLIP4J_ACT_IDENTITY, CLIP4J_ACT_QUICK_GELU, CLIP4J_ACT_GELU, CLIP4J_ACT_GELU_TANH};
  const char* names[] = {"identity", "quick_gelu", "gelu", "gelu_tanh"};
  for (int64_t k : {768, 1}) {
    const int64_t m = 400, n = 3072;
    auto a = random_vec(size_t(m * k), 71, 1.0f);
    auto w = random_vec(size_t(n * k), 72, k == 1 ? 1.0f : 0.036f);
    auto bias = random_vec(size_t(n), 73, 0.1f);
    Weight p(w, n, k, f);
    std::vector<float> c(static_cast<size_t>(m * n));
    double best[4] = {1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < reps + 1; ++r) {
      for (int i = 0; i < 4; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        gemm(pool, a.data(), m, k, p, bias.data(), acts[i], nullptr, 0, nullptr, 0, c.data(), n);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0 && ms < best[i]) best[i] = ms;
      }
    }
    printf("%s epilogue m=%ld n=%ld k=%ld (best of %d, ms):", f.name, long(m), long(n), long(k), reps);
    for (int i = 0; i < 4; ++i) printf(" %s %.3f", names[i], best[i]);
    const double erf_cost = best[2] - best[0], tanh_cost = best[3] - best[0];
    printf(" | gelu_tanh / gelu %.3f", best[3] / best[2]);
    if (erf_cost > 0 && tanh_cost > 0)
      printf(", epilogue cost over identity: gelu_tanh / gelu %.2f", tanh_cost / erf_cost);
    printf("\n");
  }
}

static int bench(int threads) {
  clip4j_gemm_pool* pool = nullptr;
  clip4j_gemm_pool_create(threads, &pool);
  const int64_t shapes[][3] = {{50, 2304, 768},   {50, 768, 768},    {50, 3072, 768},   {50, 768, 3072},
                               {400, 3072, 768},  {400, 768, 3072},  {1600, 2304, 768}, {1600, 3072, 768},
                               {1600, 768, 3072}, {2048, 2048, 2048}};
  for (const Family& f : kFamilies) {
    std::string missing;
    if (!expect_runs(f, &missing)) {
      printf("%s: does not run here (no %s)\n", f.name, missing.c_str());
      continue;
    }
    for (const auto& s : shapes) {
      printf("%-11s m=%5ld n=%5ld k=%5ld  %7.1f GFLOP/s (%d threads)\n", f.name, long(s[0]), long(s[1]), long(s[2]),
             gflops_of(f, pool, s[0], s[1], s[2], 10), threads);
    }
    for (int64_t n : {1, 8, 32}) bench_block(f, pool, n);
    bench_epilogue(f, pool, 10);
  }
  clip4j_gemm_pool_destroy(pool);
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "bench") == 0) return bench(argc > 2 ? atoi(argv[2]) : 2);
  if (argc > 1 && strcmp(argv[1], "bench-epilogue") == 0) {
    clip4j_gemm_pool* pool = nullptr;
    clip4j_gemm_pool_create(argc > 2 ? atoi(argv[2]) : 1, &pool);
    for (const Family& f : kFamilies) {
      std::string missing;
      if (expect_runs(f, &missing)) bench_epilogue(f, pool, 20);
    }
    clip4j_gemm_pool_destroy(pool);
    return 0;
  }
  printf("CLIP4J_CPU_DISABLE=%s\n", getenv("CLIP4J_CPU_DISABLE") ? getenv("CLIP4J_CPU_DISABLE") : "(unset)");
  test_resolution();
  test_fp32_families_agree();
  test_gelu_tanh_families_agree();
  for (const Family& f : kFamilies) {
    std::string missing;
    if (!expect_runs(f, &missing)) continue;  // its refusal was asserted by test_resolution
    printf("%s: values, activations, validation, invariance\n", f.name);
#if defined(__x86_64__)
    if (f.dtype == CLIP4J_DTYPE_BF16) test_bf16_rounding();
#endif
    clip4j_gemm_pool* pool = nullptr;
    clip4j_gemm_pool_create(2, &pool);
    test_values(f, nullptr);
    test_values(f, pool);
    clip4j_gemm_pool_destroy(pool);
    test_activations(f);
    test_gelu_tanh_sweep(f);
    test_validation(f);
    test_invariance(f);
  }
  // The GELU-tanh epilogue's cost against GELU's, printed (a figure, not a test: nothing timed is asserted).
  for (const Family& f : kFamilies) {
    std::string missing;
    if (f.dtype == CLIP4J_DTYPE_F32 && expect_runs(f, &missing)) bench_epilogue(f, nullptr, 8);
  }
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("gemm families: all tests passed\n");
  return 0;
}
