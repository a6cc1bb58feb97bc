// The private ABI between libclip4j and its CUDA companion libclip4j_cuda (same build only).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "head_params.h"

namespace clip4j {

// The row of activations is kept in shared memory: 8192 floats = 32 KiB.
constexpr int64_t kCudaMaxDOut = 8192;

// Returns CLIP4J_ABI_VERSION of the build the companion belongs to.
using abi_fn = int32_t (*)();
// Launches the head kernel on `stream`; on failure writes a message into err[err_len].
using head_forward_fn = int32_t (*)(const HeadParams* p, int32_t dtype, int32_t out_dtype,
                                    void* stream, char* err, size_t err_len);

}  // namespace clip4j
