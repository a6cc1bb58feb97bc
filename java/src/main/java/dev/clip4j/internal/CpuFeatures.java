package dev.clip4j.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;

/**
 * The CPU's instruction-set flags that decide which kernels are fast here, read once from
 * {@code /proc/cpuinfo} (Linux; elsewhere every flag reads as absent). Thread safety: immutable
 * after class initialization.
 */
public final class CpuFeatures {
  private static final Set<String> FLAGS = readFlags(Path.of("/proc/cpuinfo"));

  private CpuFeatures() {}

  /** True when the CPU runs bf16 dot products natively (AVX512-BF16 or AMX-BF16). */
  public static boolean nativeBf16() {
    return FLAGS.contains("avx512_bf16") || FLAGS.contains("amx_bf16");
  }

  /** True when /proc/cpuinfo lists {@code flag} (e.g. "avx512_bf16"). */
  public static boolean has(String flag) {
    return FLAGS.contains(flag);
  }

  /** True when the CPU has AVX-512F. */
  public static boolean avx512() {
    return FLAGS.contains("avx512f");
  }

  /** The relevant flags present, e.g. "avx2 avx512f avx512_bf16", or "unknown". */
  public static String describe() {
    if (FLAGS.isEmpty()) {
      return "unknown";
    }
    StringBuilder sb = new StringBuilder();
    for (String f : new String[] {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16"}) {
      if (FLAGS.contains(f)) {
        sb.append(sb.length() == 0 ? "" : " ").append(f);
      }
    }
    return sb.length() == 0 ? "none of avx2/avx512" : sb.toString();
  }

  static Set<String> readFlags(Path cpuinfo) {
    try {
      for (String line : Files.readAllLines(cpuinfo)) {
        if (line.startsWith("flags")) {
          int colon = line.indexOf(':');
          return new TreeSet<>(Arrays.asList(line.substring(colon + 1).trim().split("\\s+")));
        }
      }
    } catch (IOException | RuntimeException e) {
      // Not Linux, or unreadable: report nothing.
    }
    return Set.of();
  }
}
