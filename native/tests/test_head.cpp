// Unit tests of the CPU fused head against a naive double-precision reference.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <random>
#include <string>
#include <vector>

#include "clip4j/clip4j.h"

namespace {

int g_failures = 0;
int g_checks = 0;

#define CHECK(cond, ...)                                            \
  do {                                                              \
    ++g_checks;                                                     \
    if (!(cond)) {                                                  \
      ++g_failures;                                                 \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                 \
      fprintf(stderr, "\n");                                        \
    }                                                               \
  } while (0)

double act_ref(double v, int act) {
  switch (act) {
    case CLIP4J_ACT_QUICK_GELU: return v / (1.0 + exp(-1.702 * v));
    case CLIP4J_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case CLIP4J_ACT_TANH: return tanh(v);
    case CLIP4J_ACT_GELU_TANH: {
      // 0.5 v (1 + tanh(u)), written without the cancellation of 1 + tanh(u) for negative v.
      const double u = sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v);
      return v / (1.0 + exp(-2.0 * u));
    }
    default: return v;
  }
}

// Reference: double accumulation, plain loops, the documented formula.
std::vector<double> reference(const std::vector<float>& x, int64_t n, int64_t d_in, const float* w, int layout,
                              int64_t d_out, const float* b, int act, bool normalize, double eps) {
  std::vector<double> out(size_t(n * d_out));
  for (int64_t r = 0; r < n; ++r) {
    double ss = 0;
    for (int64_t j = 0; j < d_out; ++j) {
      double s = 0;
      if (w == nullptr) {
        s = x[size_t(r * d_in + j)];
      } else {
        for (int64_t i = 0; i < d_in; ++i) {
          double wij = layout == CLIP4J_LAYOUT_IN_OUT ? w[i * d_out + j] : w[j * d_in + i];
          s += double(x[size_t(r * d_in + i)]) * wij;
        }
      }
      if (b) s += b[j];
      s = act_ref(s, act);
      out[size_t(r * d_out + j)] = s;
      ss += s * s;
    }
    if (normalize) {
      double norm = sqrt(ss);
      double d = norm > eps ? norm : eps;
      for (int64_t j = 0; j < d_out; ++j) out[size_t(r * d_out + j)] /= d;
    }
  }
  return out;
}

std::vector<float> random_vec(std::mt19937& rng, size_t count, float scale) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(count);
  for (auto& e : v) e = dist(rng);
  return v;
}

const char* act_name(int act) {
  static const char* names[] = {"identity", "quick_gelu", "gelu", "tanh"};
  return names[act];
}

void check_case(std::mt19937& rng, int64_t n, int64_t d_in, int64_t d_out, int act, int layout, bool bias,
                bool proj, bool normalize, float x_scale) {
  std::vector<float> x = random_vec(rng, size_t(n * d_in), x_scale);
  std::vector<float> w = random_vec(rng, size_t(d_in * d_out), 1.0f / sqrtf(float(d_in)));
  std::vector<float> b = random_vec(rng, size_t(d_out), 0.5f);
  std::vector<float> out(size_t(n * d_out) + 1, -777.0f);  // one sentinel past the end
  const float* wp = proj ? w.data() : nullptr;
  const float* bp = bias ? b.data() : nullptr;
  clip4j_status st = clip4j_head_forward_f32(x.data(), n, d_in, wp, layout, d_out, bp, act, normalize ? 1 : 0,
                                             CLIP4J_DEFAULT_NORM_EPS, out.data());
  CHECK(st == CLIP4J_OK, "status %d: %s", int(st), clip4j_last_error());
  std::vector<double> ref = reference(x, n, d_in, wp, layout, d_out, bp, act, normalize, 1e-12);
  double max_err = 0;
  for (size_t k = 0; k < ref.size(); ++k) {
    double tol = normalize ? 1e-5 : 1e-5 * (1.0 + fabs(ref[k]));
    double err = fabs(double(out[k]) - ref[k]);
    if (err > max_err) max_err = err;
    if (!(err <= tol)) {
      CHECK(false, "n=%lld d_in=%lld d_out=%lld act=%s layout=%d bias=%d proj=%d norm=%d: out[%zu]=%.9g ref=%.9g",
            (long long)n, (long long)d_in, (long long)d_out, act_name(act), layout, bias, proj, normalize, k,
            out[k], ref[k]);
      return;
    }
  }
  CHECK(out.back() == -777.0f, "wrote past the end of out");
}

