// Unit tests of the Pillow-identical resampler and the preprocessing pipeline. Expected values
// are computed by hand (see the comments), by an independent double-precision formulation of
// the convolution below, or are literal outputs of Pillow 9.4's Image.resize.
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

#define CHECK(cond, ...)                                              \
  do {                                                                \
    ++g_checks;                                                       \
    if (!(cond)) {                                                    \
      ++g_failures;                                                   \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                   \
      fprintf(stderr, "\n");                                          \
    }                                                                 \
  } while (0)

using Bytes = std::vector<uint8_t>;

Bytes resample(const Bytes& src, int sw, int sh, int ch, int dw, int dh, int filter) {
  Bytes out(size_t(dw) * dh * ch, 0xAB);
  clip4j_status st = clip4j_resample_u8(src.data(), sw, sh, ch, out.data(), dw, dh, filter);
  CHECK(st == CLIP4J_OK, "status %d: %s", int(st), clip4j_last_error());
  return out;
}

std::string show(const Bytes& v) {
  std::string s;
  for (uint8_t b : v) s += std::to_string(b) + ",";
  return s;
}

// The pattern the Pillow literals below were computed from.
Bytes pattern(int w, int h, int ch) {
  Bytes a(size_t(w) * h * ch);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < ch; ++c) a[(size_t(y) * w + x) * ch + c] = uint8_t((x * 37 + y * 91 + c * 53 + (x * y * 13) % 29) % 256);
  return a;
}

// ---- independent formulation: weights filter((j + 0.5 - center) / fs) over every input j ----
double ref_filter(double x, int filter) {
  x = fabs(x);
  if (filter == CLIP4J_RESAMPLE_BILINEAR) return x < 1 ? 1 - x : 0;
  // Keys cubic with a = -0.5 written out: 1.5|x|^3 - 2.5|x|^2 + 1, -0.5|x|^3 + 2.5|x|^2 - 4|x| + 2
  if (x < 1) return 1.5 * x * x * x - 2.5 * x * x + 1;
  if (x < 2) return -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
  return 0;
}

// 1-D resize of n_in samples to n_out; returns the exact (unrounded) values.
std::vector<double> ref_line(const std::vector<double>& in, int n_out, int filter) {
  const int n_in = int(in.size());
  const double scale = double(n_in) / n_out, fs = scale < 1 ? 1 : scale;
  std::vector<double> out(static_cast<size_t>(n_out), 0.0);
  for (int i = 0; i < n_out; ++i) {
    const double center = (i + 0.5) * scale;
    double num = 0, den = 0;
    for (int j = 0; j < n_in; ++j) {
      const double w = ref_filter((j + 0.5 - center) / fs, filter);
      num += w * in[size_t(j)];
      den += w;
    }
    out[size_t(i)] = num / den;
  }
  return out;
}

// A value whose rounding the 22-bit fixed point could legitimately decide either way.
bool near_tie(double v) { return fabs(v - floor(v) - 0.5) < 1e-3; }

uint8_t round_clip(double v) { return uint8_t(v < 0 ? 0 : v > 255 ? 255 : floor(v + 0.5)); }

void test_bilinear_upscale_by_hand() {
  // 2 -> 4, scale 0.5: centers 0.25, 0.75, 1.25, 1.75. Edge outputs see one input (weight
  // normalised to 1); the middle ones weigh (0.75, 0.25) and (0.25, 0.75): 63.75 -> 64, 191.25 -> 191.
  Bytes out = resample({0, 255}, 2, 1, 1, 4, 1, CLIP4J_RESAMPLE_BILINEAR);
  CHECK(out == Bytes({0, 64, 191, 255}), "got %s", show(out).c_str());
  // The same vertically (a 1x2 column -> 1x4), and per channel for RGB.
  out = resample({0, 255}, 1, 2, 1, 1, 4, CLIP4J_RESAMPLE_BILINEAR);
  CHECK(out == Bytes({0, 64, 191, 255}), "got %s", show(out).c_str());
  out = resample({0, 100, 255, 255, 0, 100}, 2, 1, 3, 4, 1, CLIP4J_RESAMPLE_BILINEAR);
  // channel 1: 100, 0.75*100 + 0.25*0 = 75, 25, 0
  CHECK(out == Bytes({0, 100, 255, 64, 75, 216, 191, 25, 139, 255, 0, 100}), "got %s", show(out).c_str());
}

