package dev.clip4j.internal;

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

  /** True when this CPU runs clip4j's packed GEMM (x86-64 with AVX2 and FMA). */
  public static boolean supported() {
    NativeLib.load();
    try (IntPointer p = new IntPointer(1)) {
      NativeLib.check(Clip4jNative.clip4j_gemm_supported(p));
      return p.get() == 1;
    }
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
