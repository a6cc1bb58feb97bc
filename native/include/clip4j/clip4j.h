/*
 * clip4j.h - the C ABI of clip4j's native library (libclip4j).
 *
 * This header is the whole contract between the Java facade (through the JavaCPP
 * bindings generated from it) and the C++/CUDA kernels. It is plain C: no LibTorch
 * types ever cross it. Tensors arrive as raw data pointers plus sizes; on CUDA the
 * caller also hands over the cudaStream_t it wants the work queued on, as a void*.
 *
 * Basic usage (CPU fused embedding head):
 *
 *     // x: [n, d_in] features, w: [d_in, d_out] CLIP projection, out: [n, d_out]
 *     clip4j_status st = clip4j_head_forward_f32(x, n, d_in, w, CLIP4J_LAYOUT_IN_OUT, d_out,
 *                                                NULL, CLIP4J_ACT_IDENTITY, 1,
 *                                                CLIP4J_DEFAULT_NORM_EPS, out);
 *     if (st != CLIP4J_OK) fprintf(stderr, "clip4j: %s\n", clip4j_last_error());
 *
 * Error handling: every function returns a clip4j_status. No C++ exception and no
 * abort() ever leaves this library; on failure a message is kept per calling thread
 * and read with clip4j_last_error(). Inputs are validated and reported as
 * CLIP4J_ERR_INVALID_ARGUMENT, but the library cannot check that a pointer really
 * addresses as many elements as the sizes claim: callers (the Java facade) must.
 *
 * Memory: the library never keeps a pointer it was given after the call returns,
 * and allocates no memory per call (the CUDA kernels none at all).
 */
#ifndef CLIP4J_CLIP4J_H
#define CLIP4J_CLIP4J_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this ABI; bumped whenever a declaration here changes incompatibly. */
#define CLIP4J_ABI_VERSION 1

/** Default epsilon of the L2 normalisation: y / max(||y||_2, eps), as torch.nn.functional.normalize. */
#define CLIP4J_DEFAULT_NORM_EPS 1e-12f

/**
 * Status codes. The Java enum dev.clip4j.ErrorCode mirrors these one to one (a test checks it).
 * Codes 6..9 are raised by the Java layers only; they live here so both sides share one table.
 */
typedef enum clip4j_status {
  CLIP4J_OK = 0,
  CLIP4J_ERR_INVALID_ARGUMENT = 1, /* a size, pointer or enum value is out of its domain */
  CLIP4J_ERR_UNSUPPORTED = 2,      /* valid, but not built in or not implemented (e.g. no CUDA) */
  CLIP4J_ERR_OUT_OF_MEMORY = 3,    /* host or device allocation failed */
  CLIP4J_ERR_CUDA = 4,             /* a CUDA runtime call or kernel launch failed */
  CLIP4J_ERR_INTERNAL = 5,         /* a bug in clip4j: please report it */
  CLIP4J_ERR_INVALID_MODEL = 6,    /* a model file or configuration is wrong */
  CLIP4J_ERR_INVALID_INPUT = 7,    /* a user input (image, text, tensor) is wrong */
  CLIP4J_ERR_OVERLOADED = 8,       /* a queue or budget is full; retry later */
  CLIP4J_ERR_IO = 9                /* a file could not be read or written */
} clip4j_status;

/** Activation applied after the projection (and bias) and before the normalisation. */
typedef enum clip4j_activation {
  CLIP4J_ACT_IDENTITY = 0,   /* y = x (CLIP's embedding head) */
  CLIP4J_ACT_QUICK_GELU = 1, /* y = x * sigmoid(1.702 x) (OpenAI CLIP) */
  CLIP4J_ACT_GELU = 2,       /* y = 0.5 x (1 + erf(x / sqrt(2))) (nn.GELU) */
  CLIP4J_ACT_TANH = 3        /* y = tanh(x) */
} clip4j_activation;

