// The CUDA entry points' behaviour that a host without a GPU can check: clip4j_cuda_available
// and clip4j_head_forward_cuda agree, a refusal always says why, arguments are validated before
// CUDA is needed. On a GPU host the same assertions hold with available == 1.
#include <stdio.h>
#include <string.h>

#include <string>

#include "clip4j/clip4j.h"

static int failures = 0;
#define CHECK(cond, ...)                                       \
  do {                                                         \
    if (!(cond)) {                                             \
      ++failures;                                              \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                            \
      fprintf(stderr, "\n");                                   \
    }                                                          \
  } while (0)

int main() {
  int32_t available = -1;
  CHECK(clip4j_cuda_available(nullptr) == CLIP4J_ERR_INVALID_ARGUMENT, "NULL out-pointer");
  CHECK(clip4j_cuda_available(&available) == CLIP4J_OK, "status");
  std::string why = clip4j_last_error();
  CHECK(available == 0 || available == 1, "available=%d", available);
  printf("clip4j_cuda_available: %d%s%s\n", available, why.empty() ? "" : ": ", why.c_str());
  if (available == 0) {
    // The reason names the layer that failed.
    bool named = why.find("built without CUDA") != std::string::npos ||
                 why.find("could not be loaded") != std::string::npos ||
                 why.find("no usable device") != std::string::npos || why.find("no CUDA device") != std::string::npos;
    CHECK(named, "unexplained refusal: '%s'", why.c_str());
  } else {
    CHECK(why.empty(), "available but a message: %s", why.c_str());
  }
  // The same answer a second time (decided once).
  int32_t again = -1;
  CHECK(clip4j_cuda_available(&again) == CLIP4J_OK && again == available, "again=%d", again);

  // Arguments are checked before CUDA is needed: the same INVALID_ARGUMENT with or without a GPU.
  int dummy = 0;
  clip4j_status st = clip4j_head_forward_cuda(&dummy, CLIP4J_DTYPE_F32, 1, 4, &dummy, CLIP4J_LAYOUT_IN_OUT, 8193,
                                              nullptr, CLIP4J_ACT_IDENTITY, 1, CLIP4J_DEFAULT_NORM_EPS, &dummy,
                                              CLIP4J_DTYPE_F32, nullptr);
  CHECK(st == CLIP4J_ERR_INVALID_ARGUMENT && strstr(clip4j_last_error(), "8192") != nullptr,
        "d_out 8193: status %d '%s'", st, clip4j_last_error());
  st = clip4j_head_forward_cuda(&dummy, 7, 1, 4, &dummy, CLIP4J_LAYOUT_IN_OUT, 4, nullptr, CLIP4J_ACT_IDENTITY, 1,
                                CLIP4J_DEFAULT_NORM_EPS, &dummy, CLIP4J_DTYPE_F32, nullptr);
  CHECK(st == CLIP4J_ERR_INVALID_ARGUMENT && strstr(clip4j_last_error(), "dtype") != nullptr,
        "dtype 7: status %d '%s'", st, clip4j_last_error());

  // Valid arguments with n = 0: nothing to launch; without CUDA the refusal carries the reason.
  st = clip4j_head_forward_cuda(&dummy, CLIP4J_DTYPE_F32, 0, 4, &dummy, CLIP4J_LAYOUT_IN_OUT, 4, nullptr,
                                CLIP4J_ACT_IDENTITY, 1, CLIP4J_DEFAULT_NORM_EPS, &dummy, CLIP4J_DTYPE_F32, nullptr);
  if (available) {
    CHECK(st == CLIP4J_OK, "n=0 on a CUDA host: %d '%s'", st, clip4j_last_error());
  } else {
    CHECK(st == CLIP4J_ERR_UNSUPPORTED, "without CUDA: status %d", st);
    CHECK(std::string(clip4j_last_error()).find(why) != std::string::npos, "reason differs: '%s' vs '%s'",
          clip4j_last_error(), why.c_str());
  }
  if (failures == 0) printf("cuda loader: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