void test_nearest_by_hand() {
  // 5 -> 3: step 5/3 from 5/6: positions 0.83, 2.5, 4.17 -> inputs 0, 2, 4.
  Bytes out = resample({10, 20, 30, 40, 50}, 5, 1, 1, 3, 1, CLIP4J_RESAMPLE_NEAREST);
  CHECK(out == Bytes({10, 30, 50}), "got %s", show(out).c_str());
  // 3 -> 7: step 3/7 from 3/14: 0.21, 0.64, 1.07, 1.5, 1.93, 2.36, 2.79 -> 0 0 1 1 1 2 2.
  out = resample({10, 20, 30}, 3, 1, 1, 7, 1, CLIP4J_RESAMPLE_NEAREST);
  CHECK(out == Bytes({10, 10, 20, 20, 20, 30, 30}), "got %s", show(out).c_str());
  // Vertically, 4 channels moved as a whole.
  out = resample({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 1, 3, 4, 1, 2, CLIP4J_RESAMPLE_NEAREST);
  // 3 -> 2: positions 0.75, 2.25 -> rows 0, 2.
  CHECK(out == Bytes({1, 2, 3, 4, 9, 10, 11, 12}), "got %s", show(out).c_str());
}

void test_pillow_literals() {
  // Pillow 9.4: Image.fromarray(pattern(7, 5, 3), 'RGB').resize((3, 4), Image.BICUBIC)
  Bytes a = resample(pattern(7, 5, 3), 7, 5, 3, 3, 4, CLIP4J_RESAMPLE_BICUBIC);
  const Bytes ea = {46,  104, 150, 122, 156, 182, 160, 133, 102, 164, 167, 141, 110, 88,  108, 64,  132, 154,
                    100, 104, 127, 103, 159, 180, 200, 118, 91,  131, 190, 114, 157, 123, 91,  95,  97,  150};
  CHECK(a == ea, "got %s", show(a).c_str());
  // Pillow 9.4: Image.fromarray(pattern(4, 3, 1)[..., 0], 'L').resize((9, 7), Image.BILINEAR)
  Bytes b = resample(pattern(4, 3, 1), 4, 3, 1, 9, 7, CLIP4J_RESAMPLE_BILINEAR);
  const Bytes eb = {0,   6,   23,  39,  56,  72,  88,  105, 111, 13,  19,  37,  54,  72,  89,  104,
                    120, 125, 52,  59,  80,  99,  119, 138, 151, 164, 169, 91,  99,  122, 144, 166,
                    188, 199, 208, 212, 130, 139, 164, 182, 152, 122, 129, 141, 146, 169, 180, 207,
                    220, 139, 57,  59,  73,  79,  182, 193, 221, 233, 134, 35,  36,  51,  57};
  CHECK(b == eb, "got %s", show(b).c_str());
  // Extreme aspect ratio: a 1x300 column to 3x7 (downscale by 42.86 vertically, support 85.7).
  Bytes c = resample(pattern(1, 300, 1), 1, 300, 1, 3, 7, CLIP4J_RESAMPLE_BICUBIC);
  const Bytes ec = {126, 126, 126, 130, 130, 130, 128, 128, 128, 128, 128, 128, 127, 127, 127, 125, 125, 125, 126, 126, 126};
  CHECK(c == ec, "got %s", show(c).c_str());
}

void test_one_pixel_images() {
  // Upscaling a single pixel: every output sees one input with weight 1 -> the value itself.
  for (int filter : {CLIP4J_RESAMPLE_NEAREST, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESAMPLE_BICUBIC}) {
    Bytes out = resample({7, 200, 33}, 1, 1, 3, 5, 3, filter);
    bool same = true;
    for (int i = 0; i < 15; ++i) same = same && out[size_t(i)] == Bytes({7, 200, 33})[size_t(i % 3)];
    CHECK(same, "filter %d got %s", filter, show(out).c_str());
  }
  // Downscaling to one pixel: the normalised weighted mean over the whole support.
  Bytes out = resample({0, 255}, 2, 1, 1, 1, 1, CLIP4J_RESAMPLE_BILINEAR);  // center 1: weights 0.5/0.5
  CHECK(out == Bytes({128}), "got %s", show(out).c_str());                   // 127.5 rounds up
  out = resample({9}, 1, 1, 1, 1, 1, CLIP4J_RESAMPLE_BICUBIC);
  CHECK(out == Bytes({9}), "got %s", show(out).c_str());
}

// 1-D resizes against the independent formulation: exact except at near-ties.
void test_against_double_reference() {
  std::mt19937 rng(42);
  int compared = 0, skipped = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int filter = trial % 2 ? CLIP4J_RESAMPLE_BICUBIC : CLIP4J_RESAMPLE_BILINEAR;
    const int n_in = 1 + int(rng() % 60), n_out = 1 + int(rng() % 60);
    const bool horizontal = trial % 3 != 0;
    std::vector<double> line(static_cast<size_t>(n_in), 0.0);
    Bytes src(static_cast<size_t>(n_in), 0);
    for (int i = 0; i < n_in; ++i) {
      src[size_t(i)] = uint8_t(trial % 5 == 0 ? (rng() % 2) * 255 : rng() % 256);  // hard edges overshoot
      line[size_t(i)] = src[size_t(i)];
    }
    Bytes got = horizontal ? resample(src, n_in, 1, 1, n_out, 1, filter) : resample(src, 1, n_in, 1, 1, n_out, filter);
    std::vector<double> ref = ref_line(line, n_out, filter);
    for (int i = 0; i < n_out; ++i) {
      if (n_in != n_out && near_tie(ref[size_t(i)])) {
        ++skipped;
        continue;
      }
      ++compared;
      const uint8_t want = n_in == n_out ? src[size_t(i)] : round_clip(ref[size_t(i)]);
      CHECK(got[size_t(i)] == want, "trial %d %d->%d i=%d got %d want %d (%.6f)", trial, n_in, n_out, i,
            got[size_t(i)], want, ref[size_t(i)]);
    }
  }
  CHECK(compared > 10000 && skipped < compared / 20, "compared %d skipped %d", compared, skipped);
}

