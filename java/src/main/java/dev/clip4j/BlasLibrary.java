package dev.clip4j;

import java.util.Locale;

/**
 * The BLAS library LibTorch's CPU GEMMs go to, chosen before LibTorch loads (see {@link
 * EngineConfig#blas()}).
 */
public enum BlasLibrary {
  /**
   * OpenBLAS from {@code org.bytedeco:openblas} (the default; on the class path with LibTorch).
   * Its own pthread pool, sized by {@link EngineConfig#blasThreads()}.
   */
  OPENBLAS,
  /**
   * Intel MKL from {@code org.bytedeco:mkl} (opt-in: add {@code org.bytedeco:mkl:2025.2-1.5.12}
   * and its {@code linux-x86_64-redist} classifier to the class path). clip4j selects MKL's GNU
   * threading layer, so its threads are LibTorch's libgomp threads (one OpenMP runtime).
   */
  MKL;

  /** Parses "openblas" or "mkl" (case-insensitive). */
  public static BlasLibrary parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown BLAS library '" + s + "': expected openblas or mkl", e);
    }
  }
}
