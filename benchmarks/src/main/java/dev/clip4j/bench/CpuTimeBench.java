package dev.clip4j.bench;

import dev.clip4j.CpuKernels;
import dev.clip4j.Engine;
import dev.clip4j.EngineReport;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.Precision;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * Per-core rates from the calling thread's CPU time, for machines too busy for benchmarks/run.sh's
 * wall-clock figures. With one BLAS thread and one intra-op thread every GEMM and kernel runs on
 * the calling thread (clip4j's pool of one thread is the caller; OpenBLAS and LibTorch's operators
 * run inline), so its CPU time is the work's, whatever else holds the cores. What it cannot remove:
 * caches, memory bandwidth and an SMT sibling shared with other processes still slow the work down,
 * so a loaded machine still reads low, only much less than by the wall clock. Rounds interleave the
 * configurations and the best of each is kept.
 *
 * <p>Prints GFLOP per CPU-second of LibTorch's BLAS (2048^3 matmul) and of clip4j's packed GEMM per
 * kernel family (2048^3), ViT-B-32 images per CPU-second at batch 1/8/32 for fp32 (the default
 * family and the AVX2 family forced) and packed bf16, and the ratios the targets are about,
 * per core: fp32 towers / GEMM ceiling (best GEMM rate / 8.82 GFLOP per image) and bf16 / fp32.
 * No DJL row (another JVM and LibTorch) and no thread scaling: run.sh has those.
 *
 * <p>Usage (benchmarks/cputime.sh runs it after {@code ThroughputBench prepare WORK}):
 * {@code java -Dclip4j.blasThreads=1 -Dclip4j.threads=1 ... CpuTimeBench WORK [ROUNDS]}.
 */
public final class CpuTimeBench {
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private static final int[] BATCHES = {1, 8, 32};

