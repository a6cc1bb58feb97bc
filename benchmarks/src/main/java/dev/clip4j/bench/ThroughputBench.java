package dev.clip4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Engine;
import dev.clip4j.EngineReport;
import dev.clip4j.batch.Embedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.batch.SlotWriter;
import dev.clip4j.head.Activation;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.ClipTowers;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.RandomModels;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.StateDictTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The clip4j side of benchmarks/run.sh, all measured in one run on this machine: the fp32 GEMM
 * rate and the ViT-B-32 ceiling it implies, clip4j's ViT-B-32 image throughput at batch 1/8/32,
 * text throughput trimmed vs untrimmed, 16 concurrent callers through the Embedder (p50/p99), and
 * RSS over 20k embeddings. Merges the DJL peer's figures (run in its own JVM on the same
 * TorchScript tower) and writes results/latest.json and results/latest.md.
 *
 * <p>Usage: ThroughputBench prepare WORK_DIR | run WORK_DIR RESULTS_DIR [DJL_JSON]
 */
public final class ThroughputBench {
  private static final double VIT_B32_GFLOP_PER_IMAGE = 8.82;
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ThroughputBench() {}

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[1]);
    if (args[0].equals("prepare")) {
      prepare(work);
    } else {
      run(work, Path.of(args[2]), args.length > 3 ? Path.of(args[3]) : null);
    }
  }

  /** Generates the ViT-B-32 (random weights) once and exports its image tower as TorchScript. */
  static void prepare(Path work) throws IOException {
    Path dir = work.resolve("vit-b-32");
    if (!Files.isRegularFile(dir.resolve("open_clip_model.safetensors"))) {
      RandomModels.write(dir, RandomModels.vitB32(), 0);
    }
    Path tower = work.resolve("vit-b-32-visual.pt");
    if (!Files.isRegularFile(tower)) {
      ModelConfig cfg = ModelConfig.parse(dir.resolve("open_clip_config.json"));
      Map<String, Tensor> w;
      try (StateDict sd = CheckpointReader.read(dir.resolve("open_clip_model.safetensors"))) {
        w = StateDictTensors.toTensors(sd);
      }
      try (ClipTowers towers = ClipTowers.build(cfg, Activation.QUICK_GELU, w)) {
        towers.saveTower(ClipTowers.Tower.VISUAL, tower);
      }
    }
    System.err.println("prepared " + dir + " and " + tower);
  }

  static double gemmGflops() {
    int n = 2048;
    Tensor a = torch.randn(n, n);
    Tensor b = torch.randn(n, n);
    a.matmul(b);
    double best = 0;
    for (int i = 0; i < 5; i++) {
      long t0 = System.nanoTime();
      a.matmul(b);
      best = Math.max(best, 2.0 * n * n * n / ((System.nanoTime() - t0) / 1e9) / 1e9);
    }
    return best;
  }

  static double rate(Runnable op, int itemsPerOp, double seconds) {
    for (int w = 0; w < 2; w++) {
      op.run();
    }
    long t0 = System.nanoTime();
    int iters = 0;
    while (iters < 3 || System.nanoTime() - t0 < seconds * 1e9) {
      op.run();
      iters++;
    }
    return itemsPerOp * iters / ((System.nanoTime() - t0) / 1e9);
  }

  /** Token ids [n, len]: SOT, random ids, EOT (the largest id, where CLIP pools), padding after {@code real}. */
  static Tensor ids(int n, int len, int real, Random rng) {
    long[] v = new long[n * len];
    for (int i = 0; i < n; i++) {
      v[i * len] = 49406;
      for (int j = 1; j < real - 1; j++) {
        v[i * len + j] = 1 + rng.nextInt(40000);
      }
      v[i * len + real - 1] = 49407;
    }
    LongPointer p = new LongPointer(v);
    return torch.from_blob(p, new long[] {n, len}, new TensorOptions(ScalarType.Long)).clone();
  }

  static long rssKb() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    return -1;
  }

  static void run(Path work, Path results, Path djlJson) throws Exception {
    EngineReport engine = Engine.ensureInitialized();
    ObjectNode out = JSON.createObjectNode();
    out.put("machine", Runtime.getRuntime().availableProcessors() + " cores; OPENBLAS_CORETYPE="
        + System.getenv("OPENBLAS_CORETYPE"));
    out.set("engine", JSON.valueToTree(engine.toMap()));
    double gemm = gemmGflops();
    out.put("gemm_gflops", gemm);
    double ceiling = gemm / VIT_B32_GFLOP_PER_IMAGE;
    out.put("ceiling_images_per_s", ceiling);
    System.err.printf("gemm %.1f GFLOP/s -> ceiling %.1f img/s%n", gemm, ceiling);

    Random rng = new Random(0);
    try (ClipModel model = ClipModel.load(work.resolve("vit-b-32"))) {
      ObjectNode img = out.putObject("vit_b32_images_per_s");
      for (int bs : new int[] {1, 8, 32}) {
        Tensor px = torch.randn(bs, 3, 224, 224);
        double r = rate(() -> model.embedImages(px), bs, bs == 32 ? 20 : 10);
        img.put(Integer.toString(bs), r);
        System.err.printf("clip4j images bs %d: %.2f img/s%n", bs, r);
      }
      // Texts: short queries (8 tokens) trimmed vs padded to 77; and full 77-token texts.
      Tensor shortTrim = ids(32, 8, 8, rng);
      Tensor shortFull = ids(32, 77, 8, rng);
      Tensor longFull = ids(32, 77, 77, rng);
      double trimmed = rate(() -> model.embedTexts(shortTrim), 32, 8);
      double untrimmed = rate(() -> model.embedTexts(shortFull), 32, 8);
      double full77 = rate(() -> model.embedTexts(longFull), 32, 8);
      out.put("text_short_per_s_trimmed", trimmed);
      out.put("text_short_per_s_untrimmed", untrimmed);
      out.put("text_77_per_s", full77);
      System.err.printf("texts: short trimmed %.1f/s, untrimmed %.1f/s, 77-token %.1f/s%n", trimmed, untrimmed, full77);

      // 16 concurrent callers through the Embedder (short queries, bucket length 8).
      SlotWriter<long[]> writer = (v, batch, slot) -> {
        new LongPointer(batch.data_ptr()).position((long) slot * v.length).put(v);
        return v.length;
      };
      Embedder.Lane<long[]> lane = new Embedder.Lane<>("texts-8", new long[] {8}, ScalarType.Long, writer,
          model::embedTexts, false);
      long[][] queries = new long[256][];
      for (int i = 0; i < queries.length; i++) {
        Tensor t = ids(1, 8, 8, rng);
        queries[i] = new long[8];
        t.data_ptr_long().get(queries[i]);
      }
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(32).withMaxDelay(Duration.ofMillis(2));
      try (Embedder e = Embedder.create(cfg, List.of(lane))) {
        int perThread = 60;
        List<Long> latencies = java.util.Collections.synchronizedList(new ArrayList<>());
        ExecutorService clients = Executors.newFixedThreadPool(16);
        long t0 = System.nanoTime();
        List<Future<?>> fs = new ArrayList<>();
        for (int c = 0; c < 16; c++) {
          final int seed = c;
          fs.add(clients.submit(() -> {
            for (int i = 0; i < perThread; i++) {
              long s = System.nanoTime();
              e.submit("texts-8", queries[(seed * perThread + i) % queries.length]).join();
              latencies.add(System.nanoTime() - s);
            }
            return null;
          }));
        }
        for (Future<?> f : fs) {
          f.get();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        clients.shutdown();
        long[] lat = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
        out.put("concurrent_p50_ms", lat[lat.length / 2] / 1e6);
        out.put("concurrent_p99_ms", lat[(int) (lat.length * 0.99)] / 1e6);
        out.put("concurrent_texts_per_s", lat.length / secs);
        out.put("bulk_texts_per_s", trimmed);
        System.err.printf("16 callers: p50 %.1f ms, p99 %.1f ms, %.1f texts/s (bulk %.1f)%n",
            lat[lat.length / 2] / 1e6, lat[(int) (lat.length * 0.99)] / 1e6, lat.length / secs, trimmed);

        // Steady state: RSS and pool over 20k embeddings.
        // Baseline at 10k (after earlier phases' transient memory has been returned), end at 20k.
        int total = 20000;
        int window = 10000;
        List<CompletableFuture<float[]>> pending = new ArrayList<>();
        long rssAfterWarmup = 0;
        long allocAfterWarmup = 0;
        for (int i = 0; i < total; i++) {
          pending.add(e.submit("texts-8", queries[i % queries.length]));
          if (pending.size() == 256) {
            pending.forEach(CompletableFuture::join);
            pending.clear();
          }
          if (i == window) {
            System.gc();
            rssAfterWarmup = rssKb();
            allocAfterWarmup = e.pool().allocations();
          }
        }
        pending.forEach(CompletableFuture::join);
        System.gc();
        long rssEnd = rssKb();
        out.put("rss_growth_mb", (rssEnd - rssAfterWarmup) / 1024.0);
        out.put("rss_mb", rssEnd / 1024.0);
        out.put("pool_allocations_during_steady_state", e.pool().allocations() - allocAfterWarmup);
        System.err.printf("rss growth over %d embeddings: %.1f MB; pool allocations: %d%n", total - window,
            (rssEnd - rssAfterWarmup) / 1024.0, e.pool().allocations() - allocAfterWarmup);
      }
    }
    if (djlJson != null && Files.isRegularFile(djlJson)) {
      JsonNode djl = JSON.readTree(djlJson.toFile());
      djl.fields().forEachRemaining(f -> out.set(f.getKey(), f.getValue()));
    }
    Files.createDirectories(results);
    JSON.writeValue(results.resolve("latest.json").toFile(), out);
    Files.writeString(results.resolve("latest.md"), markdown(out));
    System.out.print(markdown(out));
  }

  static String markdown(JsonNode r) {
    StringBuilder sb = new StringBuilder("# clip4j benchmark (one run, this machine)\n\n");
    sb.append("Machine: ").append(r.path("machine").asText()).append(", BLAS threads ")
        .append(r.path("engine").path("blas_threads").asText()).append(", intra-op threads ")
        .append(r.path("engine").path("intra_op_threads").asText()).append("\n\n");
    sb.append(String.format("fp32 GEMM (2048^3 via LibTorch): %.1f GFLOP/s -> ViT-B-32 ceiling %.1f img/s (8.82 GFLOP/image)%n%n",
        r.path("gemm_gflops").asDouble(), r.path("ceiling_images_per_s").asDouble()));
    sb.append("| ViT-B-32 image tower | bs 1 | bs 8 | bs 32 |\n|---|---|---|---|\n");
    sb.append(row("clip4j img/s", r.path("vit_b32_images_per_s")));
    sb.append(row("DJL 0.36 (LibTorch 2.7.1), same TorchScript tower, img/s", r.path("djl_vit_b32_images_per_s")));
    StringBuilder ratio = new StringBuilder("| clip4j / DJL |");
    StringBuilder ceil = new StringBuilder("| clip4j / GEMM ceiling |");
    for (String bs : new String[] {"1", "8", "32"}) {
      double c = r.path("vit_b32_images_per_s").path(bs).asDouble(Double.NaN);
      double d = r.path("djl_vit_b32_images_per_s").path(bs).asDouble(Double.NaN);
      ratio.append(String.format(" %.2f |", c / d));
      ceil.append(String.format(" %.2f |", c / r.path("ceiling_images_per_s").asDouble()));
    }
    sb.append(ratio).append('\n').append(ceil).append("\n\n");
    if (r.has("djl_error")) {
      sb.append("DJL failed: ").append(r.path("djl_error").asText()).append("\n\n");
    }
    sb.append(String.format("Texts (batch 32): short queries trimmed to 8 positions %.1f/s vs padded to 77 %.1f/s (x%.2f); 77-token texts %.1f/s%n%n",
        r.path("text_short_per_s_trimmed").asDouble(), r.path("text_short_per_s_untrimmed").asDouble(),
        r.path("text_short_per_s_trimmed").asDouble() / r.path("text_short_per_s_untrimmed").asDouble(),
        r.path("text_77_per_s").asDouble()));
    sb.append(String.format("16 concurrent callers (short queries, Embedder): p50 %.1f ms, p99 %.1f ms, %.1f texts/s vs bulk %.1f/s%n%n",
        r.path("concurrent_p50_ms").asDouble(), r.path("concurrent_p99_ms").asDouble(),
        r.path("concurrent_texts_per_s").asDouble(), r.path("bulk_texts_per_s").asDouble()));
    sb.append(String.format("Steady state, embeddings 10k..20k: RSS growth %.1f MB (RSS %.0f MB), pool allocations %d%n",
        r.path("rss_growth_mb").asDouble(), r.path("rss_mb").asDouble(), r.path("pool_allocations_during_steady_state").asLong()));
    return sb.toString();
  }

  private static String row(String name, JsonNode v) {
    return String.format("| %s | %s | %s | %s |%n", name, fmt(v.path("1")), fmt(v.path("8")), fmt(v.path("32")));
  }

  private static String fmt(JsonNode n) {
    return n.isNumber() ? String.format("%.2f", n.asDouble()) : "n/a";
  }
}
