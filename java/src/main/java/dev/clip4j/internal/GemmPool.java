package dev.clip4j.internal;

import dev.clip4j.CpuKernels;
import dev.clip4j.jni.Clip4jNative;
import org.bytedeco.javacpp.IntPointer;

/**
 * Owns the worker threads of clip4j's native batch-invariant GEMM ({@code clip4j_gemm_pool}).
 * The threads spin for a moment after each GEMM (the next one of a forward pass follows within
 * microseconds), then sleep; {@link #close()} joins them.
 *
 * <p>Thread safety: {@link #handle()} may be used from many threads at once (one GEMM at a time
 * gets the workers, the others run on their callers' threads, with the same results); {@code
 * close()} must not run while a GEMM does: the owner ({@code PackedTowers}) guarantees that.
 */
public final class GemmPool implements AutoCloseable {
  private final int threads;
  private volatile Clip4jNative.clip4j_gemm_pool handle;

  /** Starts {@code threads - 1} workers (the caller of each GEMM is the first thread). */
  public GemmPool(int threads) {
    if (threads < 1 || threads > 256) {
      throw new IllegalArgumentException("GEMM threads must be in [1, 256], got " + threads);
    }
    NativeLib.load();
    Clip4jNative.clip4j_gemm_pool h = new Clip4jNative.clip4j_gemm_pool();
    NativeLib.check(Clip4jNative.clip4j_gemm_pool_create(threads, h));
    this.handle = h;
    this.threads = threads;
  }

  /** True when this CPU runs clip4j's packed GEMM's AVX2 family (x86-64 with AVX2 and FMA) or better. */
  public static boolean supported() {
    NativeLib.load();
    try (IntPointer p = new IntPointer(1)) {
      NativeLib.check(Clip4jNative.clip4j_gemm_supported(p));
      return p.get() == 1;
    }
  }

  /**
   * The kernel family ({@code Clip4jNative.CLIP4J_CPU_KERNELS_AVX2} or {@code _AVX512}) that runs
   * {@code requested} for fp32 or bf16 weights on this CPU (AUTO: the best it runs).
   *
   * @throws dev.clip4j.Clip4jException with {@link dev.clip4j.ErrorCode#UNSUPPORTED} naming the
   *     missing instruction set when this CPU cannot run it
   */
  public static int resolveKernels(CpuKernels requested, boolean bf16) {
    NativeLib.load();
    int want = switch (requested) {
      case AUTO -> Clip4jNative.CLIP4J_CPU_KERNELS_AUTO;
      case AVX2 -> Clip4jNative.CLIP4J_CPU_KERNELS_AVX2;
      case AVX512 -> Clip4jNative.CLIP4J_CPU_KERNELS_AVX512;
    };
    try (IntPointer p = new IntPointer(1)) {
      NativeLib.check(Clip4jNative.clip4j_cpu_kernels_resolve(want,
          bf16 ? Clip4jNative.CLIP4J_DTYPE_BF16 : Clip4jNative.CLIP4J_DTYPE_F32, p));
      return p.get();
    }
  }

  /** The name of a resolved family: "avx2", "avx512", or "avx512_bf16" for bf16 weights. */
  public static String kernelsName(int kernels, boolean bf16) {
    String family = kernels == Clip4jNative.CLIP4J_CPU_KERNELS_AVX512 ? "avx512" : "avx2";
    return bf16 ? family + "_bf16" : family;
  }

  /** The number of threads a GEMM uses, the caller's included. */
  public int threads() {
    return threads;
  }

  /** The native pool, for {@code clip4j_gemm_f32}. */
  public Clip4jNative.clip4j_gemm_pool handle() {
    Clip4jNative.clip4j_gemm_pool h = handle;
    if (h == null) {
      throw new IllegalStateException("GemmPool is closed");
    }
    return h;
  }

  /** Joins the workers. Idempotent. */
  @Override
  public synchronized void close() {
    Clip4jNative.clip4j_gemm_pool h = handle;
    if (h != null) {
      handle = null;
      Clip4jNative.clip4j_gemm_pool_destroy(h);
      h.setNull();
    }
  }
}
