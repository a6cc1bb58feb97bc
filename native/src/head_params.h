// The fused head's parameters as one POD struct (extension-cpp / flash-attention style),
// and the argument checks both the CPU and the CUDA entry points run before any work.
#pragma once

#include <stdint.h>

#include <string>

#include "clip4j/clip4j.h"

namespace clip4j {

struct HeadParams {
  const void* x;      // [n, d_in]
  const void* w;      // [d_in, d_out] or [d_out, d_in] (w_layout), or nullptr
  const void* bias;   // [d_out] or nullptr
  void* out;          // [n, d_out]
  int64_t n;
  int64_t d_in;
  int64_t d_out;
  int32_t w_layout;
  int32_t activation;
  int32_t normalize;
  float eps;
};

// Largest dimension accepted (keeps every index computation far from int64 overflow).
constexpr int64_t kMaxDim = int64_t(1) << 24;
constexpr int64_t kMaxRows = int64_t(1) << 31;

// Returns an empty string if the parameters are valid, else a message naming the argument.
std::string validate_head_params(const HeadParams& p);

}  // namespace clip4j