// ---- the pipeline ----
const float kZero[3] = {0, 0, 0};
const float kOne[3] = {1, 1, 1};

std::vector<float> preprocess(const Bytes& px, int w, int h, int format, int filter, int mode, int size,
                              const uint8_t fill[3], const float* mean = kZero, const float* stddev = kOne,
                              clip4j_status* status = nullptr) {
  std::vector<float> batch(size_t(2) * 3 * size * size, -7.0f);
  clip4j_status st = clip4j_preprocess_image(px.data(), w, h, format, filter, mode, size, fill, mean, stddev,
                                             batch.data(), 2, 1);
  if (status) *status = st;
  else CHECK(st == CLIP4J_OK, "status %d: %s", int(st), clip4j_last_error());
  for (size_t i = 0; i < size_t(3) * size * size; ++i) CHECK(batch[i] == -7.0f, "slot 0 written at %zu", i);
  return std::vector<float>(batch.begin() + 3 * size * size, batch.end());
}

const uint8_t kBlack[3] = {0, 0, 0};

// Output channel c of pixel (y, x) as the byte it came from (mean 0, std 1 -> v / 255).
int byte_at(const std::vector<float>& out, int size, int c, int y, int x) {
  const float v = out[size_t(c) * size * size + size_t(y) * size + x];
  const int b = int(lround(v * 255.0f));
  CHECK(v == float(b) / 255.0f, "not a byte: %f", double(v));
  return b;
}

void test_crop_rounds_half_to_even() {
  // Height 2 = size: widths 3, 5, 7, 9 keep their size (shortest side already 2), so the crop
  // picks columns left = round((w - 2) / 2) = round(0.5, 1.5, 2.5, 3.5) = 0, 2, 2, 4.
  const int widths[4] = {3, 5, 7, 9}, lefts[4] = {0, 2, 2, 4};
  for (int t = 0; t < 4; ++t) {
    const int w = widths[t];
    Bytes px(size_t(w) * 2);
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < w; ++x) px[size_t(y) * w + x] = uint8_t(10 * x + y);
    std::vector<float> out = preprocess(px, w, 2, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 2, kBlack);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x) {
          const int got = byte_at(out, 2, c, y, x);
          CHECK(got == 10 * (x + lefts[t]) + y, "w=%d c=%d y=%d x=%d got %d", w, c, y, x, got);
        }
  }
  // The same vertically: 2 x 5 -> top = round(1.5) = 2.
  Bytes px(10);
  for (int y = 0; y < 5; ++y) px[size_t(y) * 2] = px[size_t(y) * 2 + 1] = uint8_t(y * 20);
  std::vector<float> out = preprocess(px, 2, 5, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 2, kBlack);
  CHECK(byte_at(out, 2, 0, 0, 0) == 40 && byte_at(out, 2, 0, 1, 1) == 60, "got %d %d", byte_at(out, 2, 0, 0, 0),
        byte_at(out, 2, 0, 1, 1));
}

