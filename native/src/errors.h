// Thread-local last-error handling for the C ABI: every entry point returns a status and,
// on failure, leaves a message that clip4j_last_error() returns on the same thread.
#pragma once

#include <string>

#include "clip4j/clip4j.h"

namespace clip4j {

// Records `message` as the calling thread's last error and returns `status`.
clip4j_status fail(clip4j_status status, const std::string& message);

// Clears the calling thread's last error and returns CLIP4J_OK.
clip4j_status ok();

}  // namespace clip4j

// Wraps an entry point body: any C++ exception becomes a status, never an unwinding into C/JNI.
#define CLIP4J_API_GUARD_BEGIN try {
#define CLIP4J_API_GUARD_END                                                                   \
  }                                                                                            \
  catch (const std::bad_alloc&) {                                                              \
    return ::clip4j::fail(CLIP4J_ERR_OUT_OF_MEMORY, "out of host memory");                     \
  }                                                                                            \
  catch (const std::exception& e) {                                                            \
    return ::clip4j::fail(CLIP4J_ERR_INTERNAL, std::string("internal error: ") + e.what());    \
  }                                                                                            \
  catch (...) {                                                                                \
    return ::clip4j::fail(CLIP4J_ERR_INTERNAL, "internal error: unknown exception");           \
  }
