#include "errors.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so after the
// first few weight tensors are freed, later ones come from the heap, and what is freed there stays
// resident: loading ViT-B-32 tensor by tensor then kept ~0.4x the weights of free heap. malloc_trim
// gives the free pages back (madvise), without changing malloc's settings for the process.
extern "C" clip4j_status clip4j_release_free_memory(int32_t* released) {
  if (released != nullptr) {
    *released = 0;
  }
#if defined(__GLIBC__)
  int r = malloc_trim(0);
  if (released != nullptr) {
    *released = r;
  }
#endif
  return clip4j::ok();
}