void test_floor_crop() {
  // CLIP4J_RESIZE_SHORTEST_FLOOR_CROP (transformers' center_crop): left = floor((w - 2) / 2) =
  // 0, 1, 2, 3 for widths 3, 5, 7, 9, where SHORTEST rounds half to even (0, 2, 2, 4).
  const int widths[4] = {3, 5, 7, 9}, lefts[4] = {0, 1, 2, 3};
  for (int t = 0; t < 4; ++t) {
    const int w = widths[t];
    Bytes px(size_t(w) * 2);
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < w; ++x) px[size_t(y) * w + x] = uint8_t(10 * x + y);
    std::vector<float> out =
        preprocess(px, w, 2, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST_FLOOR_CROP, 2, kBlack);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x) {
          const int got = byte_at(out, 2, c, y, x);
          CHECK(got == 10 * (x + lefts[t]) + y, "floor crop w=%d c=%d y=%d x=%d got %d", w, c, y, x, got);
        }
  }
  // Vertically: 2 x 5 -> top = floor(1.5) = 1 (SHORTEST: 2).
  Bytes px(10);
  for (int y = 0; y < 5; ++y) px[size_t(y) * 2] = px[size_t(y) * 2 + 1] = uint8_t(y * 20);
  std::vector<float> out =
      preprocess(px, 2, 5, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST_FLOOR_CROP, 2, kBlack);
  CHECK(byte_at(out, 2, 0, 0, 0) == 20 && byte_at(out, 2, 0, 1, 1) == 40, "floor crop got %d %d",
        byte_at(out, 2, 0, 0, 0), byte_at(out, 2, 0, 1, 1));
  // The resize itself is SHORTEST's: 3 x 2 to 4 -> 6 x 4, crop left floor(1) = 1 = round(1).
  Bytes rgb(3 * 2 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t(i * 13);
  std::vector<float> a = preprocess(rgb, 3, 2, CLIP4J_PIXEL_RGB8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 4, kBlack);
  std::vector<float> b =
      preprocess(rgb, 3, 2, CLIP4J_PIXEL_RGB8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST_FLOOR_CROP, 4, kBlack);
  CHECK(a == b, "an even excess crops the same either way");
}

void test_shortest_size_truncates() {
  // 3 x 2 to size 4: shorter side 2 -> 4, longer int(4 * 3 / 2) = 6; then crop left round(1) = 1.
  // Bilinear 3 -> 6 on a constant row stays constant; a ramp tells the columns apart. Instead of
  // re-deriving values, compare against resample_u8 of the whole 6x4 image, cropped.
  Bytes px = pattern(3, 2, 3);
  std::vector<float> out = preprocess(px, 3, 2, CLIP4J_PIXEL_RGB8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 4, kBlack);
  Bytes full = resample(px, 3, 2, 3, 6, 4, CLIP4J_RESAMPLE_BICUBIC);
  bool same = true;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) same = same && byte_at(out, 4, c, y, x) == full[(size_t(y) * 6 + x + 1) * 3 + c];
  CHECK(same, "window differs from the full resize, cropped");
  // 7 x 3 to size 2: int(2 * 7 / 3) = int(4.67) = 4 (truncation, not rounding to 5).
  px = pattern(7, 3, 1);
  out = preprocess(px, 7, 3, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESIZE_SHORTEST, 2, kBlack);
  full = resample(px, 7, 3, 1, 4, 2, CLIP4J_RESAMPLE_BILINEAR);  // crop left round(1) = 1
  same = true;
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) same = same && byte_at(out, 2, 1, y, x) == full[size_t(y) * 4 + x + 1];
  CHECK(same, "7x3 -> 4x2 not truncated");
}

