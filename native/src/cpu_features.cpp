#include "cpu_features.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define CLIP4J_CPU_X86 1
#endif

namespace clip4j {
namespace {

// Appends `name` to a comma-separated list.
void add(std::string& list, const char* name) {
  if (!list.empty()) list += ", ";
  list += name;
}

bool disabled(const char* list, const char* name) {
  if (list == nullptr) return false;
  const size_t len = strlen(name);
  for (const char* p = list; *p != '\0';) {
    while (*p == ',' || *p == ' ') ++p;
    const char* end = p;
    while (*end != '\0' && *end != ',' && *end != ' ') ++end;
    if (size_t(end - p) == len && strncmp(p, name, len) == 0) return true;
    p = end;
  }
  return false;
}

#ifdef CLIP4J_CPU_X86
// XCR0 through XGETBV; only called when cpuid says OSXSAVE.
__attribute__((target("xsave"))) uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef CLIP4J_CPU_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  const unsigned max_leaf = __get_cpuid_max(0, nullptr);
  unsigned ecx1 = 0, ebx7 = 0, eax71 = 0;
  if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &c, &d)) ecx1 = c;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    ebx7 = b;
    const unsigned subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      eax71 = a;
    }
  }
  const bool osxsave = (ecx1 >> 27) & 1;
  const uint64_t xcr = osxsave ? xcr0() : 0;
  const bool ymm_state = (xcr & 0x6) == 0x6;     // SSE and AVX state
  const bool zmm_state = (xcr & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  // AVX2 family: AVX, AVX2, FMA.
  if (!((ecx1 >> 28) & 1)) add(f.missing_avx2, "avx");
  if (!((ebx7 >> 5) & 1)) add(f.missing_avx2, "avx2");
  if (!((ecx1 >> 12) & 1)) add(f.missing_avx2, "fma");
  if (f.missing_avx2.empty() && !ymm_state) f.missing_avx2 = "the operating system's support for the YMM registers (XCR0)";
  // AVX-512 family: F, DQ, BW, VL (and the AVX2 family's FMA).
  if (!f.missing_avx2.empty()) add(f.missing_avx512, f.missing_avx2.c_str());
  if (!((ebx7 >> 16) & 1)) add(f.missing_avx512, "avx512f");
  if (!((ebx7 >> 17) & 1)) add(f.missing_avx512, "avx512dq");
  if (!((ebx7 >> 30) & 1)) add(f.missing_avx512, "avx512bw");
  if (!((ebx7 >> 31) & 1)) add(f.missing_avx512, "avx512vl");
  if (f.missing_avx512.empty() && !zmm_state)
    f.missing_avx512 = "the operating system's support for the ZMM and opmask registers (XCR0)";
  f.missing_avx512_bf16 = f.missing_avx512;
  if (!((eax71 >> 5) & 1)) add(f.missing_avx512_bf16, "avx512_bf16");
#else
  f.missing_avx2 = "an x86-64 CPU";
  f.missing_avx512 = "an x86-64 CPU";
  f.missing_avx512_bf16 = "an x86-64 CPU";
#endif
  const char* off = getenv("CLIP4J_CPU_DISABLE");
  const char* why = "hidden by CLIP4J_CPU_DISABLE";
  if (disabled(off, "avx2") && f.missing_avx2.empty()) f.missing_avx2 = std::string("avx2 (") + why + ")";
  if (disabled(off, "avx2") && f.missing_avx512.empty()) f.missing_avx512 = std::string("avx2 (") + why + ")";
  if (disabled(off, "avx512") && f.missing_avx512.empty()) f.missing_avx512 = std::string("avx512f (") + why + ")";
  if (f.missing_avx512_bf16.empty() && !f.missing_avx512.empty()) f.missing_avx512_bf16 = f.missing_avx512;
  if (disabled(off, "avx512_bf16") && f.missing_avx512_bf16.empty())
    f.missing_avx512_bf16 = std::string("avx512_bf16 (") + why + ")";
  f.avx2 = f.missing_avx2.empty();
  f.avx512 = f.missing_avx512.empty();
  f.avx512_bf16 = f.missing_avx512_bf16.empty();
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace clip4j
