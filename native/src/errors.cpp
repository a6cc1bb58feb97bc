#include "errors.h"

#include <new>

namespace clip4j {
namespace {
thread_local std::string t_last_error;
}  // namespace

clip4j_status fail(clip4j_status status, const std::string& message) {
  try {
    t_last_error = message;
  } catch (...) {
    // Allocation of the message failed: keep the status, drop the text.
  }
  return status;
}

clip4j_status ok() {
  t_last_error.clear();
  return CLIP4J_OK;
}

}  // namespace clip4j

extern "C" const char* clip4j_last_error(void) { return clip4j::t_last_error.c_str(); }