void test_extreme_aspect_pipeline() {
  // 1 x 300 to 224: width 1 -> 224, height int(224 * 300) = 67200, crop rows 33488..33711.
  // Horizontally every output copies the single column; vertically each output row is the
  // independent double formulation of the 300 -> 67200 upscale, computed here for the window.
  Bytes px(300);
  std::vector<double> line(300);
  for (int y = 0; y < 300; ++y) line[size_t(y)] = px[size_t(y)] = uint8_t((y * 7919) % 256);
  std::vector<float> out = preprocess(px, 1, 300, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 224, kBlack);
  const double scale = 300.0 / 67200.0;
  int compared = 0;
  for (int oy = 0; oy < 224; ++oy) {
    const int i = oy + 33488;
    const double center = (i + 0.5) * scale;
    double num = 0, den = 0;
    for (int j = 0; j < 300; ++j) {
      const double w = ref_filter(j + 0.5 - center, CLIP4J_RESAMPLE_BICUBIC);
      num += w * line[size_t(j)];
      den += w;
    }
    const double v = num / den;
    if (near_tie(v)) continue;
    ++compared;
    const int want = round_clip(v);
    for (int x = 0; x < 224; x += 111) {
      CHECK(byte_at(out, 224, 2, oy, x) == want, "row %d x %d got %d want %d", oy, x, byte_at(out, 224, 2, oy, x), want);
    }
  }
  CHECK(compared > 200, "compared %d", compared);
}

void test_premultiplied_round_trip() {
  // RGBA (200, 100, 50, 128), 1x1 -> size 2 (a resize): premultiply with MULDIV255:
  // 200*128+128 = 25728, (25728/256 + 25728)/256 = 100; likewise 100 -> 50, 50 -> 25.
  // Upscaled copies; unpremultiply 255*v/128: 199, 99, 49 (the loss Pillow has too).
  const Bytes rgba = {200, 100, 50, 128};
  std::vector<float> out = preprocess(rgba, 1, 1, CLIP4J_PIXEL_RGBA8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 2, kBlack);
  CHECK(byte_at(out, 2, 0, 1, 1) == 199 && byte_at(out, 2, 1, 0, 1) == 99 && byte_at(out, 2, 2, 1, 0) == 49,
        "got %d %d %d", byte_at(out, 2, 0, 1, 1), byte_at(out, 2, 1, 0, 1), byte_at(out, 2, 2, 1, 0));
  // Same size: Pillow copies, no round trip; alpha dropped without compositing.
  out = preprocess(rgba, 1, 1, CLIP4J_PIXEL_RGBA8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 1, kBlack);
  CHECK(byte_at(out, 1, 0, 0, 0) == 200 && byte_at(out, 1, 1, 0, 0) == 100 && byte_at(out, 1, 2, 0, 0) == 50, "copy");
  // NEAREST never premultiplies.
  out = preprocess(rgba, 1, 1, CLIP4J_PIXEL_RGBA8, CLIP4J_RESAMPLE_NEAREST, CLIP4J_RESIZE_SHORTEST, 2, kBlack);
  CHECK(byte_at(out, 2, 0, 0, 0) == 200, "nearest premultiplied: %d", byte_at(out, 2, 0, 0, 0));
  // Alpha 0 and 255 keep the (premultiplied) colour: alpha 0 -> colour 0; LA gray 77 at alpha 255 stays.
  out = preprocess({200, 100, 50, 0}, 1, 1, CLIP4J_PIXEL_RGBA8, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESIZE_SQUASH, 2, kBlack);
  CHECK(byte_at(out, 2, 0, 0, 0) == 0, "alpha 0: %d", byte_at(out, 2, 0, 0, 0));
  out = preprocess({77, 255}, 1, 1, CLIP4J_PIXEL_LA8, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESIZE_SQUASH, 2, kBlack);
  CHECK(byte_at(out, 2, 0, 0, 0) == 77 && byte_at(out, 2, 2, 1, 1) == 77, "LA 255");
  // LA (77, 3): 77*3+128 = 359 -> (1 + 359) >> 8 = 1; back: 255*1/3 = 85.
  out = preprocess({77, 3}, 1, 1, CLIP4J_PIXEL_LA8, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESIZE_SQUASH, 2, kBlack);
  CHECK(byte_at(out, 2, 1, 1, 0) == 85, "LA 3: %d", byte_at(out, 2, 1, 1, 0));
}

