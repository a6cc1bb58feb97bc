package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.clip4j.Engine;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.RandomModels;
import dev.clip4j.server.EmbeddingServer;
import dev.clip4j.server.ServerConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Texts/s through {@code clip4j serve}'s HTTP API (16 keep-alive clients, in this JVM, on
 * loopback) against the in-process bulk path ({@link ClipEmbedder#embedTexts} of the whole list)
 * with the same model and batching settings, measured in one run; request latency p50/p99. Not a
 * test. Usage: {@code ServerBench WORK_DIR OUT.json [spec: vit-b-32|small] [texts]}.
 */
public final class ServerBench {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    Path out = Path.of(args[1]);
    String spec = args.length > 2 ? args[2] : "vit-b-32";
    int n = args.length > 3 ? Integer.parseInt(args[3]) : 2000;
    int clients = 16;
    Engine.ensureInitialized();
    Path dir = work.resolve("server-model-" + spec);
    if (!Files.isRegularFile(dir.resolve("open_clip_config.json"))) {
      RandomModels.write(dir, spec.equals("small") ? RandomModels.small() : RandomModels.vitB32(), 7);
    }
    List<String> texts = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      String base = RandomModels.SAMPLE_TEXTS.get(i % RandomModels.SAMPLE_TEXTS.size());
      texts.add(base + " number " + i + (i % 4 == 0 ? ", seen from a distance on a sunny afternoon" : ""));
    }
    int maxBatch = 32;
    Duration delay = Duration.ofMillis(5);
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("model", spec.equals("small") ? "RandomModels.small()" : "RandomModels.vitB32() (random weights)");
    result.put("texts", n);
    result.put("clients", clients);
    result.put("max_batch", maxBatch);
    result.put("max_delay_ms", delay.toMillis());
    result.put("cores", Runtime.getRuntime().availableProcessors());

    // Interleaved, so a change in the machine's load between phases does not make the ratio: each
    // round runs in-process bulk (one list through the micro-batching embedder, what CorpusJob and
    // embed-texts do), then HTTP at 1 and at 16 texts per request; each HTTP figure is divided by
    // the in-process figure of its own round, and the round with the better HTTP figure is kept.
    double bulk = 0;
    EmbeddingServer server = EmbeddingServer.start(ServerConfig.defaults().withPort(0)
        .withQueue(4096, maxBatch, delay).withRequestTimeout(Duration.ofMinutes(10)));
    try (ClipModel m = ClipModel.load(dir);
        ClipEmbedder e = ClipEmbedder.create(m, EmbedderConfig.defaults().withMaxBatchSize(maxBatch).withMaxDelay(delay))) {
      e.warmUp();
      e.embedTexts(texts.subList(0, Math.min(n, 256))).forEach(CompletableFuture::join);
      server.addModel("bench", ClipModel.load(dir), 0);
      server.ready();
      Map<String, Object> rows = new LinkedHashMap<>();
      for (int perRequest : new int[] {1, 16}) {
        run(server.port(), texts.subList(0, Math.min(n, 256)), clients, perRequest); // warm the path
      }
      for (int round = 0; round < 2; round++) {
        long t0 = System.nanoTime();
        e.embedTexts(texts).forEach(CompletableFuture::join);
        double inProcess = n / ((System.nanoTime() - t0) / 1e9);
        bulk = Math.max(bulk, inProcess);
        System.err.printf(Locale.ROOT, "server bench: round %d in-process %.1f texts/s%n", round, inProcess);
        for (int perRequest : new int[] {1, 16}) {
          Map<String, Object> r = run(server.port(), texts, clients, perRequest);
          r.put("in_process_same_round_texts_per_s", round(inProcess));
          r.put("ratio_to_in_process", round((double) r.get("texts_per_s") / inProcess));
          String key = perRequest + "_text_per_request";
          @SuppressWarnings("unchecked")
          Map<String, Object> best = (Map<String, Object>) rows.get(key);
          if (best == null || (double) r.get("ratio_to_in_process") > (double) best.get("ratio_to_in_process")) {
            rows.put(key, r);
          }
          System.err.printf(Locale.ROOT, "server bench: round %d, %d text(s)/request: %s%n", round, perRequest, r);
        }
      }
      result.put("in_process_texts_per_s", round(bulk));
      result.put("http", rows);
    } finally {
      server.stop();
    }
    System.err.printf(Locale.ROOT, "server bench: in-process %.1f texts/s%n", bulk);
    Files.createDirectories(out.toAbsolutePath().getParent());
    JSON.enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.toFile(), result);
    Path md = out.resolveSibling(out.getFileName().toString().replace(".json", ".md"));
    StringBuilder s = new StringBuilder();
    s.append("# clip4j serve: texts/s over HTTP vs in process (one run)\n\n");
    s.append(String.format(Locale.ROOT, "Model %s, %d texts, %d keep-alive clients in the same JVM on loopback,"
        + " batches of up to %d after at most %d ms, %d cores.%n%n", result.get("model"), n, clients, maxBatch,
        delay.toMillis(), Runtime.getRuntime().availableProcessors()));
    s.append("| path | texts/s | ratio to in-process | request p50 ms | request p99 ms |\n|---|---|---|---|---|\n");
    s.append(String.format(Locale.ROOT, "| in-process bulk (ClipEmbedder.embedTexts), best round | %.1f | 1.00 | | |%n", bulk));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> http = (Map<String, Map<String, Object>>) result.get("http");
    for (Map.Entry<String, Map<String, Object>> e : http.entrySet()) {
      Map<String, Object> r = e.getValue();
      s.append(String.format(Locale.ROOT, "| HTTP, %s (in process that round: %.1f) | %.1f | %.2f | %.1f | %.1f |%n",
          e.getKey().replace('_', ' '), r.get("in_process_same_round_texts_per_s"), r.get("texts_per_s"),
          r.get("ratio_to_in_process"), r.get("p50_ms"), r.get("p99_ms")));
    }
    Files.writeString(md, s.toString());
    System.out.print(s);
  }

  private static Map<String, Object> run(int port, List<String> texts, int clients, int perRequest) throws Exception {
    String url = "http://127.0.0.1:" + port + "/v1/embeddings";
    int requests = (texts.size() + perRequest - 1) / perRequest;
    AtomicInteger next = new AtomicInteger();
    long[] latencies = new long[requests];
    AtomicInteger failures = new AtomicInteger();
    ExecutorService exec = Executors.newFixedThreadPool(clients);
    long t0 = System.nanoTime();
    try {
      List<Future<?>> fs = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        fs.add(exec.submit(() -> {
          HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build(); // keep-alive
          for (int r; (r = next.getAndIncrement()) < requests; ) {
            List<String> part = texts.subList(r * perRequest, Math.min(texts.size(), (r + 1) * perRequest));
            long s = System.nanoTime();
            try {
              String body = JSON.writeValueAsString(Map.of("model", "bench", "input", part, "encoding_format", "base64"));
              HttpResponse<byte[]> resp = client.send(HttpRequest.newBuilder(URI.create(url))
                  .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                  HttpResponse.BodyHandlers.ofByteArray());
              if (resp.statusCode() != 200) {
                failures.incrementAndGet();
                System.err.println("server bench: HTTP " + resp.statusCode() + ": " + new String(resp.body(),
                    java.nio.charset.StandardCharsets.UTF_8));
              }
            } catch (Exception e) {
              failures.incrementAndGet();
              System.err.println("server bench: " + e);
            }
            latencies[r] = System.nanoTime() - s;
          }
          return null;
        }));
      }
      for (Future<?> f : fs) {
        f.get();
      }
    } finally {
      exec.shutdown();
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (failures.get() > 0) {
      throw new IllegalStateException(failures.get() + " requests failed");
    }
    long[] sorted = latencies.clone();
    Arrays.sort(sorted);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("texts_per_s", round(texts.size() / seconds));
    r.put("requests", requests);
    r.put("p50_ms", round(sorted[(int) (0.50 * (sorted.length - 1))] / 1e6));
    r.put("p99_ms", round(sorted[(int) Math.ceil(0.99 * (sorted.length - 1))] / 1e6));
    return r;
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
