package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.EngineReport;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.Precision;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The configuration table of benchmarks/run.sh, for one process (one BLAS library, one
 * OPENBLAS_CORETYPE, one environment): the best large sgemm at each thread layout, and the
 * ViT-B-32 image tower's images/s at batch 1/8/32 for each (thread layout x per-sample or folded
 * GEMMs, plus bf16 where the CPU runs it). Layouts change in the same process, and the rounds
 * interleave every configuration, so drift from other load on the machine hits all of them alike;
 * each figure is the best of its rounds, with the spread (worst/best) kept beside it.
 *
 * <p>Usage: layouts WORK_DIR OUT_JSON LABEL [LAYOUTS], LAYOUTS a comma-separated list of
 * "IxB[:model+model]" (intra-op x BLAS threads, "default" for the engine's; models among
 * packed, packed-avx2, per-sample, folded, bf16, by default the system property bench.models), e.g.
 * "default:per-sample+folded,2x1:per-sample".
 */
final class Layouts {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  /** Batch sizes measured (system property bench.batches, default 1,8,32). */
  private static final int[] BATCHES = java.util.Arrays.stream(System.getProperty("bench.batches", "1,8,32").split(","))
      .mapToInt(b -> Integer.parseInt(b.trim())).toArray();

  private Layouts() {}