void test_random_shapes() {
  std::mt19937 rng(1234);
  const int64_t ns[] = {0, 1, 3, 17};
  const int64_t dims[] = {1, 5, 13, 64, 77, 100};
  int cases = 0;
  for (int64_t n : ns)
    for (int64_t d_in : dims)
      for (int64_t d_out : dims)
        for (int act = 0; act <= CLIP4J_ACT_GELU_TANH; ++act)
          for (int layout = 0; layout < 2; ++layout)
            for (int bias = 0; bias < 2; ++bias)
              for (int normalize = 0; normalize < 2; ++normalize) {
                check_case(rng, n, d_in, d_out, act, layout, bias, true, normalize, 1.0f);
                ++cases;
              }
  // No projection: d_out == d_in.
  for (int64_t d : dims)
    for (int act = 0; act <= CLIP4J_ACT_GELU_TANH; ++act)
      for (int bias = 0; bias < 2; ++bias) check_case(rng, 5, d, d, act, 0, bias, false, true, 2.0f);
  printf("random shapes: %d cases\n", cases);
}

void test_huge_values() {
  // |y| ~ 1e19: the squares overflow a float, the normalised row must still be exact.
  std::mt19937 rng(7);
  check_case(rng, 4, 16, 8, CLIP4J_ACT_IDENTITY, CLIP4J_LAYOUT_IN_OUT, false, true, true, 1e19f);
  check_case(rng, 4, 16, 8, CLIP4J_ACT_IDENTITY, CLIP4J_LAYOUT_OUT_IN, false, true, true, 1e19f);
  float x[3] = {3e30f, -4e30f, 0.0f};
  float out[3];
  clip4j_status st = clip4j_head_forward_f32(x, 1, 3, nullptr, 0, 3, nullptr, CLIP4J_ACT_IDENTITY, 1,
                                             CLIP4J_DEFAULT_NORM_EPS, out);
  CHECK(st == CLIP4J_OK, "%s", clip4j_last_error());
  CHECK(fabsf(out[0] - 0.6f) < 1e-6f && fabsf(out[1] + 0.8f) < 1e-6f && out[2] == 0.0f, "%g %g %g", out[0], out[1],
        out[2]);
}

void test_zeros_and_eps() {
  float zeros[4] = {0, 0, 0, 0};
  float out[4] = {1, 1, 1, 1};
  clip4j_status st = clip4j_head_forward_f32(zeros, 1, 4, nullptr, 0, 4, nullptr, CLIP4J_ACT_IDENTITY, 1,
                                             CLIP4J_DEFAULT_NORM_EPS, out);
  CHECK(st == CLIP4J_OK, "%s", clip4j_last_error());
  for (float v : out) CHECK(v == 0.0f && !signbit(v), "zero row must stay +0, got %g", v);
  // Norm 5e-13 < eps 1e-12: divided by eps, as F.normalize does.
  float tiny[2] = {3e-13f, 4e-13f};
  st = clip4j_head_forward_f32(tiny, 1, 2, nullptr, 0, 2, nullptr, CLIP4J_ACT_IDENTITY, 1, 1e-12f, out);
  CHECK(st == CLIP4J_OK, "%s", clip4j_last_error());
  CHECK(fabsf(out[0] - 0.3f) < 1e-6f && fabsf(out[1] - 0.4f) < 1e-6f, "%g %g", out[0], out[1]);
  // A larger eps changes the result the documented way.
  float v[2] = {3.0f, 4.0f};
  st = clip4j_head_forward_f32(v, 1, 2, nullptr, 0, 2, nullptr, CLIP4J_ACT_IDENTITY, 1, 10.0f, out);
  CHECK(st == CLIP4J_OK && fabsf(out[0] - 0.3f) < 1e-6f && fabsf(out[1] - 0.4f) < 1e-6f, "%g %g", out[0], out[1]);
}

void test_activation_values() {
  // Known values: QuickGELU(1) = 1/(1+e^-1.702), GELU(1) = 0.8413447460685429, tanh(1).
  float out[1];
  float one = 1.0f;
  clip4j_head_forward_f32(&one, 1, 1, nullptr, 0, 1, nullptr, CLIP4J_ACT_QUICK_GELU, 0, 1e-12f, out);
  CHECK(fabs(out[0] - 1.0 / (1.0 + exp(-1.702))) < 1e-7, "quick_gelu(1)=%.9g", out[0]);
  clip4j_head_forward_f32(&one, 1, 1, nullptr, 0, 1, nullptr, CLIP4J_ACT_GELU, 0, 1e-12f, out);
  CHECK(fabs(out[0] - 0.8413447460685429) < 1e-7, "gelu(1)=%.9g", out[0]);
  clip4j_head_forward_f32(&one, 1, 1, nullptr, 0, 1, nullptr, CLIP4J_ACT_TANH, 0, 1e-12f, out);
  CHECK(fabs(out[0] - tanh(1.0)) < 1e-7, "tanh(1)=%.9g", out[0]);
  // GELU-tanh(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.8411919906082768; and torch's fp32 on
  // the special values: -0 -> -0, NaN -> NaN, +inf -> +inf, -inf -> NaN, x far below -10 -> -0.
  clip4j_head_forward_f32(&one, 1, 1, nullptr, 0, 1, nullptr, CLIP4J_ACT_GELU_TANH, 0, 1e-12f, out);
  CHECK(fabs(out[0] - 0.8411919906082768) < 1e-7, "gelu_tanh(1)=%.9g", out[0]);
  float specials[6] = {-0.0f, NAN, INFINITY, -INFINITY, -30.0f, 30.0f}, got[6];
  CHECK(clip4j_head_forward_f32(specials, 6, 1, nullptr, 0, 1, nullptr, CLIP4J_ACT_GELU_TANH, 0, 1e-12f, got) ==
            CLIP4J_OK, "%s", clip4j_last_error());
  CHECK(got[0] == 0.0f && signbit(got[0]), "gelu_tanh(-0)=%g", got[0]);
  CHECK(isnan(got[1]), "gelu_tanh(NaN)=%g", got[1]);
  CHECK(got[2] == INFINITY, "gelu_tanh(inf)=%g", got[2]);
  CHECK(isnan(got[3]), "gelu_tanh(-inf)=%g", got[3]);
  CHECK(got[4] == 0.0f && signbit(got[4]), "gelu_tanh(-30)=%g", got[4]);
  CHECK(got[5] == 30.0f, "gelu_tanh(30)=%g", got[5]);
}

