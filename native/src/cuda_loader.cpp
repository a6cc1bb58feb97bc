// Entry points of the CUDA head. The kernels live in a companion library, libclip4j_cuda,
// which links the shared CUDA runtime; libclip4j itself never does, so it loads on machines
// without CUDA. The companion is dlopen()ed on first use: from $CLIP4J_CUDA_LIBRARY if set,
// else from the directory libclip4j was loaded from (where JavaCPP extracts both), else
// through the dynamic linker's search path.
#include <dlfcn.h>
#include <stdlib.h>

#include <mutex>
#include <string>

#include "clip4j/clip4j.h"
#include "cuda_impl.h"
#include "errors.h"
#include "head_params.h"

namespace clip4j {
namespace {

struct CudaModule {
  head_forward_fn head_forward = nullptr;
  int32_t devices = 0;
  std::string error;  // why CUDA is not usable; empty when head_forward is set and a device is visible
};

std::string own_directory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&clip4j_cuda_available), &info) == 0 || info.dli_fname == nullptr)
    return std::string();
  std::string path(info.dli_fname);
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

CudaModule load_module() {
  CudaModule m;
#ifndef CLIP4J_WITH_CUDA
  m.error = "libclip4j was built without CUDA (nvcc was not found at build time)";
  return m;
#else
  std::string tried;
  const char* env = getenv("CLIP4J_CUDA_LIBRARY");
  std::string candidates[3];
  int count = 0;
  if (env != nullptr && env[0] != '\0') candidates[count++] = env;
  std::string dir = own_directory();
  if (!dir.empty()) candidates[count++] = dir + "libclip4j_cuda.so";
  candidates[count++] = "libclip4j_cuda.so";
  for (int i = 0; i < count; ++i) {
    void* handle = dlopen(candidates[i].c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* e = dlerror();
      tried += "\n  " + candidates[i] + ": " + (e ? e : "unknown dlopen error");
      continue;
    }
    auto abi = reinterpret_cast<abi_fn>(dlsym(handle, "clip4j_cuda_impl_abi"));
    auto fn = reinterpret_cast<head_forward_fn>(dlsym(handle, "clip4j_cuda_impl_head_forward"));
    auto count = reinterpret_cast<device_count_fn>(dlsym(handle, "clip4j_cuda_impl_device_count"));
    if (abi == nullptr || fn == nullptr || count == nullptr || abi() != kCudaImplAbi) {
      tried += "\n  " + candidates[i] + ": not a libclip4j_cuda of this build (private ABI " +
               std::to_string(kCudaImplAbi) + ")";
      dlclose(handle);
      continue;
    }
    // The handle is kept for the life of the process. The library loads wherever its runtime
    // (libcudart.so.13) does; whether a driver and a device are there is a separate question.
    char reason[256] = {0};
    if (count(&m.devices, reason, sizeof(reason)) != 0) {
      m.error = std::string("the CUDA runtime loaded (") + candidates[i] + ") but reports no usable device: " +
                reason + " (a driver for CUDA 13 and a GPU are needed)";
      return m;
    }
    if (m.devices == 0) {
      m.error = std::string("the CUDA runtime loaded (") + candidates[i] + ") but sees no CUDA device";
      return m;
    }
    m.head_forward = fn;
    return m;
  }
  m.error = "the CUDA companion library libclip4j_cuda.so could not be loaded (its CUDA 13 runtime "
            "libcudart.so.13 must be installed or loaded by LibTorch first); tried:" + tried;
  return m;
#endif
}

const CudaModule& module() {
  static std::once_flag once;
  static CudaModule m;
  std::call_once(once, [] { m = load_module(); });
  return m;
}

}  // namespace
}  // namespace clip4j

extern "C" clip4j_status clip4j_cuda_available(int32_t* available) {
  CLIP4J_API_GUARD_BEGIN
  if (available == nullptr) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "clip4j_cuda_available: available is NULL");
  const clip4j::CudaModule& m = clip4j::module();
  *available = m.head_forward != nullptr ? 1 : 0;
  if (!*available) clip4j::fail(CLIP4J_OK, m.error);
  return CLIP4J_OK;
  CLIP4J_API_GUARD_END
}

extern "C" clip4j_status clip4j_head_forward_cuda(const void* x, int32_t dtype, int64_t n,
                                                  int64_t d_in, const void* w, int32_t w_layout,
                                                  int64_t d_out, const void* bias,
                                                  int32_t activation, int32_t normalize, float eps,
                                                  void* out, int32_t out_dtype, void* stream) {
  CLIP4J_API_GUARD_BEGIN
  clip4j::HeadParams p{x, w, bias, out, n, d_in, d_out, w_layout, activation, normalize, eps};
  std::string err = clip4j::validate_head_params(p);
  if (err.empty() && (dtype < CLIP4J_DTYPE_F32 || dtype > CLIP4J_DTYPE_BF16))
    err = "unknown dtype code " + std::to_string(dtype);
  if (err.empty() && (out_dtype < CLIP4J_DTYPE_F32 || out_dtype > CLIP4J_DTYPE_BF16))
    err = "unknown out_dtype code " + std::to_string(out_dtype);
  if (err.empty() && d_out > clip4j::kCudaMaxDOut)
    err = "d_out must be <= " + std::to_string(clip4j::kCudaMaxDOut) + " on CUDA, got " + std::to_string(d_out);
  if (!err.empty()) return clip4j::fail(CLIP4J_ERR_INVALID_ARGUMENT, "clip4j_head_forward_cuda: " + err);
  const clip4j::CudaModule& m = clip4j::module();
  if (m.head_forward == nullptr) return clip4j::fail(CLIP4J_ERR_UNSUPPORTED, "clip4j_head_forward_cuda: " + m.error);
  if (n == 0) return clip4j::ok();
  char message[512] = {0};
  int32_t st = m.head_forward(&p, dtype, out_dtype, stream, message, sizeof(message));
  if (st != CLIP4J_OK) return clip4j::fail(static_cast<clip4j_status>(st), std::string("clip4j_head_forward_cuda: ") + message);
  return clip4j::ok();
  CLIP4J_API_GUARD_END
}
