// The C entry points of image preprocessing: clip4j_resample_u8 and clip4j_preprocess_image
// (open_clip's eval transform, bit-exact with Pillow 9.4 + torchvision 0.14).
#include <math.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "clip4j/clip4j.h"
#include "errors.h"
#include "resample.h"

namespace clip4j {
namespace {

constexpr int32_t kMaxOutputSize = 16384;

// Python's round() of k / 2 for k >= 0 (round half to even).
int64_t half_even_div2(int64_t k) {
  int64_t q = k / 2;
  if ((k & 1) != 0 && (q & 1) != 0) ++q;
  return q;
}

// Pillow's MULDIV255: a * b / 255, rounded, in integers.
inline uint8_t muldiv255(unsigned a, unsigned b) {
  const unsigned tmp = a * b + 128;
  return uint8_t(((tmp >> 8) + tmp) >> 8);
}

// Pillow's rgbA2rgba / lA2la on the colour channels (alpha is the last channel).
void premultiply(const uint8_t* src, size_t pixels, int channels, uint8_t* dst) {
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* s = src + i * size_t(channels);
    uint8_t* d = dst + i * size_t(channels);
    const unsigned alpha = s[channels - 1];
    for (int c = 0; c < channels - 1; ++c) d[c] = muldiv255(s[c], alpha);
    d[channels - 1] = uint8_t(alpha);
  }
}

// Pillow's rgba2rgbA / la2lA, in place.
void unpremultiply(uint8_t* px, size_t pixels, int channels) {
  for (size_t i = 0; i < pixels; ++i) {
    uint8_t* p = px + i * size_t(channels);
    const unsigned alpha = p[channels - 1];
    if (alpha == 255 || alpha == 0) continue;
    for (int c = 0; c < channels - 1; ++c) {
      const unsigned v = (255u * p[c]) / alpha;
      p[c] = uint8_t(v > 255 ? 255 : v);
    }
  }
}

int channels_of(int32_t format) {
  switch (format) {
    case CLIP4J_PIXEL_L8: return 1;
    case CLIP4J_PIXEL_LA8: return 2;
    case CLIP4J_PIXEL_RGB8: return 3;
    case CLIP4J_PIXEL_RGBA8: return 4;
    case CLIP4J_PIXEL_I32: return 1;
    default: return 0;
  }
}

std::string check_side(const char* name, int64_t v) {
  if (v < 1 || v > kMaxImageSide) return std::string(name) + " must be in [1, 2^24], got " + std::to_string(v);
  return std::string();
}

}  // namespace
}  // namespace clip4j

extern "C" clip4j_status clip4j_resample_u8(const uint8_t* src, int32_t src_w, int32_t src_h, int32_t channels,
                                            uint8_t* dst, int32_t dst_w, int32_t dst_h, int32_t filter) {
  CLIP4J_API_GUARD_BEGIN
  using namespace clip4j;
  std::string err;
  if (err.empty()) err = check_side("src_w", src_w);
  if (err.empty()) err = check_side("src_h", src_h);
  if (err.empty()) err = check_side("dst_w", dst_w);
  if (err.empty()) err = check_side("dst_h", dst_h);
  if (err.empty() && (channels < 1 || channels > 4)) err = "channels must be in [1, 4], got " + std::to_string(channels);
  if (err.empty() && !valid_filter(filter)) err = "unknown filter code " + std::to_string(filter);
  if (err.empty() && src == nullptr) err = "src is NULL";
  if (err.empty() && dst == nullptr) err = "dst is NULL";
  if (!err.empty()) return fail(CLIP4J_ERR_INVALID_ARGUMENT, "clip4j_resample_u8: " + err);
  ResampleWindow p{src, src_w, src_h, channels, SampleType::kU8, dst_w, dst_h, filter, 0, 0, dst_w, dst_h, dst};
  err = resample_window(p);
  if (!err.empty()) return fail(CLIP4J_ERR_INTERNAL, "clip4j_resample_u8: " + err);
  return ok();
  CLIP4J_API_GUARD_END
}