void test_longest_pads() {
  // 4 x 2 to size 4: ratio max(1, 0.5) = 1 -> no resize; pad top (4-2)/2 = 1, bottom 1.
  Bytes px = pattern(4, 2, 3);
  const uint8_t fill[3] = {9, 8, 7};
  std::vector<float> out = preprocess(px, 4, 2, CLIP4J_PIXEL_RGB8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_LONGEST, 4, fill);
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 4; ++x) {
      CHECK(byte_at(out, 4, c, 0, x) == fill[c] && byte_at(out, 4, c, 3, x) == fill[c], "pad rows c=%d x=%d", c, x);
      CHECK(byte_at(out, 4, c, 1, x) == px[size_t(x) * 3 + c], "row 1");
      CHECK(byte_at(out, 4, c, 2, x) == px[(4 + size_t(x)) * 3 + c], "row 2");
    }
  // 2 x 5 to size 4: ratio 5/4, width round(2 / 1.25) = round(1.6) = 2, height 4; pad left 1, right 1.
  px = pattern(2, 5, 1);
  out = preprocess(px, 2, 5, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESIZE_LONGEST, 4, fill);
  Bytes full = resample(px, 2, 5, 1, 2, 4, CLIP4J_RESAMPLE_BILINEAR);
  for (int y = 0; y < 4; ++y) {
    CHECK(byte_at(out, 4, 0, y, 0) == 9 && byte_at(out, 4, 2, y, 3) == 7, "pad columns");
    CHECK(byte_at(out, 4, 1, y, 1) == full[size_t(y) * 2] && byte_at(out, 4, 1, y, 2) == full[size_t(y) * 2 + 1],
          "image columns");
  }
  // 3 x 1 to size 2: round(1 / 1.5) = round(0.67) = 1 row, width 2; pad top (2-1)/2 = 0.
  out = preprocess({0, 90, 180}, 3, 1, CLIP4J_PIXEL_L8, CLIP4J_RESAMPLE_NEAREST, CLIP4J_RESIZE_LONGEST, 2, fill);
  // nearest 3 -> 2: positions 0.75, 2.25 -> 0, 180
  CHECK(byte_at(out, 2, 0, 0, 0) == 0 && byte_at(out, 2, 0, 0, 1) == 180 && byte_at(out, 2, 0, 1, 0) == 9,
        "3x1 longest");
}

void test_i32_and_normalisation() {
  // Pillow "I": resized in double precision, then clipped to [0, 255] by convert('RGB').
  // 2 x 1 [0, 400] -> squash 4: bilinear 2 -> 4 = 0, 100, 300, 400 -> 0, 100, 255, 255.
  Bytes px(8);
  const int32_t v[2] = {0, 400};
  memcpy(px.data(), v, 8);
  std::vector<float> out = preprocess(px, 2, 1, CLIP4J_PIXEL_I32, CLIP4J_RESAMPLE_BILINEAR, CLIP4J_RESIZE_SQUASH, 4, kBlack);
  CHECK(byte_at(out, 4, 0, 2, 0) == 0 && byte_at(out, 4, 1, 0, 1) == 100 && byte_at(out, 4, 2, 3, 2) == 255 &&
            byte_at(out, 4, 0, 1, 3) == 255,
        "I32 got %d %d %d %d", byte_at(out, 4, 0, 2, 0), byte_at(out, 4, 1, 0, 1), byte_at(out, 4, 2, 3, 2),
        byte_at(out, 4, 0, 1, 3));
  // Normalisation in float32: (v / 255 - mean) / std, the OpenAI constants.
  const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
  const float stddev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  out = preprocess({255, 0, 128}, 1, 1, CLIP4J_PIXEL_RGB8, CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST, 1, kBlack,
                   mean, stddev);
  const float r = (255.0f / 255.0f - mean[0]) / stddev[0], g = (0.0f - mean[1]) / stddev[1];
  const float b = (128.0f / 255.0f - mean[2]) / stddev[2];
  CHECK(out[0] == r && out[1] == g && out[2] == b, "got %.9g %.9g %.9g", double(out[0]), double(out[1]), double(out[2]));
  CHECK(fabs(out[0] - 1.9303361) < 1e-6 && fabs(out[1] + 1.7520971) < 1e-6, "value %.9g %.9g", double(out[0]),
        double(out[1]));
}

