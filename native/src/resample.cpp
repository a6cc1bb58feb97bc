// Pillow 9.4-identical resampling (see resample.h). The arithmetic below mirrors the order of
// Pillow's operations on purpose (double coefficients normalised by their sum, then rounded
// to 22-bit fixed point; int accumulation; clipping after each pass): changing an expression
// changes output bytes. Compiled with -ffp-contract=off so no FMA alters a double result.
#include "resample.h"

#include <math.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "clip4j/clip4j.h"

namespace clip4j {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 8 bits of result, 2 of headroom, sign

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_of(int32_t filter) {
  if (filter == CLIP4J_RESAMPLE_BILINEAR) return Filter{bilinear_filter, 1.0};
  return Filter{bicubic_filter, 2.0};
}

// Coefficients of the output indices [o0, o0 + n) of a resize from in_size to out_size.
struct Coeffs {
  int ksize = 0;
  std::vector<int32_t> start;  // first input index
  std::vector<int32_t> count;  // number of input samples
  std::vector<double> k;       // n * ksize normalised weights
  std::vector<int32_t> fixed;  // the same in fixed point (8-bit passes)
};

void precompute(int32_t in_size, int64_t out_size, const Filter& f, int64_t o0, int32_t n, Coeffs& c) {
  // Pillow passes the box as floats; the full box is (0, in_size).
  const float in0 = 0.0f, in1 = float(in_size);
  double scale = double(in1 - in0) / double(out_size);
  double filterscale = scale;
  if (filterscale < 1.0) filterscale = 1.0;
  const double support = f.support * filterscale;
  const int ksize = int(ceil(support)) * 2 + 1;
  c.ksize = ksize;
  c.start.assign(size_t(n), 0);
  c.count.assign(size_t(n), 0);
  c.k.assign(size_t(n) * size_t(ksize), 0.0);
  c.fixed.assign(size_t(n) * size_t(ksize), 0);
  const double ss = 1.0 / filterscale;
  for (int32_t i = 0; i < n; ++i) {
    const int64_t xx = o0 + i;
    const double center = in0 + (double(xx) + 0.5) * scale;
    double ww = 0.0;
    int64_t xmin = int64_t(center - support + 0.5);  // truncation, as Pillow's (int) cast
    if (xmin < 0) xmin = 0;
    int64_t xmax = int64_t(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    if (xmax < 0) xmax = 0;
    if (xmax > ksize) xmax = ksize;  // cannot happen; keeps writes inside the row
    double* k = &c.k[size_t(i) * size_t(ksize)];
    for (int64_t x = 0; x < xmax; ++x) {
      const double w = f.fn((double(x + xmin) - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int64_t x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
    }
    int32_t* q = &c.fixed[size_t(i) * size_t(ksize)];
    for (int x = 0; x < ksize; ++x) {
      q[x] = k[x] < 0 ? int32_t(-0.5 + k[x] * (1 << kPrecisionBits))
                      : int32_t(0.5 + k[x] * (1 << kPrecisionBits));
    }
    c.start[size_t(i)] = int32_t(xmin);
    c.count[size_t(i)] = int32_t(xmax);
  }
}

inline uint8_t clip8(int32_t v) {
  if (v < 0) return 0;
  v >>= kPrecisionBits;
  return v > 255 ? 255 : uint8_t(v);
}

// Pillow's ROUND_UP for the "I" mode (note the float 0.5F, promoted to double).
inline int32_t round_up(double f) { return int32_t(f >= 0.0 ? f + 0.5F : f - 0.5F); }

// Horizontal pass over `rows` rows: dst[r][i] = sum_x src[r][start_i + x] * k_i[x].
template <int C>
void hpass_u8(const uint8_t* src, size_t src_stride, int64_t rows, const Coeffs& c, int32_t n, uint8_t* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* in = src + size_t(r) * src_stride;
    uint8_t* out = dst + size_t(r) * size_t(n) * C;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t* k = &c.fixed[size_t(i) * size_t(c.ksize)];
      const uint8_t* p = in + size_t(c.start[size_t(i)]) * C;
      const int32_t cnt = c.count[size_t(i)];
      int32_t ss[C];
      for (int ch = 0; ch < C; ++ch) ss[ch] = 1 << (kPrecisionBits - 1);
      for (int32_t x = 0; x < cnt; ++x)
        for (int ch = 0; ch < C; ++ch) ss[ch] += int32_t(p[size_t(x) * C + ch]) * k[x];
      for (int ch = 0; ch < C; ++ch) out[size_t(i) * C + ch] = clip8(ss[ch]);
    }
  }
}

// Vertical pass: dst[i][col] = sum_y src[start_i - row0 + y][col] * k_i[y], for `cols` pixels.
template <int C>
void vpass_u8(const uint8_t* src, size_t src_stride, int64_t row0, int32_t cols, const Coeffs& c, int32_t n,
              uint8_t* dst) {
  for (int32_t i = 0; i < n; ++i) {
    const int32_t* k = &c.fixed[size_t(i) * size_t(c.ksize)];
    const uint8_t* base = src + size_t(c.start[size_t(i)] - row0) * src_stride;
    const int32_t cnt = c.count[size_t(i)];
    uint8_t* out = dst + size_t(i) * size_t(cols) * C;
    for (int32_t col = 0; col < cols; ++col) {
      int32_t ss[C];
      for (int ch = 0; ch < C; ++ch) ss[ch] = 1 << (kPrecisionBits - 1);
      for (int32_t y = 0; y < cnt; ++y) {
        const uint8_t* p = base + size_t(y) * src_stride + size_t(col) * C;
        for (int ch = 0; ch < C; ++ch) ss[ch] += int32_t(p[ch]) * k[y];
      }
      for (int ch = 0; ch < C; ++ch) out[size_t(col) * C + ch] = clip8(ss[ch]);
    }
  }
}

void hpass_i32(const uint8_t* src, size_t src_stride, int64_t rows, const Coeffs& c, int32_t n, uint8_t* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* in = src + size_t(r) * src_stride;
    for (int32_t i = 0; i < n; ++i) {
      const double* k = &c.k[size_t(i) * size_t(c.ksize)];
      double ss = 0.0;
      for (int32_t x = 0; x < c.count[size_t(i)]; ++x) {
        int32_t v;
        memcpy(&v, in + size_t(c.start[size_t(i)] + x) * 4, 4);
        ss += v * k[x];
      }
      const int32_t o = round_up(ss);
      memcpy(dst + (size_t(r) * size_t(n) + size_t(i)) * 4, &o, 4);
    }
  }
}

void vpass_i32(const uint8_t* src, size_t src_stride, int64_t row0, int32_t cols, const Coeffs& c, int32_t n,
               uint8_t* dst) {
  for (int32_t i = 0; i < n; ++i) {
    const double* k = &c.k[size_t(i) * size_t(c.ksize)];
    const uint8_t* base = src + size_t(c.start[size_t(i)] - row0) * src_stride;
    for (int32_t col = 0; col < cols; ++col) {
      double ss = 0.0;
      for (int32_t y = 0; y < c.count[size_t(i)]; ++y) {
        int32_t v;
        memcpy(&v, base + size_t(y) * src_stride + size_t(col) * 4, 4);
        ss += v * k[y];
      }
      const int32_t o = round_up(ss);
      memcpy(dst + (size_t(i) * size_t(cols) + size_t(col)) * 4, &o, 4);
    }
  }
}

void hpass(SampleType t, int channels, const uint8_t* src, size_t stride, int64_t rows, const Coeffs& c,
           int32_t n, uint8_t* dst) {
  if (t == SampleType::kI32) return hpass_i32(src, stride, rows, c, n, dst);
  switch (channels) {
    case 1: return hpass_u8<1>(src, stride, rows, c, n, dst);
    case 2: return hpass_u8<2>(src, stride, rows, c, n, dst);
    case 3: return hpass_u8<3>(src, stride, rows, c, n, dst);
    default: return hpass_u8<4>(src, stride, rows, c, n, dst);
  }
}

void vpass(SampleType t, int channels, const uint8_t* src, size_t stride, int64_t row0, int32_t cols,
           const Coeffs& c, int32_t n, uint8_t* dst) {
  if (t == SampleType::kI32) return vpass_i32(src, stride, row0, cols, c, n, dst);
  switch (channels) {
    case 1: return vpass_u8<1>(src, stride, row0, cols, c, n, dst);
    case 2: return vpass_u8<2>(src, stride, row0, cols, c, n, dst);
    case 3: return vpass_u8<3>(src, stride, row0, cols, c, n, dst);
    default: return vpass_u8<4>(src, stride, row0, cols, c, n, dst);
  }
}

// Pillow's COORD(): floor for non-negative values, -1 for negative ones.
inline int64_t coord(double v) { return v < 0.0 ? -1 : int64_t(v); }

// Pillow's nearest resize (ImagingScaleAffine): the source position advances by in/out per
// output pixel, accumulated in double from (in/out) * 0.5; out-of-range positions give zeros.
void nearest(const ResampleWindow& p, size_t px) {
  const uint8_t* src = static_cast<const uint8_t*>(p.src);
  uint8_t* dst = static_cast<uint8_t*>(p.dst);
  const double ax = double(float(p.sw) - 0.0f) / double(p.dw);
  const double ay = double(float(p.sh) - 0.0f) / double(p.dh);
  std::vector<int64_t> xin(size_t(p.ww));
  double xo = 0.0 + ax * 0.5;
  for (int64_t x = 0; x < p.wx + p.ww; ++x) {
    if (x >= p.wx) xin[size_t(x - p.wx)] = coord(xo);
    xo += ax;
  }
  double yo = 0.0 + ay * 0.5;
  for (int64_t y = 0; y < p.wy + p.wh; ++y) {
    if (y >= p.wy) {
      const int64_t yi = coord(yo);
      uint8_t* out = dst + size_t(y - p.wy) * size_t(p.ww) * px;
      for (int32_t i = 0; i < p.ww; ++i) {
        if (yi >= 0 && yi < p.sh && xin[size_t(i)] >= 0 && xin[size_t(i)] < p.sw) {
          memcpy(out + size_t(i) * px, src + (size_t(yi) * size_t(p.sw) + size_t(xin[size_t(i)])) * px, px);
        } else {
          memset(out + size_t(i) * px, 0, px);
        }
      }
    }
    yo += ay;
  }
}

}  // namespace