/** Memory layout of a projection matrix. */
typedef enum clip4j_weight_layout {
  CLIP4J_LAYOUT_IN_OUT = 0, /* w is [d_in, d_out], y = x @ w (CLIP's `proj`, `text_projection`) */
  CLIP4J_LAYOUT_OUT_IN = 1  /* w is [d_out, d_in], y = x @ w^T (nn.Linear's `weight`) */
} clip4j_weight_layout;

/** Element types of the CUDA entry points. */
typedef enum clip4j_dtype {
  CLIP4J_DTYPE_F32 = 0,
  CLIP4J_DTYPE_F16 = 1,
  CLIP4J_DTYPE_BF16 = 2
} clip4j_dtype;

/**
 * The library's version string, e.g. "0.1.0 (cuda: built)". Never NULL; static storage.
 * Thread safety: safe from any thread.
 */
const char* clip4j_version(void);

/**
 * The message of the last failed call on the calling thread ("" if none). The pointer
 * stays valid until the next clip4j call on the same thread.
 * Thread safety: safe from any thread; each thread sees its own message.
 */
const char* clip4j_last_error(void);

/**
 * Fused embedding head on the CPU, fp32:
 *
 *     out[r, :] = normalize(act(x[r, :] @ W + bias))      for r in [0, n)
 *
 * x      [n, d_in] row-major, contiguous.
 * w      the projection, laid out as `w_layout` says, or NULL for no projection (then d_out
 *        must equal d_in and only bias/activation/normalisation are applied).
 * bias   [d_out] or NULL (CLIP projections have no bias).
 * activation  a clip4j_activation.
 * normalize   non-zero to L2-normalise each row: y / max(||y||_2, eps). The norm is computed
 *        with scaling, so rows with huge values normalise without overflow.
 * eps    > 0 and finite; CLIP4J_DEFAULT_NORM_EPS matches torch.nn.functional.normalize.
 * out    [n, d_out] row-major; may not alias x, w or bias.
 * n == 0 is allowed (nothing is written). d_in, d_out >= 1.
 * Thread safety: safe from any thread on distinct output buffers; single-threaded per call.
 */
clip4j_status clip4j_head_forward_f32(const float* x, int64_t n, int64_t d_in, const float* w,
                                      int32_t w_layout, int64_t d_out, const float* bias,
                                      int32_t activation, int32_t normalize, float eps, float* out);

/**
 * Whether the CUDA kernels can be used in this process: sets *available to 1 if the
 * companion library libclip4j_cuda was built and could be loaded with its CUDA runtime,
 * else 0 (then clip4j_last_error() says why). Loads the companion library on first call.
 * Thread safety: safe from any thread.
 */
clip4j_status clip4j_cuda_available(int32_t* available);

/**
 * Fused embedding head on a CUDA device; the same math as clip4j_head_forward_f32.
 *
 * All pointers are device pointers on the current device. x, w and bias share `dtype`
 * (a clip4j_dtype: fp32, fp16 or bf16); accumulation is fp32; `out` has `out_dtype`.
 * `stream` is the cudaStream_t to launch on (NULL = the legacy default stream).
 * Exactly one kernel launch, no host synchronisation, no allocation. Requires
 * d_out <= 8192 (the row is kept in shared memory). Launch errors are returned as
 * CLIP4J_ERR_CUDA; errors of the kernel itself surface at the caller's next sync.
 * Returns CLIP4J_ERR_UNSUPPORTED when the library was built without CUDA or the
 * companion library cannot be loaded.
 * Thread safety: safe from any thread on distinct output buffers.
 */
clip4j_status clip4j_head_forward_cuda(const void* x, int32_t dtype, int64_t n, int64_t d_in,
                                       const void* w, int32_t w_layout, int64_t d_out,
                                       const void* bias, int32_t activation, int32_t normalize,
                                       float eps, void* out, int32_t out_dtype, void* stream);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CLIP4J_CLIP4J_H */