void expect_invalid(clip4j_status st, const char* needle) {
  CHECK(st == CLIP4J_ERR_INVALID_ARGUMENT, "expected INVALID_ARGUMENT, got %d", int(st));
  CHECK(strstr(clip4j_last_error(), needle) != nullptr, "message '%s' lacks '%s'", clip4j_last_error(), needle);
}

void test_invalid_arguments() {
  float x[4] = {1, 2, 3, 4}, w[4] = {1, 0, 0, 1}, out[4];
  expect_invalid(clip4j_head_forward_f32(x, -1, 2, w, 0, 2, nullptr, 0, 1, 1e-12f, out), "n must be");
  expect_invalid(clip4j_head_forward_f32(x, 1, 0, w, 0, 2, nullptr, 0, 1, 1e-12f, out), "d_in");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, w, 0, 0, nullptr, 0, 1, 1e-12f, out), "d_out");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, nullptr, 0, 3, nullptr, 0, 1, 1e-12f, out), "d_out must equal d_in");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, w, 2, 2, nullptr, 0, 1, 1e-12f, out), "w_layout");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, w, 0, 2, nullptr, 9, 1, 1e-12f, out), "activation");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, w, 0, 2, nullptr, 0, 1, 0.0f, out), "eps");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, w, 0, 2, nullptr, 0, 1, NAN, out), "eps");
  expect_invalid(clip4j_head_forward_f32(nullptr, 1, 2, w, 0, 2, nullptr, 0, 1, 1e-12f, out), "x is NULL");
  expect_invalid(clip4j_head_forward_f32(x, 1, 2, w, 0, 2, nullptr, 0, 1, 1e-12f, nullptr), "out is NULL");
  // A success clears the previous message.
  CHECK(clip4j_head_forward_f32(x, 2, 2, w, 0, 2, nullptr, 0, 1, 1e-12f, out) == CLIP4J_OK, "valid call");
  CHECK(clip4j_last_error()[0] == '\0', "last error not cleared: %s", clip4j_last_error());
  // n == 0 with NULL buffers is a no-op.
  CHECK(clip4j_head_forward_f32(nullptr, 0, 2, w, 0, 2, nullptr, 0, 1, 1e-12f, nullptr) == CLIP4J_OK, "n=0");
}

void test_cuda_entry_without_device() {
  int32_t available = -1;
  CHECK(clip4j_cuda_available(&available) == CLIP4J_OK, "%s", clip4j_last_error());
  CHECK(clip4j_cuda_available(nullptr) == CLIP4J_ERR_INVALID_ARGUMENT, "NULL out-param");
  // Argument checks run before the companion library is needed.
  // (Host pointers: none of these calls may reach a kernel.)
  float x[2] = {1, 2}, out[2];
  clip4j_status st = clip4j_head_forward_cuda(x, 5, 1, 2, nullptr, 0, 2, nullptr, 0, 1, 1e-12f, out, 0, nullptr);
  expect_invalid(st, "unknown dtype");
  st = clip4j_head_forward_cuda(x, 0, 1, 2, nullptr, 0, 2, nullptr, 0, 1, 1e-12f, out, 3, nullptr);
  expect_invalid(st, "unknown out_dtype");
  st = clip4j_head_forward_cuda(x, 0, 1, 9000, x, 0, 9000, nullptr, 0, 1, 1e-12f, out, 0, nullptr);
  expect_invalid(st, "d_out must be <= 8192");
  st = clip4j_head_forward_cuda(nullptr, 0, 1, 2, nullptr, 0, 2, nullptr, 0, 1, 1e-12f, out, 0, nullptr);
  expect_invalid(st, "x is NULL");
  printf("cuda available here: %d\n", int(available));
}

}  // namespace

int main() {
  printf("clip4j %s\n", clip4j_version());
  test_random_shapes();
  test_huge_values();
  test_zeros_and_eps();
  test_activation_values();
  test_invalid_arguments();
  test_cuda_entry_without_device();
  printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
