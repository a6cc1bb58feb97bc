/* Compiled as strict C99: proves clip4j.h is a plain C header, then makes one call through it. */
#include <stdio.h>
#include <string.h>

#include "clip4j/clip4j.h"

int main(void) {
  float x[2] = {3.0f, 4.0f};
  float out[2] = {0.0f, 0.0f};
  int32_t available = -1;
  clip4j_status st = clip4j_head_forward_f32(x, 1, 2, NULL, CLIP4J_LAYOUT_IN_OUT, 2, NULL,
                                             CLIP4J_ACT_IDENTITY, 1, CLIP4J_DEFAULT_NORM_EPS, out);
  if (st != CLIP4J_OK || out[0] < 0.5999f || out[0] > 0.6001f || out[1] < 0.7999f || out[1] > 0.8001f) {
    fprintf(stderr, "unexpected result %d: %f %f (%s)\n", (int)st, out[0], out[1], clip4j_last_error());
    return 1;
  }
  st = clip4j_head_forward_f32(x, 1, 2, NULL, 7, 2, NULL, CLIP4J_ACT_IDENTITY, 1, 1e-12f, out);
  if (st != CLIP4J_ERR_INVALID_ARGUMENT || strstr(clip4j_last_error(), "w_layout") == NULL) {
    fprintf(stderr, "bad layout not reported: %d '%s'\n", (int)st, clip4j_last_error());
    return 1;
  }
  if (clip4j_cuda_available(&available) != CLIP4J_OK || (available != 0 && available != 1)) return 1;
  printf("clip4j %s, cuda available: %d%s%s\n", clip4j_version(), (int)available,
         available ? "" : ", because: ", available ? "" : clip4j_last_error());
  {
    int32_t kernels = -1;
    st = clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AUTO, CLIP4J_DTYPE_F32, &kernels);
    if (!((st == CLIP4J_OK && (kernels == CLIP4J_CPU_KERNELS_AVX2 || kernels == CLIP4J_CPU_KERNELS_AVX512)) ||
          (st == CLIP4J_ERR_UNSUPPORTED && kernels == CLIP4J_CPU_KERNELS_AUTO))) {
      fprintf(stderr, "cpu kernels: %d %d (%s)\n", (int)st, (int)kernels, clip4j_last_error());
      return 1;
    }
  }
  return 0;
}