  private CpuTimeBench() {}

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
    if (!THREADS.isCurrentThreadCpuTimeSupported()) {
      throw new IllegalStateException("this JVM does not measure thread CPU time");
    }
    THREADS.setThreadCpuTimeEnabled(true);
    EngineReport engine = Engine.ensureInitialized();
    if (engine.blasThreads() != 1 || engine.intraOpThreads() != 1) {
      throw new IllegalStateException("run with -Dclip4j.blasThreads=1 -Dclip4j.threads=1 (got " + engine.intraOpThreads()
          + " intra-op x " + engine.blasThreads() + " BLAS threads): other threads' work would not be counted");
    }
    String loadAtStart = ThroughputBench.loadAverage();
    Map<String, ClipModel> models = new LinkedHashMap<>();
    Path model = work.resolve("vit-b-32");
    String fp32 = "fp32 " + engine.cpuKernels();
    models.put(fp32, ClipModel.load(model));
    models.put("fp32 avx2 (forced)", ClipModel.load(model, LoadOptions.builder().cpuKernels(CpuKernels.AVX2).build()));
    String bf16 = null;
    try {
      bf16 = "bf16 " + engine.cpuKernelsBf16();
      models.put(bf16, ClipModel.load(model, LoadOptions.builder().precision(Precision.BF16).build()));
    } catch (RuntimeException e) {
      System.out.println("bf16 not measured: " + e.getMessage());
      bf16 = null;
    }
    Map<Integer, Tensor> pixels = new LinkedHashMap<>();
    for (int bs : BATCHES) {
      pixels.put(bs, torch.randn(bs, 3, 224, 224));
    }
    Map<String, Double> best = new LinkedHashMap<>();
    String blas = "gemm LibTorch " + engine.blasVendor() + " 2048^3 (GFLOP/s)";
    try (Tensor a = torch.randn(2048, 2048); Tensor b = torch.randn(2048, 2048)) {
      for (int r = 0; r < rounds; r++) {
        keep(best, blas, rate(() -> a.matmul(b), 2.0 * 2048 * 2048 * 2048 / 1e9, 3));
        for (CpuKernels k : new CpuKernels[] {CpuKernels.AVX2, CpuKernels.AVX512}) {
          for (boolean half : new boolean[] {false, true}) {
            double g = ThroughputBench.withPackedGemm(2048, k, half, null,
                call -> rate(() -> {
                  call.run();
                  return null;
                }, 2.0 * 2048 * 2048 * 2048 / 1e9, 3));
            if (g > 0) {
              keep(best, packedKey(k, half), g);
            }
          }
        }
        for (Map.Entry<String, ClipModel> m : models.entrySet()) {
          for (Map.Entry<Integer, Tensor> x : pixels.entrySet()) {
            ClipModel c = m.getValue();
            Tensor in = x.getValue();
            keep(best, towerKey(m.getKey(), x.getKey()), rate(() -> c.embedImages(in), x.getKey(),
                Math.max(2, 64 / x.getKey())));
          }
        }
        System.out.println("round " + (r + 1) + " of " + rounds + " done (load average " + ThroughputBench.loadAverage()
            + ")");
      }
    }
    System.out.println();
    System.out.println("# Per-core rates from thread CPU time (clip4j.blasThreads=1, clip4j.threads=1; best of " + rounds
        + " rounds)");
    System.out.println("# " + Runtime.getRuntime().availableProcessors() + " processors; load average at start "
        + loadAtStart + ", at end " + ThroughputBench.loadAverage() + "; OPENBLAS_CORETYPE="
        + System.getenv("OPENBLAS_CORETYPE") + "; cpu " + engine.cpuFeatures());
    best.forEach((k, v) -> System.out.printf("%-62s %8.2f%n", k, v));
    double ceilingGflops = Math.max(best.getOrDefault(blas, 0.0),
        best.getOrDefault(packedKey(CpuKernels.AVX512, false), 0.0));
    ceilingGflops = Math.max(ceilingGflops, best.getOrDefault(packedKey(CpuKernels.AVX2, false), 0.0));
    double ceiling = ceilingGflops / ThroughputBench.VIT_B32_GFLOP_PER_IMAGE;
    System.out.printf("%-62s %8.2f%n", "fp32 GEMM ceiling (best fp32 GEMM / 8.82 GFLOP per image, img/s)", ceiling);
    for (int bs : BATCHES) {
      double f = best.getOrDefault(towerKey(fp32, bs), Double.NaN);
      System.out.printf("%-62s %8.2f%n", "ratio " + fp32 + " / ceiling, bs " + bs, f / ceiling);
      if (bf16 != null) {
        System.out.printf("%-62s %8.2f%n", "ratio " + bf16 + " / " + fp32 + ", bs " + bs,
            best.getOrDefault(towerKey(bf16, bs), Double.NaN) / f);
      }
    }
    for (ClipModel m : models.values()) {
      m.close();
    }
    for (Tensor t : pixels.values()) {
      t.close();
    }
  }

  private static String packedKey(CpuKernels k, boolean bf16) {
    return "gemm clip4j packed " + k.id() + (bf16 ? "_bf16" : "") + " 2048^3 (GFLOP/s)";
  }

  private static String towerKey(String model, int bs) {
    return "ViT-B-32 " + model + " bs " + bs + " (img/CPU-s)";
  }

  private static void keep(Map<String, Double> best, String key, double v) {
    best.merge(key, v, Math::max);
  }

  /** Units per CPU-second of the calling thread over {@code reps} calls (after one warm-up call). */
  private static double rate(Supplier<Tensor> op, double unitsPerCall, int reps) {
    close(op.get());
    long t0 = THREADS.getCurrentThreadCpuTime();
    for (int i = 0; i < reps; i++) {
      close(op.get());
    }
    return unitsPerCall * reps / ((THREADS.getCurrentThreadCpuTime() - t0) / 1e9);
  }

  private static void close(Tensor t) {
    if (t != null) {
      t.close();
    }
  }
}