bool valid_filter(int32_t filter) {
  return filter == CLIP4J_RESAMPLE_NEAREST || filter == CLIP4J_RESAMPLE_BILINEAR ||
         filter == CLIP4J_RESAMPLE_BICUBIC;
}

std::string resample_window(const ResampleWindow& p) {
  const size_t px = p.type == SampleType::kU8 ? size_t(p.channels) : 4;  // bytes per pixel
  const uint8_t* src = static_cast<const uint8_t*>(p.src);
  uint8_t* dst = static_cast<uint8_t*>(p.dst);
  const size_t src_stride = size_t(p.sw) * px;
  const size_t win_stride = size_t(p.ww) * px;

  if (p.dw == p.sw && p.dh == p.sh) {  // Pillow copies an image resized to its own size
    for (int32_t y = 0; y < p.wh; ++y)
      memcpy(dst + size_t(y) * win_stride, src + size_t(p.wy + y) * src_stride + size_t(p.wx) * px, win_stride);
    return std::string();
  }
  if (p.filter == CLIP4J_RESAMPLE_NEAREST) {
    nearest(p, px);
    return std::string();
  }

  const Filter f = filter_of(p.filter);
  const bool need_h = p.dw != p.sw;
  const bool need_v = p.dh != p.sh;

  Coeffs cv;
  int64_t r0 = p.wy, r1 = p.wy + p.wh;  // source rows the vertical pass reads
  if (need_v) {
    precompute(p.sh, p.dh, f, p.wy, p.wh, cv);
    r0 = cv.start[0];
    r1 = r0;
    for (int32_t i = 0; i < p.wh; ++i) {
      r0 = std::min<int64_t>(r0, cv.start[size_t(i)]);
      r1 = std::max<int64_t>(r1, int64_t(cv.start[size_t(i)]) + cv.count[size_t(i)]);
    }
  }

  // The rows the vertical pass reads: either horizontally resampled rows r0..r1 (tmp) or the
  // source's window columns.
  std::vector<uint8_t> tmp;
  const uint8_t* view = src + size_t(p.wx) * px;
  size_t view_stride = src_stride;
  int64_t view_row0 = 0;
  if (need_h) {
    Coeffs ch;
    precompute(p.sw, p.dw, f, p.wx, p.ww, ch);
    tmp.resize(size_t(r1 - r0) * win_stride);
    hpass(p.type, p.channels, src + size_t(r0) * src_stride, src_stride, r1 - r0, ch, p.ww, tmp.data());
    view = tmp.data();
    view_stride = win_stride;
    view_row0 = r0;
  }
  if (need_v) {
    vpass(p.type, p.channels, view, view_stride, view_row0, p.ww, cv, p.wh, dst);
  } else {
    for (int32_t y = 0; y < p.wh; ++y)
      memcpy(dst + size_t(y) * win_stride, view + size_t(p.wy + y - view_row0) * view_stride, win_stride);
  }
  return std::string();
}

}  // namespace clip4j
