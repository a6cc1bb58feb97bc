package dev.clip4j;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The effective LibTorch settings after {@link Engine#initialize}, read back from LibTorch and the
 * process (not echoed from the request), for logs and {@code clip4j demo}: threads, determinism
 * flags, CUDA, the BLAS library LibTorch's GEMMs went to ({@code blasVendor}: "openblas" or "mkl",
 * from the libraries mapped into the process) with its thread count, the OpenMP runtimes mapped
 * (more than one means competing thread pools; {@link Engine} warns), {@code OPENBLAS_CORETYPE},
 * the CPU's vector extensions, the family of clip4j's packed CPU kernels a model loaded now
 * would run on ({@code cpuKernels} for fp32, {@code cpuKernelsBf16} for bf16: "avx2", "avx512",
 * "avx512_bf16", or "unsupported: " and the reason), after {@value CpuKernels#PROPERTY},
 * TorchScript's graph executor ({@code jitProfilingExecutor}: false as clip4j sets it, the simple
 * executor) and {@code CUBLAS_WORKSPACE_CONFIG} as LibTorch sees it.
 */
public record EngineReport(
    String clip4jVersion,
    String nativeLibraryVersion,
    String pytorchVersion,
    int intraOpThreads,
    long interOpThreads,
    boolean cudaAvailable,
    int cudaDeviceCount,
    boolean nativeCudaKernels,
    boolean cudnnDeterministic,
    boolean cudnnBenchmark,
    boolean tf32CuBlas,
    boolean tf32CuDnn,
    boolean deterministicAlgorithms,
    boolean hasMkl,
    boolean hasMkldnn,
    boolean hasOpenMp,
    int blasThreads,
    String openblasCoretype,
    String blasVendor,
    java.util.List<String> openMpRuntimes,
    String cpuFeatures,
    String cpuKernels,
    String cpuKernelsBf16,
    boolean jitProfilingExecutor,
    String cublasWorkspaceConfig) {

  /** True when every setting that makes outputs reproducible is in force. */
  public boolean deterministic() {
    return cudnnDeterministic && !cudnnBenchmark && !tf32CuBlas && !tf32CuDnn && !jitProfilingExecutor;
  }

  /** The report as an ordered map (for JSON output). */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("clip4j", clip4jVersion);
    m.put("native_library", nativeLibraryVersion);
    m.put("pytorch", pytorchVersion);
    m.put("intra_op_threads", intraOpThreads);
    m.put("inter_op_threads", interOpThreads);
    m.put("cuda_available", cudaAvailable);
    m.put("cuda_devices", cudaDeviceCount);
    m.put("native_cuda_kernels", nativeCudaKernels);
    m.put("cudnn_deterministic", cudnnDeterministic);
    m.put("cudnn_benchmark", cudnnBenchmark);
    m.put("tf32_cublas", tf32CuBlas);
    m.put("tf32_cudnn", tf32CuDnn);
    m.put("deterministic_algorithms", deterministicAlgorithms);
    m.put("deterministic", deterministic());
    m.put("mkl", hasMkl);
    m.put("mkldnn", hasMkldnn);
    m.put("openmp", hasOpenMp);
    m.put("blas_threads", blasThreads);
    m.put("openblas_coretype", openblasCoretype);
    m.put("blas_vendor", blasVendor);
    m.put("openmp_runtimes", String.join(",", openMpRuntimes));
    m.put("cpu_features", cpuFeatures);
    m.put("cpu_kernels", cpuKernels);
    m.put("cpu_kernels_bf16", cpuKernelsBf16);
    m.put("jit_executor", jitProfilingExecutor ? "profiling (specialises and fuses after the first calls)"
        : "simple (one plan per graph, no fusion)");
    m.put("cublas_workspace_config", cublasWorkspaceConfig == null ? "unset" : cublasWorkspaceConfig);
    return m;
  }

  /** Human-readable, one setting per line. */
  public String format() {
    StringBuilder sb = new StringBuilder();
    toMap().forEach((k, v) -> sb.append(String.format("  %-26s %s%n", k, v)));
    return sb.toString();
  }
}
