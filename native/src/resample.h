// Pillow 9.4-identical image resampling (internal): separable convolution with Pillow's
// coefficients, fixed-point normalisation and per-pass uint8 clipping, and Pillow's nearest
// mapping. Only a window of the resized image is computed; each output pixel depends only on
// its own coefficients, so a window equals the same pixels of the full resize.
#pragma once

#include <stdint.h>

#include <string>

namespace clip4j {

// Largest image side accepted (Pillow passes box coordinates as float: exact below 2^24).
constexpr int64_t kMaxImageSide = int64_t(1) << 24;
// Largest virtual (resized) side; only a window of it is ever materialised.
constexpr int64_t kMaxResizedSide = INT32_MAX;

// Sample types: 8-bit samples with 1..4 interleaved channels, or Pillow's "I" (one int32).
enum class SampleType { kU8, kI32 };

struct ResampleWindow {
  const void* src;   // sh rows of sw pixels, no row padding
  int32_t sw, sh;
  int32_t channels;  // 1..4 for kU8, 1 for kI32
  SampleType type;
  int64_t dw, dh;    // size of the (virtual) resized image
  int32_t filter;    // clip4j_resample_filter
  int64_t wx, wy;    // window origin in the resized image
  int32_t ww, wh;    // window size; the window lies inside [0, dw) x [0, dh)
  void* dst;         // wh rows of ww pixels of the same type/channels
};

// Whether `filter` is one of the supported clip4j_resample_filter values.
bool valid_filter(int32_t filter);

// Runs the resize; the caller has validated every field. Returns "" or an error message.
// May throw std::bad_alloc (scratch buffers).
std::string resample_window(const ResampleWindow& p);

}  // namespace clip4j
