// Per-element and per-row math of the fused embedding head, shared by the CPU code and the
// CUDA kernel so that the CPU unit tests exercise exactly what the GPU runs.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define CLIP4J_HD __host__ __device__ __forceinline__
#else
#define CLIP4J_HD inline
#endif

namespace clip4j {

// Activation codes, equal to clip4j_activation in the public header.
enum : int32_t { kActIdentity = 0, kActQuickGelu = 1, kActGelu = 2, kActTanh = 3, kActGeluTanh = 4 };

CLIP4J_HD bool valid_activation(int32_t act) { return act >= kActIdentity && act <= kActGeluTanh; }

CLIP4J_HD float activate(float v, int32_t act) {
  switch (act) {
    case kActQuickGelu:
      // x * sigmoid(1.702 x), written as PyTorch's QuickGELU computes it.
      return v * (1.0f / (1.0f + expf(-1.702f * v)));
    case kActGelu:
      // nn.GELU() default (approximate='none'): exact erf form.
      return 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
    case kActTanh:
      return tanhf(v);
    case kActGeluTanh: {
      // nn.GELU(approximate='tanh') as v / (1 + exp(-2u)) (= 0.5 v (1 + tanh u)), without the
      // cancellation of 1 + tanh(u) for negative v; exp overflows to inf where torch's fp32 gives -0.
      const float u = 0.79788456080286536f * (v + 0.044715f * (v * v * v));
      return v / (1.0f + expf(-2.0f * u));
    }
    default:
      return v;
  }
}

// Running state of a scaled sum of squares (LAPACK's nrm2 idea): ||y|| = scale * sqrt(ssq),
// so rows with |y| ~ 1e30 normalise without overflowing a float.
struct NormAccumulator {
  float scale;
  float ssq;
};

CLIP4J_HD NormAccumulator norm_init() { return NormAccumulator{0.0f, 1.0f}; }

CLIP4J_HD void norm_add(NormAccumulator& a, float v) {
  float av = fabsf(v);
  if (av == 0.0f) return;
  if (!(av <= a.scale)) {  // also taken for NaN and on the first non-zero value
    float r = a.scale / av;
    a.ssq = 1.0f + a.ssq * r * r;
    a.scale = av;
  } else {
    float r = av / a.scale;
    a.ssq += r * r;
  }
}

// Merges two partial accumulators (used by the CUDA block reduction).
CLIP4J_HD NormAccumulator norm_merge(NormAccumulator a, NormAccumulator b) {
  if (b.scale == 0.0f) return a;
  if (a.scale == 0.0f) return b;
  if (a.scale >= b.scale) {
    float r = b.scale / a.scale;
    return NormAccumulator{a.scale, a.ssq + b.ssq * r * r};
  }
  float r = a.scale / b.scale;
  return NormAccumulator{b.scale, b.ssq + a.ssq * r * r};
}

// Factor every element of the row is multiplied by: 1 / max(||y||, eps), as F.normalize.
CLIP4J_HD float norm_inverse(NormAccumulator a, float eps) {
  float norm = a.scale == 0.0f ? 0.0f : a.scale * sqrtf(a.ssq);
  return 1.0f / (norm > eps ? norm : eps);
}

}  // namespace clip4j
