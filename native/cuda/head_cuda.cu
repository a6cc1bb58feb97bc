// CUDA implementation of the fused embedding head: one launch per call, one block per row
// (grid-stride over rows), fp32 accumulation for fp32/fp16/bf16 inputs, no allocation, no sync.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>

#include "../src/cuda_impl.h"
#include "../src/head_math.h"
#include "clip4j/clip4j.h"

namespace clip4j {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ float load(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
__device__ __forceinline__ void store(__nv_bfloat16* p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }

__device__ __forceinline__ NormAccumulator warp_merge(NormAccumulator a) {
  for (int off = 16; off > 0; off >>= 1) {
    NormAccumulator b{__shfl_down_sync(0xffffffffu, a.scale, off), __shfl_down_sync(0xffffffffu, a.ssq, off)};
    a = norm_merge(a, b);
  }
  return a;
}

template <typename Tin, typename Tout>
__global__ void __launch_bounds__(kThreads) head_kernel(HeadParams p) {
  extern __shared__ float ys[];  // [d_out]
  __shared__ NormAccumulator partial[kWarps];
  __shared__ float inv_norm;
  const Tin* x = static_cast<const Tin*>(p.x);
  const Tin* w = static_cast<const Tin*>(p.w);
  const Tin* b = static_cast<const Tin*>(p.bias);
  Tout* out = static_cast<Tout*>(p.out);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  for (int64_t row = blockIdx.x; row < p.n; row += gridDim.x) {
    const Tin* xr = x + row * p.d_in;
    NormAccumulator acc = norm_init();
    if (w != nullptr && p.w_layout == CLIP4J_LAYOUT_OUT_IN) {
      // nn.Linear layout: one warp per output, lanes stride the contiguous weight row.
      for (int64_t j = warp; j < p.d_out; j += kWarps) {
        const Tin* wr = w + j * p.d_in;
        float s = 0.0f;
        for (int64_t i = lane; i < p.d_in; i += 32) s += load(xr, i) * load(wr, i);
        for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
        if (lane == 0) {
          if (b != nullptr) s += load(b, j);
          float v = activate(s, p.activation);
          ys[j] = v;
          norm_add(acc, v);
        }
      }
    } else {
      // CLIP layout [d_in, d_out]: one thread per output, coalesced reads of each weight row.
      for (int64_t j = threadIdx.x; j < p.d_out; j += kThreads) {
        float s = 0.0f;
        if (w == nullptr) {
          s = load(xr, j);
        } else {
          for (int64_t i = 0; i < p.d_in; ++i) s += load(xr, i) * load(w, i * p.d_out + j);
        }
        if (b != nullptr) s += load(b, j);
        float v = activate(s, p.activation);
        ys[j] = v;
        norm_add(acc, v);
      }
    }
    acc = warp_merge(acc);
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      NormAccumulator total = partial[0];
      for (int k = 1; k < kWarps; ++k) total = norm_merge(total, partial[k]);
      inv_norm = p.normalize ? norm_inverse(total, p.eps) : 1.0f;
    }
    __syncthreads();
    const float inv = inv_norm;
    Tout* outr = out + row * p.d_out;
    for (int64_t j = threadIdx.x; j < p.d_out; j += kThreads) store(outr, j, ys[j] * inv);
    __syncthreads();  // ys and inv_norm are reused by the next row
  }
}

template <typename Tin, typename Tout>
cudaError_t launch(const HeadParams& p, cudaStream_t stream) {
  // One block per row, grid-striding past 65535 rows: row r is always computed by one block in the
  // same order, so a row's result does not depend on n (batch-invariant by construction).
  const int64_t max_blocks = 65535;
  dim3 grid(static_cast<unsigned>(p.n < max_blocks ? p.n : max_blocks));
  size_t smem = sizeof(float) * static_cast<size_t>(p.d_out);
  head_kernel<Tin, Tout><<<grid, kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

template <typename Tin>
cudaError_t dispatch_out(const HeadParams& p, int32_t out_dtype, cudaStream_t stream) {
  switch (out_dtype) {
    case CLIP4J_DTYPE_F16: return launch<Tin, __half>(p, stream);
    case CLIP4J_DTYPE_BF16: return launch<Tin, __nv_bfloat16>(p, stream);
    default: return launch<Tin, float>(p, stream);
  }
}

}  // namespace
}  // namespace clip4j

extern "C" __attribute__((visibility("default"))) int32_t clip4j_cuda_impl_abi() { return clip4j::kCudaImplAbi; }

extern "C" __attribute__((visibility("default"))) int32_t clip4j_cuda_impl_device_count(int32_t* count, char* err,
                                                                                      size_t err_len) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // our own query's error, reported here: not left for the next launch check
    snprintf(err, err_len, "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
    *count = 0;
    return 1;
  }
  *count = n;
  return 0;
}

extern "C" __attribute__((visibility("default"))) int32_t clip4j_cuda_impl_head_forward(
    const clip4j::HeadParams* p, int32_t dtype, int32_t out_dtype, void* stream, char* err, size_t err_len) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  // cudaGetLastError after the launch returns the thread's last error, whoever caused it: an error
  // left pending by earlier work (LibTorch's kernels, another library) would be reported as the
  // head's. So look first: a pending error is reported as what it is, and consumed (a sticky error
  // stays and is reported again on the next call, as it should: the context is unusable).
  cudaError_t prior = cudaPeekAtLastError();
  if (prior != cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(err, err_len,
             "a CUDA error was already pending on this thread before the head was launched (left by earlier work, "
             "not by the head; the head was not launched): %s: %s",
             cudaGetErrorName(prior), cudaGetErrorString(prior));
    return prior == cudaErrorMemoryAllocation ? CLIP4J_ERR_OUT_OF_MEMORY : CLIP4J_ERR_CUDA;
  }
  cudaError_t e;
  switch (dtype) {
    case CLIP4J_DTYPE_F16: e = clip4j::dispatch_out<__half>(*p, out_dtype, s); break;
    case CLIP4J_DTYPE_BF16: e = clip4j::dispatch_out<__nv_bfloat16>(*p, out_dtype, s); break;
    default: e = clip4j::dispatch_out<float>(*p, out_dtype, s); break;
  }
  if (e == cudaSuccess) return CLIP4J_OK;
  snprintf(err, err_len, "the head kernel's launch failed: %s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
  return e == cudaErrorMemoryAllocation ? CLIP4J_ERR_OUT_OF_MEMORY : CLIP4J_ERR_CUDA;
}
