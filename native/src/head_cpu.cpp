// CPU implementation of the fused embedding head (fp32).
#include <math.h>
#include <string.h>

#include <string>
#include <vector>

#include "clip4j/clip4j.h"
#include "errors.h"
#include "head_math.h"
#include "head_params.h"

#ifndef CLIP4J_VERSION_STRING
#define CLIP4J_VERSION_STRING "unknown"
#endif
#ifdef CLIP4J_WITH_CUDA
#define CLIP4J_CUDA_STATE "cuda: built"
#else
#define CLIP4J_CUDA_STATE "cuda: not built"
#endif

namespace clip4j {

std::string validate_head_params(const HeadParams& p) {
  if (p.n < 0 || p.n > kMaxRows) return "n must be in [0, 2^31], got " + std::to_string(p.n);
  if (p.d_in < 1 || p.d_in > kMaxDim) return "d_in must be in [1, 2^24], got " + std::to_string(p.d_in);
  if (p.d_out < 1 || p.d_out > kMaxDim) return "d_out must be in [1, 2^24], got " + std::to_string(p.d_out);
  if (p.w == nullptr && p.d_out != p.d_in)
    return "without a projection (w == NULL) d_out must equal d_in, got d_in=" +
           std::to_string(p.d_in) + " d_out=" + std::to_string(p.d_out);
  if (p.w_layout != CLIP4J_LAYOUT_IN_OUT && p.w_layout != CLIP4J_LAYOUT_OUT_IN)
    return "w_layout must be CLIP4J_LAYOUT_IN_OUT or CLIP4J_LAYOUT_OUT_IN, got " + std::to_string(p.w_layout);
  if (!valid_activation(p.activation)) return "unknown activation code " + std::to_string(p.activation);
  if (!(p.eps > 0.0f) || !isfinite(p.eps)) return "eps must be finite and > 0";
  if (p.n > 0 && p.x == nullptr) return "x is NULL";
  if (p.n > 0 && p.out == nullptr) return "out is NULL";
  return std::string();
}

namespace {

// One row: y = act(x @ W + b), then optional normalisation. `y` is the output row itself.
void head_row(const float* x, const HeadParams& p, float* y) {
  const int64_t d_in = p.d_in, d_out = p.d_out;
  const float* w = static_cast<const float*>(p.w);
  const float* b = static_cast<const float*>(p.bias);
  if (w == nullptr) {
    memcpy(y, x, sizeof(float) * size_t(d_out));
  } else if (p.w_layout == CLIP4J_LAYOUT_IN_OUT) {
    // y = sum_i x_i * W[i, :]: contiguous axpy updates, which the compiler vectorises.
    for (int64_t j = 0; j < d_out; ++j) y[j] = 0.0f;
    for (int64_t i = 0; i < d_in; ++i) {
      const float xi = x[i];
      const float* wr = w + i * d_out;
      for (int64_t j = 0; j < d_out; ++j) y[j] += xi * wr[j];
    }
  } else {
    // y_j = dot(x, W[j, :]) with 8 independent partial sums (vectorisable without -ffast-math).
    for (int64_t j = 0; j < d_out; ++j) {
      const float* wr = w + j * d_in;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t i = 0;
      for (; i + 8 <= d_in; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += x[i + k] * wr[i + k];
      float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; i < d_in; ++i) s += x[i] * wr[i];
      y[j] = s;
    }
  }
  NormAccumulator acc = norm_init();
  for (int64_t j = 0; j < d_out; ++j) {
    float v = y[j];
    if (b != nullptr) v += b[j];
    v = activate(v, p.activation);
    y[j] = v;
    norm_add(acc, v);
  }
  if (p.normalize) {
    const float inv = norm_inverse(acc, p.eps);
    for (int64_t j = 0; j < d_out; ++j) y[j] *= inv;
  }
}

}  // namespace
}  // namespace clip4j

extern "C" const char* clip4j_version(void) {
  return CLIP4J_VERSION_STRING " (" CLIP4J_CUDA_STATE ")";
}

extern "C" clip4j_status clip4j_head_forward_f32(const float* x, int64_t n, int64_t d_in,
                                                 const float* w, int32_t w_layout, int64_t d_out,
                                                 const float* bias, int32_t activation,
                                                 int32_t normalize, float eps, float* out) {
  CLIP4J_API_GUARD_BEGIN
  clip4j::HeadParams p{x, w, bias, out, n, d_in, d_out, w_layout, activation, normalize, eps};
  std::string err = clip4j::validate_head_params(p);
  if (!err.empty()) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "clip4j_head_forward_f32: " + err);
  for (int64_t r = 0; r < n; ++r) clip4j::head_row(x + r * d_in, p, out + r * d_out);
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}
