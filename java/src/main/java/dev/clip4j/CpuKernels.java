package dev.clip4j;

import java.util.Locale;

/**
 * Which family of clip4j's packed CPU kernels (the batch-invariant CPU towers) runs a model.
 *
 * <p>Within one family an embedding is bitwise the same whatever its batch, position, thread count
 * or concurrent callers. Across families, fp32 AVX2 and AVX-512 use the same summation order and
 * give the same bits in this version (tested); bf16 (AVX-512 with AVX512_BF16) differs from fp32.
 * A later family (a different blocking, AMX) may differ in the last bits: a fleet that mixes CPU
 * generations and needs bitwise-equal vectors across machines pins the family its oldest CPU runs,
 * e.g. {@code -Dclip4j.cpuKernels=avx2}. A family the CPU lacks is refused with {@link
 * ErrorCode#UNSUPPORTED} naming the missing instruction set, never emulated.
 */
public enum CpuKernels {
  /** The best family this CPU runs: AVX512 where it has AVX-512 F/DQ/BW/VL, else AVX2. */
  AUTO,
  /** AVX2 + FMA (x86-64 since 2013/2015): fp32 only. */
  AVX2,
  /** AVX-512 F/DQ/BW/VL: fp32; bf16 weights with AVX512_BF16. */
  AVX512;

  /**
   * System property choosing the family for models loaded without an explicit choice
   * ({@code auto}, {@code avx2} or {@code avx512}; default auto).
   */
  public static final String PROPERTY = "clip4j.cpuKernels";

  /** The lower-case name: "auto", "avx2", "avx512". */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses "auto", "avx2" or "avx512" (case-insensitive). */
  public static CpuKernels parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown CPU kernel family '" + s + "': expected auto, avx2 or avx512", e);
    }
  }

  /** The family {@value #PROPERTY} names, AUTO when it is unset. */
  public static CpuKernels fromSystemProperty() {
    String v = System.getProperty(PROPERTY);
    return v == null || v.isBlank() ? AUTO : parse(v);
  }
}