  static void run(Path work, Path outJson, String label, String layoutSpec) throws Exception {
    EngineReport engine = Engine.ensureInitialized();
    int cores = Runtime.getRuntime().availableProcessors();
    int rounds = Integer.getInteger("bench.rounds", 2);
    double seconds = Double.parseDouble(System.getProperty("bench.seconds", "2"));
    // Entries "IxB[:model+model...]"; "default" is the engine's layout; models default to bench.models.
    String allModels = System.getProperty("bench.models", "packed,packed-avx2,per-sample,folded,bf16").replace(',', '+');
    List<int[]> layouts = new ArrayList<>();
    Map<String, List<String>> modelsOf = new LinkedHashMap<>();
    String spec = layoutSpec.isBlank() ? "default," + cores + "x1," + cores + "x" + cores : layoutSpec;
    for (String entry : spec.split(",")) {
      String[] parts = entry.trim().split(":");
      int[] lay;
      if (parts[0].equals("default")) {
        lay = new int[] {engine.intraOpThreads(), engine.blasThreads()};
      } else {
        String[] p = parts[0].split("x");
        lay = new int[] {Integer.parseInt(p[0]), Integer.parseInt(p[1])};
      }
      if (layouts.stream().noneMatch(x -> x[0] == lay[0] && x[1] == lay[1])) {
        layouts.add(lay);
        modelsOf.put(name(lay), List.of((parts.length > 1 ? parts[1] : allModels).split("\\+")));
      }
    }
    int[] defaultLayout = {engine.intraOpThreads(), engine.blasThreads()};
    ObjectNode out = JSON.createObjectNode();
    out.put("label", label);
    out.put("openblas_coretype", String.valueOf(System.getenv("OPENBLAS_CORETYPE")));
    out.put("omp_wait_policy", String.valueOf(System.getenv("OMP_WAIT_POLICY")));
    out.set("engine", JSON.valueToTree(engine.toMap()));

    // GEMM ceiling candidates: 2048^3 and 4096^3 at every layout; the best is this process's figure.
    ObjectNode gemm = out.putObject("gemm_gflops_by_layout");
    double bestGemm = 0;
    for (int[] lay : layouts) {
      Engine.setThreadLayout(lay[0], lay[1]);
      double g = ThroughputBench.largeGemmGflops();
      gemm.put(name(lay), g);
      bestGemm = Math.max(bestGemm, g);
      System.err.printf("[%s] sgemm %s: %.1f GFLOP/s%n", label, name(lay), g);
    }
    out.put("gemm_gflops_best", bestGemm);

    java.util.Set<String> wanted = new java.util.HashSet<>();
    modelsOf.values().forEach(wanted::addAll);
    Map<String, ClipModel> models = new LinkedHashMap<>();
    if (wanted.contains("packed")) {
      // The default load: batch-invariant through clip4j's packed GEMM where the CPU runs it.
      models.put("packed", ClipModel.load(work.resolve("vit-b-32")));
    }
    if (wanted.contains("per-sample")) {
      // Batch-invariant through LibTorch (one GEMM per sample): the default before the packed GEMM.
      String before = System.setProperty(dev.clip4j.model.ClipTowers.PACKED_GEMM_PROPERTY, "false");
      try {
        models.put("per-sample", ClipModel.load(work.resolve("vit-b-32")));
      } finally {
        if (before == null) {
          System.clearProperty(dev.clip4j.model.ClipTowers.PACKED_GEMM_PROPERTY);
        } else {
          System.setProperty(dev.clip4j.model.ClipTowers.PACKED_GEMM_PROPERTY, before);
        }
      }
    }
    if (wanted.contains("folded")) {
      models.put("folded", ClipModel.load(work.resolve("vit-b-32"), LoadOptions.builder().batchInvariant(false).build()));
    }
    if (wanted.contains("packed-avx2")) {
      // The packed kernels forced to the AVX2 family (what a mixed fleet pins).
      try {
        models.put("packed-avx2", ClipModel.load(work.resolve("vit-b-32"),
            LoadOptions.builder().cpuKernels(dev.clip4j.CpuKernels.AVX2).build()));
      } catch (Clip4jException e) {
        System.err.println("[" + label + "] packed-avx2: " + e.getMessage());
      }
    }
    if (wanted.contains("bf16")) {
      // bf16 through clip4j's packed bf16 kernels (batch-invariant), where the CPU runs them.
      try {
        models.put("bf16", ClipModel.load(work.resolve("vit-b-32"),
            LoadOptions.builder().precision(Precision.BF16).build()));
      } catch (Clip4jException e) {
        out.put("bf16_refused", e.getMessage());
        System.err.println("[" + label + "] bf16: " + e.getMessage());
      }
    }
    Map<Integer, Tensor> px = new LinkedHashMap<>();
    for (int bs : BATCHES) {
      px.put(bs, torch.randn(bs, 3, 224, 224));
    }
    // best[layout|model|bs] and worst, over rounds.
    Map<String, double[]> stats = new LinkedHashMap<>();
    for (int r = 0; r < rounds; r++) {
      for (int[] lay : layouts) {
        if (r > 0 && !(lay[0] == defaultLayout[0] && lay[1] == defaultLayout[1])) {
          continue; // the other layouts are measured once (run.sh's time budget); their spread reads 1.00
        }
        Engine.setThreadLayout(lay[0], lay[1]);
        for (Map.Entry<String, ClipModel> m : models.entrySet()) {
          if (!modelsOf.get(name(lay)).contains(m.getKey())) {
            continue;
          }
          for (int bs : BATCHES) {
            Tensor x = px.get(bs);
            ClipModel model = m.getValue();
            double rate = measure(() -> model.embedImages(x).close(), bs, seconds, r == 0 ? 2 : 1);
            String key = name(lay) + "|" + m.getKey() + "|" + bs;
            double[] s = stats.computeIfAbsent(key, k -> new double[] {0, Double.MAX_VALUE});
            s[0] = Math.max(s[0], rate);
            s[1] = Math.min(s[1], rate);
            System.err.printf("[%s] round %d %s %s bs %d: %.2f img/s%n", label, r, name(lay), m.getKey(), bs, rate);
          }
        }
      }
    }
    ArrayNode rows = out.putArray("rows");
    for (int[] lay : layouts) {
      for (String m : models.keySet()) {
        if (!modelsOf.get(name(lay)).contains(m)) {
          continue;
        }
        ObjectNode row = rows.addObject();
        row.put("layout", name(lay));
        row.put("cpu_kernels", models.get(m).info().cpuKernels());
        row.put("intra_op_threads", lay[0]);
        row.put("blas_threads", lay[1]);
        row.put("gemm", m);
        row.put("default_layout", lay[0] == defaultLayout[0] && lay[1] == defaultLayout[1]);
        ObjectNode ips = row.putObject("images_per_s");
        ObjectNode spread = row.putObject("worst_over_best");
        for (int bs : BATCHES) {
          double[] s = stats.get(name(lay) + "|" + m + "|" + bs);
          if (s == null) {
            continue;
          }
          ips.put(Integer.toString(bs), s[0]);
          spread.put(Integer.toString(bs), s[1] / s[0]);
        }
      }
    }
    Engine.setThreadLayout(defaultLayout[0], defaultLayout[1]);
    for (ClipModel m : models.values()) {
      m.close();
    }
    Files.createDirectories(outJson.toAbsolutePath().getParent());
    JSON.writeValue(outJson.toFile(), out);
  }

  /**
   * Images/s: up to {@code warm} untimed calls (fewer once one call alone outlasts {@code
   * seconds}: a collapsed layout must not eat the run's time budget), then timed calls until
   * {@code seconds} have passed (at least one).
   */
  static double measure(Runnable op, int items, double seconds, int warm) {
    for (int i = 0; i < warm; i++) {
      long w0 = System.nanoTime();
      op.run();
      if (System.nanoTime() - w0 > seconds * 1e9) {
        break;
      }
    }
    long t0 = System.nanoTime();
    int iters = 0;
    while (iters < 1 || System.nanoTime() - t0 < seconds * 1e9) {
      op.run();
      iters++;
    }
    return items * iters / ((System.nanoTime() - t0) / 1e9);
  }

  static String name(int[] layout) {
    return layout[0] + "x" + layout[1];
  }
}
