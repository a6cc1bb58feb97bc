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
 * and allocates no memory per call (the CUDA kernels none at all), except the image
 * preprocessing functions, which allocate their scratch buffers and free them before
 * returning (a failed allocation is CLIP4J_ERR_OUT_OF_MEMORY). Objects behind opaque
 * handles (a GEMM worker pool, a packed weight) own memory from their create call to
 * their destroy call.
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
 * Codes 6..11 are raised by the Java layers only; they live here so both sides share one table.
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
  CLIP4J_ERR_IO = 9,               /* a file could not be read or written */
  CLIP4J_ERR_NUMERICAL = 10,       /* a result is not finite or not unit-norm (degenerate weights or inputs) */
  CLIP4J_ERR_DEVICE = 11           /* the device asked for does not exist or is not usable on this host */
} clip4j_status;

/** Activation applied after the projection (and bias) and before the normalisation. */
typedef enum clip4j_activation {
  CLIP4J_ACT_IDENTITY = 0,   /* y = x (CLIP's embedding head) */
  CLIP4J_ACT_QUICK_GELU = 1, /* y = x * sigmoid(1.702 x) (OpenAI CLIP) */
  CLIP4J_ACT_GELU = 2,       /* y = 0.5 x (1 + erf(x / sqrt(2))) (nn.GELU) */
  CLIP4J_ACT_TANH = 3,       /* y = tanh(x) */
  CLIP4J_ACT_GELU_TANH = 4   /* y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (nn.GELU(approximate='tanh'),
                                HF's gelu_pytorch_tanh; SigLIP2's text MLPs) */
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
 * Gives free heap memory back to the operating system (glibc's malloc_trim(0); nothing elsewhere).
 * Sets *released (may be NULL) to 1 if memory was released, else 0. Called after loading weights
 * tensor by tensor, whose freed buffers would otherwise stay resident. Never fails.
 * Thread safety: safe from any thread.
 */
clip4j_status clip4j_release_free_memory(int32_t* released);

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
 * companion library libclip4j_cuda was built, could be loaded with its CUDA runtime, and that
 * runtime sees at least one CUDA device; else 0, and clip4j_last_error() says which of these
 * failed (not built with CUDA; libclip4j_cuda or libcudart.so.13 not loadable; no driver or a
 * driver too old for the runtime; no device), with the CUDA runtime's own error name where it
 * gave one. Decided once per process, on the first call (which loads the companion library).
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
 * d_out <= 8192 (the row is kept in shared memory). Each row is computed by one thread block in
 * a fixed order, so a row's result does not depend on n or on the other rows (any n up to 2^31).
 * Launch errors are returned as CLIP4J_ERR_CUDA; errors of the kernel itself surface at the
 * caller's next sync. A CUDA error already pending on the calling thread before the launch (left
 * by earlier work) is returned as CLIP4J_ERR_CUDA with a message saying so, and the head is not
 * launched. Returns CLIP4J_ERR_UNSUPPORTED when CUDA cannot be used (clip4j_cuda_available
 * would report 0), with the same reason.
 * Thread safety: safe from any thread on distinct output buffers.
 */
clip4j_status clip4j_head_forward_cuda(const void* x, int32_t dtype, int64_t n, int64_t d_in,
                                       const void* w, int32_t w_layout, int64_t d_out,
                                       const void* bias, int32_t activation, int32_t normalize,
                                       float eps, void* out, int32_t out_dtype, void* stream);

/* ======================================================================================
 * Image preprocessing
 *
 * open_clip's eval transform, bit-exact with Pillow 9.4 + torchvision 0.14:
 * Resize (Pillow's separable convolution resampler, or its nearest mapping) -> CenterCrop
 * (or pad) -> convert('RGB') -> ToTensor (/255) -> Normalize, written as float32 CHW
 * straight into one slot of a caller-owned NCHW batch:
 *
 *     // rgb: width * height * 3 bytes, row-major, interleaved
 *     const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
 *     const float stddev[3] = {0.26862954f, 0.26130258f, 0.27577711f};
 *     const uint8_t fill[3] = {0, 0, 0};
 *     float* batch = ...;  // [capacity, 3, 224, 224]
 *     clip4j_status st = clip4j_preprocess_image(rgb, width, height, CLIP4J_PIXEL_RGB8,
 *                                                CLIP4J_RESAMPLE_BICUBIC, CLIP4J_RESIZE_SHORTEST,
 *                                                224, fill, mean, stddev, batch, capacity, slot);
 *
 * Pillow's mode rules are the caller's: palette ("P") and bilevel ("1") images are expanded
 * to RGB / L first and resized with CLIP4J_RESAMPLE_NEAREST, as Pillow does whatever filter
 * was asked; LA and RGBA images are resized premultiplied (Pillow's "La"/"RGBa") here.
 * ====================================================================================== */

/** Resampling filters; the values are Pillow's (Image.Resampling). */
typedef enum clip4j_resample_filter {
  CLIP4J_RESAMPLE_NEAREST = 0,  /* Pillow's nearest mapping: src = (int)((i + 0.5) * in / out) */
  CLIP4J_RESAMPLE_BILINEAR = 2, /* triangle filter, support 1, antialiased when downscaling */
  CLIP4J_RESAMPLE_BICUBIC = 3   /* cubic convolution a = -0.5, support 2, antialiased */
} clip4j_resample_filter;

/** How the image is brought to size x size (open_clip's PreprocessCfg.resize_mode). */
typedef enum clip4j_resize_mode {
  CLIP4J_RESIZE_SHORTEST = 0, /* shorter side = size, longer = (int)(size * long / short); center crop */
  CLIP4J_RESIZE_LONGEST = 1,  /* longer side = size, shorter = round(short / (long / size)); center pad */
  CLIP4J_RESIZE_SQUASH = 2,   /* both sides = size, aspect ratio not kept */
  CLIP4J_RESIZE_SHORTEST_FLOOR_CROP = 3 /* as SHORTEST, but the crop offset is floor((h - size) / 2)
                                           (Hugging Face transformers' center_crop), not rounded */
} clip4j_resize_mode;

/** Pixel layouts of clip4j_preprocess_image, named after Pillow's image modes. */
typedef enum clip4j_pixel_format {
  CLIP4J_PIXEL_L8 = 1,    /* "L": one byte per pixel */
  CLIP4J_PIXEL_LA8 = 2,   /* "LA": gray, alpha (resized premultiplied) */
  CLIP4J_PIXEL_RGB8 = 3,  /* "RGB": three bytes per pixel */
  CLIP4J_PIXEL_RGBA8 = 4, /* "RGBA": red, green, blue, alpha (resized premultiplied) */
  CLIP4J_PIXEL_I32 = 5,   /* "I": one native-endian int32 per pixel (Pillow's mode for 16-bit
                             grayscale PNGs); resized in double precision, then clipped to
                             [0, 255] by the RGB conversion, as Pillow does */
  CLIP4J_PIXEL_CMYK8 = 6  /* "CMYK": cyan, magenta, yellow, black (0 = no ink), resized as four
                             independent channels, then converted with Pillow's formula:
                             v = clip(255 - k - (c * (255 - k)) / 255) per colour, rounded as
                             Pillow's MULDIV255 (no colour profile) */
} clip4j_pixel_format;

/**
 * Resizes an 8-bit image exactly as Pillow 9.4's Image.resize does for the modes L, LA
 * (without premultiplication), RGB, RGBA (ditto) and CMYK: the uint8 output is identical.
 *
 * src       src_h rows of src_w pixels, `channels` interleaved bytes each (1..4), no padding.
 * dst       dst_h rows of dst_w pixels, same layout; may not alias src.
 * filter    a clip4j_resample_filter. Convolution filters run horizontally first, then
 *           vertically, each pass rounding and clipping to uint8 with Pillow's 22-bit
 *           fixed-point coefficients; a pass whose size does not change is skipped; the
 *           support grows with the downscale factor (antialiasing).
 * Sizes are in [1, 2^24]. Equal sizes copy the image.
 * Allocates scratch memory (coefficients, one intermediate image) and frees it before returning.
 * Thread safety: safe from any thread on distinct output buffers.
 */
clip4j_status clip4j_resample_u8(const uint8_t* src, int32_t src_w, int32_t src_h, int32_t channels,
                                 uint8_t* dst, int32_t dst_w, int32_t dst_h, int32_t filter);

/**
 * The whole open_clip eval transform for one image, written into slot `slot` of a float32
 * NCHW batch `batch` of `capacity` images of [3, size, size]:
 *
 * 1. Resize (Pillow rules): SHORTEST (and SHORTEST_FLOOR_CROP): the shorter side becomes `size`, the longer
 *    (int)(size * long / short) (torchvision's Resize(int)); LONGEST: both sides become
 *    round_half_even(side / (long / size)) (open_clip's ResizeKeepRatio(longest=1));
 *    SQUASH: size x size. LA/RGBA are premultiplied before and unpremultiplied after a
 *    non-nearest resize with Pillow's integer formulas; an unchanged size copies the image.
 * 2. Center crop to size x size, top = round_half_even((h - size) / 2) (likewise left;
 *    SHORTEST_FLOOR_CROP: top = floor((h - size) / 2), as transformers' CLIPImageProcessor); where
 *    the image is smaller (LONGEST) it is first padded to size, left = (size - w) / 2
 *    (floor), top likewise, with `fill_rgb` (open_clip's CenterCropOrPad).
 * 3. RGB: L and I replicated (I clipped to [0, 255]), alpha dropped without compositing,
 *    CMYK through Pillow's cmyk2rgb (the padding of a CMYK image is Pillow's pad colour
 *    converted the same way: pass it as fill_rgb).
 * 4. out = (v / 255.0f - mean[c]) / stddev[c] in float32, as ToTensor + Normalize.
 *
 * pixels    height rows of width pixels in `format` (a clip4j_pixel_format), no row padding:
 *           width * height * (1, 2, 3, 4, 4 for I32 or 4 for CMYK8) bytes.
 * width, height  in [1, 2^24], width * height <= 2^31 - 1.
 * filter    a clip4j_resample_filter (pass NEAREST for Pillow's P and 1 modes).
 * resize_mode  a clip4j_resize_mode. size in [1, 16384].
 * fill_rgb  3 bytes: the colour of padded pixels (LONGEST only), already in RGB.
 * mean, stddev  3 floats each; stddev must be finite and non-zero, mean finite.
 * batch     capacity * 3 * size * size floats; only slot `slot` (0 <= slot < capacity) is
 *           written, at batch + slot * 3 * size * size. May not alias pixels.
 * Fails with CLIP4J_ERR_INVALID_ARGUMENT when an argument is out of range or the image is
 * so elongated that a resized side would be 0 or exceed 2^31 - 1; the slot is then untouched.
 * Only the size x size window that survives the crop is resampled.
 * Allocates scratch memory and frees it before returning.
 * Thread safety: safe from any thread on distinct batch slots.
 */
clip4j_status clip4j_preprocess_image(const uint8_t* pixels, int32_t width, int32_t height,
                                      int32_t format, int32_t filter, int32_t resize_mode,
                                      int32_t size, const uint8_t* fill_rgb, const float* mean,
                                      const float* stddev, float* batch, int64_t capacity,
                                      int64_t slot);

/* ================================ end of image preprocessing ========================== */

/* ================================ batch-invariant GEMM ================================ */

/**
 * GEMM over weights packed once:   c[i, :] = a[i, :] @ W^T + bias     for i in [0, m)
 * with W an nn.Linear weight [n, k]. Every output element is summed in one fixed order that
 * depends on k only (blocks of 192 inner indices, each a sequential fused multiply-add chain
 * from zero, the blocks added in order, then the bias), so a row's result is bitwise the same
 * whatever m is, wherever the row sits in `a`, and however many threads run the call. This is
 * what lets clip4j fold a whole batch into one GEMM and still give each sample the bits it gets
 * alone. x86-64 only; elsewhere UNSUPPORTED.
 *
 * Kernel families (clip4j_cpu_kernels), chosen per packed weight:
 *   AVX2    AVX2 + FMA, fp32 weights.
 *   AVX512  AVX-512 F/DQ/BW/VL, fp32 weights: the same summation order and epilogue operations
 *           as AVX2, so the same bits (the ctest checks it), about twice the rate where the CPU
 *           executes 512-bit FMAs at full width; with AVX512_BF16 also bf16 weights (vdpbf16ps:
 *           weights rounded to bf16 when packed, each GEMM's input rows rounded to bf16, a step
 *           of the chain = one vdpbf16ps over two inner indices, fp32 accumulation, blocks and
 *           epilogue): batch-invariant the same way, but not the fp32 bits.
 * A family the CPU (or its OS, read with XGETBV) lacks is refused with CLIP4J_ERR_UNSUPPORTED
 * naming the missing feature. The environment variable CLIP4J_CPU_DISABLE (a comma-separated list
 * of avx2, avx512, avx512_bf16, read once per process) hides features, to test those refusals.
 *
 *     int32_t family; clip4j_cpu_kernels_resolve(CLIP4J_CPU_KERNELS_AUTO, CLIP4J_DTYPE_F32, &family);
 *     clip4j_packed_weight* w; clip4j_packed_weight_create(weight, n, k, family, CLIP4J_DTYPE_F32, &w);
 *     clip4j_gemm_pool* pool; clip4j_gemm_pool_create(2, &pool);
 *     clip4j_gemm_packed(pool, x, m, k, w, bias, CLIP4J_ACT_IDENTITY, NULL, 0, NULL, 0, y, n);
 *     clip4j_gemm_pool_destroy(pool); clip4j_packed_weight_destroy(w);
 *
 * The older entry points clip4j_gemm_packed_size / _pack_f32 / _f32 / _ex_f32 take a caller-owned
 * buffer in the AVX2 family's layout and run the AVX2 kernels.
 */
typedef struct clip4j_gemm_pool clip4j_gemm_pool;

/** CPU kernel families of the packed GEMM. */
typedef enum clip4j_cpu_kernels {
  CLIP4J_CPU_KERNELS_AUTO = 0,  /* AVX512 where the CPU has it (bf16: always AVX512), else AVX2 */
  CLIP4J_CPU_KERNELS_AVX2 = 1,  /* AVX2 + FMA: fp32 */
  CLIP4J_CPU_KERNELS_AVX512 = 2 /* AVX-512 F/DQ/BW/VL: fp32; bf16 with AVX512_BF16 */
} clip4j_cpu_kernels;

/**
 * The family that runs weights of `dtype` (CLIP4J_DTYPE_F32 or CLIP4J_DTYPE_BF16) for a request
 * (a clip4j_cpu_kernels; AUTO picks the best this CPU runs): *kernels = AVX2 or AVX512, or AUTO
 * with CLIP4J_ERR_UNSUPPORTED when this CPU cannot run it (the message names what is missing,
 * e.g. "this CPU lacks avx512_bf16"). Thread safety: safe from any thread.
 */
clip4j_status clip4j_cpu_kernels_resolve(int32_t requested, int32_t dtype, int32_t* kernels);

/** A weight packed for one kernel family and element type (opaque; owns its memory). */
typedef struct clip4j_packed_weight clip4j_packed_weight;

/**
 * Packs w ([n, k] row-major, contiguous, fp32: nn.Linear's weight; n, k in [1, 2^24]) for the
 * family `kernels` (AUTO resolves as clip4j_cpu_kernels_resolve) in `dtype` (F32, or BF16: each
 * weight rounded to the nearest bf16, ties to even). *weight receives a new object (NULL on
 * failure) that copies what it needs: w may be freed afterwards. UNSUPPORTED when this CPU cannot
 * run that family and dtype. Free with clip4j_packed_weight_destroy.
 * Thread safety: safe from any thread.
 */
clip4j_status clip4j_packed_weight_create(const float* w, int64_t n, int64_t k, int32_t kernels, int32_t dtype,
                                          clip4j_packed_weight** weight);

/** Frees a packed weight (NULL is a no-op). No GEMM may be running on it. */
clip4j_status clip4j_packed_weight_destroy(clip4j_packed_weight* weight);

/**
 * What a packed weight is: its shape [n, k], family (AVX2 or AVX512), dtype and the bytes it holds.
 * Any output pointer may be NULL. Thread safety: safe from any thread.
 */
clip4j_status clip4j_packed_weight_describe(const clip4j_packed_weight* weight, int64_t* n, int64_t* k,
                                            int32_t* kernels, int32_t* dtype, int64_t* bytes);

/**
 * The GEMM with a fused epilogue on a packed weight, with the weight's family; the arguments mean
 * what they mean for clip4j_gemm_ex_f32 (k and n are the weight's; a [m, lda >= k]).
 * Thread safety: many calls may run at once on one weight and one pool.
 */
clip4j_status clip4j_gemm_packed(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t lda,
                                 const clip4j_packed_weight* weight, const float* bias, int32_t activation,
                                 const float* colscale, int32_t accumulate, float* partial, int64_t ldp, float* c,
                                 int64_t ldc);

/** *supported = 1 when this CPU runs the AVX2 family (x86-64 with AVX2 and FMA), else 0. */
clip4j_status clip4j_gemm_supported(int32_t* supported);

/** *floats = the length of the AVX2 family's packed form of an [n, k] weight; n, k in [1, 2^24]. */
clip4j_status clip4j_gemm_packed_size(int64_t n, int64_t k, int64_t* floats);

/**
 * Packs w ([n, k] row-major, contiguous: nn.Linear's weight) into `packed` (packed_len floats,
 * exactly clip4j_gemm_packed_size(n, k)), the AVX2 family's layout. Thread safety: safe on
 * distinct outputs.
 */
clip4j_status clip4j_gemm_pack_f32(const float* w, int64_t n, int64_t k, float* packed, int64_t packed_len);

/**
 * Creates `threads` - 1 worker threads (threads in [1, 256]); the calling thread of each GEMM is
 * the first. Workers spin briefly after a call, then sleep. Destroy with clip4j_gemm_pool_destroy.
 */
clip4j_status clip4j_gemm_pool_create(int32_t threads, clip4j_gemm_pool** pool);

/** Joins the workers and frees the pool (NULL is a no-op). No call may be running on it. */
clip4j_status clip4j_gemm_pool_destroy(clip4j_gemm_pool* pool);

/**
 * c[i, j] = sum_p a[i, p] * W[j, p] + bias[j] (bias may be NULL: no bias).
 * a       [m, k] with row stride lda >= k;   c   [m, n] with row stride ldc >= n; c must not
 *         overlap a, packed or bias. m in [0, 2^31].
 * packed  from clip4j_gemm_pack_f32(W, n, k, ...), packed_len its length.
 * pool    NULL: the calling thread only. Calls may come from many threads at once: one at a
 *         time uses the pool's workers, the others run on their own threads (same results).
 */
clip4j_status clip4j_gemm_f32(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t k, int64_t lda,
                              const float* packed, int64_t packed_len, int64_t n, const float* bias,
                              float* c, int64_t ldc);

/**
 * The GEMM with a fused epilogue, applied once per element after the last inner block:
 *
 *     v = act(a[i, :] @ W^T + bias) * colscale        (bias, colscale: [n] or NULL)
 *     c[i, j] = v                  (accumulate = 0)
 *     c[i, j] = c[i, j] + v        (accumulate = 1: a residual add into c)
 *
 * activation  CLIP4J_ACT_IDENTITY, CLIP4J_ACT_QUICK_GELU (x * sigmoid(1.702 x)),
 *             CLIP4J_ACT_GELU (0.5 x (1 + erf(x / sqrt 2))) or CLIP4J_ACT_GELU_TANH
 *             (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed as x / (1 + exp(-2u)):
 *             no cancellation in either tail; -0 where torch's fp32 gives -0 for x below about
 *             -10, NaN for NaN and -inf as torch), vectorised (relative error of the activation
 *             a few float ulps, about 1e-7; GELU_TANH's grows like |u| ulps in the negative tail,
 *             where the result is below 1e-6 in size). Other codes (TANH) are INVALID_ARGUMENT.
 * partial     with accumulate = 1 and k > 192: a scratch [m, ldp >= n] for the partial sums
 *             (c still holds the residual then); otherwise ignored (may be NULL).
 * The same batch invariance as clip4j_gemm_f32 holds for every argument combination.
 */
clip4j_status clip4j_gemm_ex_f32(clip4j_gemm_pool* pool, const float* a, int64_t m, int64_t k, int64_t lda,
                                 const float* packed, int64_t packed_len, int64_t n, const float* bias,
                                 int32_t activation, const float* colscale, int32_t accumulate, float* partial,
                                 int64_t ldp, float* c, int64_t ldc);

/**
 * LayerNorm over rows: y[i, :] = (x[i, :] - mean) / sqrt(var + eps) * w + b (biased variance,
 * two passes, a fixed summation order per row). x [m, ldx >= n], y [m, ldy >= n] (y may be x),
 * w and b [n]. Rows are independent: a row's result does not depend on m.
 */
clip4j_status clip4j_layer_norm_f32(clip4j_gemm_pool* pool, const float* x, int64_t m, int64_t n, int64_t ldx,
                                    const float* w, const float* b, float eps, float* y, int64_t ldy);

/**
 * Multi-head self-attention on a packed projection, as nn.MultiheadAttention / SDPA:
 *     out[s, t, h*d:(h+1)*d] = softmax(q k^T / sqrt(d) [+ causal mask]) v   per sample s, head h
 * qkv [batch * seq, 3 * heads * head_dim] row-major (per row: all heads' q, then k, then v, as
 * in_proj's output), out [batch * seq, heads * head_dim], seq and head_dim in [1, 8192]. causal: 1 lets
 * position t attend to positions <= t only. Each (sample, head) is computed alone, in a fixed
 * order, so a sample's result does not depend on the batch.
 */
clip4j_status clip4j_attention_f32(clip4j_gemm_pool* pool, const float* qkv, int64_t batch, int64_t seq,
                                   int64_t heads, int64_t head_dim, int32_t causal, float* out);

/* ================================ end of batch-invariant GEMM ========================= */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* CLIP4J_CLIP4J_H */