extern "C" clip4j_status clip4j_preprocess_image(const uint8_t* pixels, int32_t width, int32_t height,
                                                 int32_t format, int32_t filter, int32_t resize_mode,
                                                 int32_t size, const uint8_t* fill_rgb, const float* mean,
                                                 const float* stddev, float* batch, int64_t capacity,
                                                 int64_t slot) {
  CLIP4J_API_GUARD_BEGIN
  using namespace clip4j;
  const int channels = channels_of(format);
  std::string err;
  if (err.empty()) err = check_side("width", width);
  if (err.empty()) err = check_side("height", height);
  if (err.empty() && int64_t(width) * height > INT32_MAX)
    err = "width * height must be <= 2^31 - 1, got " + std::to_string(int64_t(width) * height);
  if (err.empty() && channels == 0) err = "unknown pixel format " + std::to_string(format);
  if (err.empty() && !valid_filter(filter)) err = "unknown filter code " + std::to_string(filter);
  if (err.empty() && resize_mode != CLIP4J_RESIZE_SHORTEST && resize_mode != CLIP4J_RESIZE_LONGEST &&
      resize_mode != CLIP4J_RESIZE_SQUASH && resize_mode != CLIP4J_RESIZE_SHORTEST_FLOOR_CROP)
    err = "unknown resize mode " + std::to_string(resize_mode);
  if (err.empty() && (size < 1 || size > kMaxOutputSize))
    err = "size must be in [1, 16384], got " + std::to_string(size);
  if (err.empty() && (capacity < 1 || capacity > (int64_t(1) << 40) / (int64_t(3) * size * size)))
    err = "capacity must be >= 1 and the batch addressable, got " + std::to_string(capacity);
  if (err.empty() && (slot < 0 || slot >= capacity))
    err = "slot must be in [0, capacity = " + std::to_string(capacity) + "), got " + std::to_string(slot);
  if (err.empty() && pixels == nullptr) err = "pixels is NULL";
  if (err.empty() && batch == nullptr) err = "batch is NULL";
  if (err.empty() && fill_rgb == nullptr) err = "fill_rgb is NULL";
  if (err.empty() && (mean == nullptr || stddev == nullptr)) err = "mean or stddev is NULL";
  if (err.empty()) {
    for (int c = 0; c < 3; ++c) {
      if (!isfinite(mean[c])) err = "mean[" + std::to_string(c) + "] is not finite";
      else if (!isfinite(stddev[c]) || stddev[c] == 0.0f)
        err = "stddev[" + std::to_string(c) + "] must be finite and non-zero";
      if (!err.empty()) break;
    }
  }
  if (!err.empty()) return fail(CLIP4J_ERR_INVALID_ARGUMENT, "clip4j_preprocess_image: " + err);

  // 1. Resized size (torchvision's Resize(int) / open_clip's ResizeKeepRatio / squash).
  int64_t nw = size, nh = size;
  const bool floor_crop = resize_mode == CLIP4J_RESIZE_SHORTEST_FLOOR_CROP;
  if (resize_mode == CLIP4J_RESIZE_SHORTEST || floor_crop) {
    const int64_t shorter = std::min(width, height), longer = std::max(width, height);
    const int64_t new_long = int64_t(double(int64_t(size) * longer) / double(shorter));
    if (width <= height) nh = new_long;
    else nw = new_long;
  } else if (resize_mode == CLIP4J_RESIZE_LONGEST) {
    const double ratio_h = double(height) / double(size), ratio_w = double(width) / double(size);
    const double ratio = std::max(ratio_h, ratio_w) * 1.0 + std::min(ratio_h, ratio_w) * (1.0 - 1.0);
    nh = int64_t(nearbyint(double(height) * 1.0 / ratio));  // round half to even
    nw = int64_t(nearbyint(double(width) * 1.0 / ratio));
  }
  if (nw < 1 || nh < 1 || nw > kMaxResizedSide || nh > kMaxResizedSide)
    return fail(CLIP4J_ERR_INVALID_ARGUMENT,
                "clip4j_preprocess_image: a " + std::to_string(width) + "x" + std::to_string(height) +
                    " image is too elongated: it would be resized to " + std::to_string(nw) + "x" +
                    std::to_string(nh));

  // 2. Pad (where smaller than size), then center crop: output (oy, ox) reads resized pixel
  //    (oy + off_y, ox + off_x), or the fill colour outside the resized image.
  const int64_t pad_top = size > nh ? (size - nh) / 2 : 0, pad_left = size > nw ? (size - nw) / 2 : 0;
  // torchvision's CenterCrop rounds the offset half to even; transformers' center_crop floors it.
  const int64_t excess_h = std::max<int64_t>(nh, size) - size, excess_w = std::max<int64_t>(nw, size) - size;
  const int64_t crop_top = floor_crop ? excess_h / 2 : half_even_div2(excess_h);
  const int64_t crop_left = floor_crop ? excess_w / 2 : half_even_div2(excess_w);
  const int64_t off_y = crop_top - pad_top, off_x = crop_left - pad_left;
  const int64_t wy0 = std::max<int64_t>(0, off_y), wy1 = std::min<int64_t>(nh, size + off_y);
  const int64_t wx0 = std::max<int64_t>(0, off_x), wx1 = std::min<int64_t>(nw, size + off_x);
  const int32_t ww = int32_t(std::max<int64_t>(0, wx1 - wx0)), wh = int32_t(std::max<int64_t>(0, wy1 - wy0));

  const bool i32 = format == CLIP4J_PIXEL_I32;
  const size_t px = i32 ? 4 : size_t(channels);
  const bool alpha = format == CLIP4J_PIXEL_LA8 || format == CLIP4J_PIXEL_RGBA8;
  const bool premul = alpha && filter != CLIP4J_RESAMPLE_NEAREST && (nw != width || nh != height);

  std::vector<uint8_t> window(size_t(ww) * size_t(wh) * px);
  if (ww > 0 && wh > 0) {
    std::vector<uint8_t> premultiplied;
    const uint8_t* src = pixels;
    if (premul) {
      premultiplied.resize(size_t(width) * size_t(height) * px);
      premultiply(pixels, size_t(width) * size_t(height), channels, premultiplied.data());
      src = premultiplied.data();
    }
    ResampleWindow p{src, width, height, channels, i32 ? SampleType::kI32 : SampleType::kU8, nw, nh, filter,
                     wx0, wy0, ww, wh, window.data()};
    err = resample_window(p);
    if (!err.empty()) return fail(CLIP4J_ERR_INTERNAL, "clip4j_preprocess_image: " + err);
    if (premul) unpremultiply(window.data(), size_t(ww) * size_t(wh), channels);
  }

  // 3.+4. RGB conversion, /255 and normalisation through a per-channel table (same float ops).
  float lut[3][256];
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) / 255.0f - mean[c]) / stddev[c];
  const size_t plane = size_t(size) * size_t(size);
  float* out = batch + size_t(slot) * 3 * plane;
  for (int64_t oy = 0; oy < size; ++oy) {
    const int64_t ry = oy + off_y;
    for (int64_t ox = 0; ox < size; ++ox) {
      const int64_t rx = ox + off_x;
      uint8_t rgb[3] = {fill_rgb[0], fill_rgb[1], fill_rgb[2]};
      if (ry >= wy0 && ry < wy1 && rx >= wx0 && rx < wx1) {
        const uint8_t* p = window.data() + (size_t(ry - wy0) * size_t(ww) + size_t(rx - wx0)) * px;
        if (i32) {
          int32_t v;
          memcpy(&v, p, 4);
          rgb[0] = rgb[1] = rgb[2] = uint8_t(v <= 0 ? 0 : v >= 255 ? 255 : v);
        } else if (channels <= 2) {
          rgb[0] = rgb[1] = rgb[2] = p[0];
        } else {
          rgb[0] = p[0];
          rgb[1] = p[1];
          rgb[2] = p[2];
        }
      }
      const size_t o = size_t(oy) * size_t(size) + size_t(ox);
      out[o] = lut[0][rgb[0]];
      out[plane + o] = lut[1][rgb[1]];
      out[2 * plane + o] = lut[2][rgb[2]];
    }
  }
  return ok();
  CLIP4J_API_GUARD_END
}
