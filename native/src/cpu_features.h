// What this CPU and its operating system let clip4j's CPU kernels use, read once per process
// with cpuid and XGETBV (an instruction set counts only when the OS saves its registers).
#pragma once

#include <string>

namespace clip4j {

struct CpuFeatures {
  bool avx2 = false;         // AVX2 + FMA, with the YMM state enabled by the OS
  bool avx512 = false;       // AVX-512 F, BW, VL and DQ, with the opmask and ZMM states enabled
  bool avx512_bf16 = false;  // AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) on top of avx512
  std::string missing_avx2;         // why avx2 is false ("" when true), e.g. "fma"
  std::string missing_avx512;       // e.g. "avx512bw", or "the OS does not save the ZMM registers"
  std::string missing_avx512_bf16;  // e.g. "avx512_bf16"
};

// The features of this process's CPU. The environment variable CLIP4J_CPU_DISABLE, a comma-separated
// list of "avx2", "avx512", "avx512_bf16", hides features (to test the refusals, or to make a
// machine behave as an older one of its fleet); it is read once, on the first call.
const CpuFeatures& cpu_features();

}  // namespace clip4j
