package dev.clip4j;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Glue for the BLAS library behind LibTorch (bytedeco's openblas preset, which loads OpenBLAS or,
 * when told to, MKL's runtime library), reached by reflection so that MKL stays an optional
 * dependency. What it reports is read back from the process (mapped libraries, the library's
 * thread count), not echoed from the configuration.
 */
final class Blas {
  private static final String OPENBLAS_PRESET = "org.bytedeco.openblas.presets.openblas_nolapack";
  private static final String MKL_GLOBAL = "org.bytedeco.mkl.global.mkl_rt";
  /** MKL_THREADING_GNU in mkl_service.h. */
  private static final int MKL_THREADING_GNU = 3;

  private Blas() {}

  /**
   * Makes bytedeco's openblas preset load MKL ({@code org.bytedeco.openblas.load=mkl_rt}, unless
   * the caller set that property) with the GNU threading layer (unless MKL_THREADING_LAYER is set
   * in the environment), so MKL's threads are LibTorch's libgomp threads.
   */
  static void selectMkl() {
    Class<?> mkl;
    try {
      mkl = Class.forName(MKL_GLOBAL);
    } catch (ClassNotFoundException | LinkageError e) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, "BLAS library mkl was requested (-D" + EngineConfig.BLAS_PROPERTY
          + "=mkl) but org.bytedeco:mkl (with its linux-x86_64-redist classifier) is not on the class path: " + e);
    }
    if (System.getProperty("org.bytedeco.openblas.load") == null) {
      System.setProperty("org.bytedeco.openblas.load", "mkl_rt");
    }
    String env = System.getenv("MKL_THREADING_LAYER");
    if (env != null) {
      if (!env.equalsIgnoreCase("GNU") && !env.equalsIgnoreCase("SEQUENTIAL")) {
        System.getLogger(Engine.class.getName()).log(System.Logger.Level.WARNING,
            "MKL_THREADING_LAYER=" + env + ": MKL then runs its own OpenMP runtime beside LibTorch's libgomp");
      }
      return;
    }
    try {
      mkl.getMethod("MKL_Set_Threading_Layer", int.class).invoke(null, MKL_THREADING_GNU);
    } catch (ReflectiveOperationException | LinkageError e) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, "MKL's threading layer could not be set: " + e, e);
    }
  }

  /** Sets the BLAS pool size (OpenBLAS or MKL, whichever the preset loaded). */
  static void setThreads(int n) {
    try {
      Class.forName(OPENBLAS_PRESET).getMethod("blas_set_num_threads", int.class).invoke(null, n);
    } catch (ReflectiveOperationException | LinkageError e) {
      System.getLogger(Engine.class.getName())
          .log(System.Logger.Level.WARNING, "BLAS thread count could not be set: " + e);
    }
  }

  /** The BLAS library's thread count as it reports it, or -1 when unknown. */
  static int threads() {
    try {
      return (Integer) Class.forName(OPENBLAS_PRESET).getMethod("blas_get_num_threads").invoke(null);
    } catch (ReflectiveOperationException | LinkageError e) {
      return -1;
    }
  }

  /** "mkl", "openblas", or "unknown", from the libraries mapped into this process. */
  static String vendor() {
    List<String> libs = mappedLibraries();
    if (libs.stream().anyMatch(l -> l.startsWith("libmkl_rt") || l.startsWith("libmkl_core"))) {
      return "mkl";
    }
    if (libs.stream().anyMatch(l -> l.startsWith("libopenblas"))) {
      return "openblas";
    }
    return "unknown";
  }

  /** The OpenMP runtimes mapped into this process (libgomp, libiomp5, libomp), in map order. */
  static List<String> openMpRuntimes() {
    Set<String> out = new LinkedHashSet<>();
    for (String l : mappedLibraries()) {
      if (l.startsWith("libgomp")) {
        out.add("libgomp");
      } else if (l.startsWith("libiomp5")) {
        out.add("libiomp5");
      } else if (l.startsWith("libomp.so") || l.startsWith("libomp-")) {
        out.add("libomp");
      }
    }
    return new ArrayList<>(out);
  }

  /** File names of the shared objects mapped into this process (Linux; empty elsewhere). */
  static List<String> mappedLibraries() {
    Set<String> names = new LinkedHashSet<>();
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
        int slash = line.lastIndexOf('/');
        if (slash >= 0 && line.contains(".so")) {
          names.add(line.substring(slash + 1));
        }
      }
    } catch (IOException | RuntimeException e) {
      // Not Linux: nothing to report.
    }
    return new ArrayList<>(names);
  }
}
