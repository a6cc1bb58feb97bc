// The private ABI between libclip4j and its CUDA companion libclip4j_cuda (same build only).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "head_params.h"

namespace clip4j {

// The row of activations is kept in shared memory: 8192 floats = 32 KiB.
constexpr int64_t kCudaMaxDOut = 8192;

// Version of this private interface; libclip4j loads only a companion of the same version.
constexpr int32_t kCudaImplAbi = 2;

// Returns kCudaImplAbi of the build the companion belongs to.
using abi_fn = int32_t (*)();
// Sets *count to the number of CUDA devices the runtime sees; on failure (no driver, a driver
// older than the runtime, no device) returns non-zero and writes the runtime's reason into err.
using device_count_fn = int32_t (*)(int32_t* count, char* err, size_t err_len);
// Launches the head kernel on `stream`; on failure writes a message into err[err_len]. A CUDA
// error already pending on the calling thread before the launch (left by earlier work, e.g.
// LibTorch's) is reported as that, not as the head's: the head is then not launched.
using head_forward_fn = int32_t (*)(const HeadParams* p, int32_t dtype, int32_t out_dtype,
                                    void* stream, char* err, size_t err_len);

}  // namespace clip4j