void test_invalid_arguments() {
  Bytes px(12, 1), dst(12);
  std::vector<float> batch(3 * 4 * 2);
  const float mean[3] = {0, 0, 0}, stddev[3] = {1, 1, 1}, zero_std[3] = {1, 0, 1};
  auto bad = [&](clip4j_status st, const char* what) {
    CHECK(st == CLIP4J_ERR_INVALID_ARGUMENT, "%s: status %d", what, int(st));
    CHECK(strstr(clip4j_last_error(), what) != nullptr, "message '%s' lacks '%s'", clip4j_last_error(), what);
  };
  bad(clip4j_resample_u8(px.data(), 0, 1, 1, dst.data(), 1, 1, CLIP4J_RESAMPLE_BICUBIC), "src_w");
  bad(clip4j_resample_u8(px.data(), 1, 1, 5, dst.data(), 1, 1, CLIP4J_RESAMPLE_BICUBIC), "channels");
  bad(clip4j_resample_u8(px.data(), 1, 1, 1, dst.data(), 1, 1, 1), "filter");
  bad(clip4j_resample_u8(nullptr, 1, 1, 1, dst.data(), 1, 1, CLIP4J_RESAMPLE_BICUBIC), "src is NULL");
  bad(clip4j_resample_u8(px.data(), 1, 1, 1, dst.data(), 1, 1 << 25, CLIP4J_RESAMPLE_BICUBIC), "dst_h");
  auto pre = [&](int w, int h, int fmt, int filter, int mode, int size, const float* sd, int64_t cap, int64_t slot,
                 const uint8_t* pix, float* out) {
    return clip4j_preprocess_image(pix, w, h, fmt, filter, mode, size, kBlack, mean, sd, out, cap, slot);
  };
  const int L = CLIP4J_PIXEL_L8, BC = CLIP4J_RESAMPLE_BICUBIC, SH = CLIP4J_RESIZE_SHORTEST;
  bad(pre(2, 2, L, BC, SH, 2, stddev, 2, 2, px.data(), batch.data()), "slot");
  bad(pre(2, 2, L, BC, SH, 2, stddev, 2, -1, px.data(), batch.data()), "slot");
  bad(pre(2, 2, L, BC, SH, 2, stddev, 0, 0, px.data(), batch.data()), "capacity");
  bad(pre(2, 2, L, BC, SH, 0, stddev, 2, 0, px.data(), batch.data()), "size");
  bad(pre(2, 2, 9, BC, SH, 2, stddev, 2, 0, px.data(), batch.data()), "pixel format");
  bad(pre(2, 2, L, 7, SH, 2, stddev, 2, 0, px.data(), batch.data()), "filter");
  bad(pre(2, 2, L, BC, 4, 2, stddev, 2, 0, px.data(), batch.data()), "resize mode");
  bad(pre(2, 2, L, BC, SH, 2, zero_std, 2, 0, px.data(), batch.data()), "stddev[1]");
  bad(pre(0, 2, L, BC, SH, 2, stddev, 2, 0, px.data(), batch.data()), "width");
  bad(pre(2, 2, L, BC, SH, 2, stddev, 2, 0, nullptr, batch.data()), "pixels is NULL");
  bad(pre(2, 2, L, BC, SH, 2, stddev, 2, 0, px.data(), nullptr), "batch is NULL");
  bad(pre(65536, 65536, L, BC, SH, 2, stddev, 2, 0, px.data(), batch.data()), "width * height");
  // LONGEST on a 1 x 10000 strip to size 2: the short side would be round(1 / 5000) = 0.
  Bytes strip(10000, 3);
  bad(pre(1, 10000, L, BC, CLIP4J_RESIZE_LONGEST, 2, stddev, 2, 0, strip.data(), batch.data()), "too elongated");
  // A failed call leaves the slot untouched.
  bool untouched = true;
  for (float f : batch) untouched = untouched && f == 0.0f;
  CHECK(untouched, "batch written on failure");
}

}  // namespace

int main() {
  test_bilinear_upscale_by_hand();
  test_nearest_by_hand();
  test_pillow_literals();
  test_one_pixel_images();
  test_against_double_reference();
  test_crop_rounds_half_to_even();
  test_floor_crop();
  test_shortest_size_truncates();
  test_extreme_aspect_pipeline();
  test_premultiplied_round_trip();
  test_longest_pads();
  test_i32_and_normalisation();
  test_invalid_arguments();
  printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
