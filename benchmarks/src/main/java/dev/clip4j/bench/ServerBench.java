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
 * with the same model and batching settings, measured in one run; request latency p50/p99; and,
 * for busy machines, CPU time: the server's per text (process CPU less the load generator's
 * threads) against the in-process path's, and the load generator's per request. Properties:
 * {@code bench.client} (jetty | jdk), {@code bench.perRequest} (1,16), {@code bench.rounds} (2), {@code bench.maxDelayMs} (5), {@code bench.clients} (16). Not
 * a test. Usage: {@code ServerBench WORK_DIR OUT.json [spec: vit-b-32|small] [texts]}.
 */
public final class ServerBench {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** The load generator: "jetty" (Jetty's asynchronous HttpClient, the default) or "jdk" (java.net.http, 16 threads). */
  private static final String CLIENT = System.getProperty("bench.client", "jetty");

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    Path out = Path.of(args[1]);
    String spec = args.length > 2 ? args[2] : "vit-b-32";
    int n = args.length > 3 ? Integer.parseInt(args[3]) : 2000;
    int clients = Integer.getInteger("bench.clients", 16);
    dev.clip4j.server.LogLineFormatter.install(); // the log lines clip4j serve writes (access log on, to stderr)
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
    Duration delay = Duration.ofMillis(Integer.getInteger("bench.maxDelayMs", 5));
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("model", spec.equals("small") ? "RandomModels.small()" : "RandomModels.vitB32() (random weights)");
    result.put("texts", n);
    result.put("clients", clients);
    result.put("max_batch", maxBatch);
    result.put("max_delay_ms", delay.toMillis());
    result.put("cores", Runtime.getRuntime().availableProcessors());
    result.put("client", CLIENT.equals("jdk") ? "java.net.http.HttpClient, one per client thread"
        : "Jetty HttpClient (asynchronous, " + clients + " requests in flight)");
    int[] perRequests = Arrays.stream(System.getProperty("bench.perRequest", "1,16").split(","))
        .mapToInt(Integer::parseInt).toArray();
    int rounds = Integer.getInteger("bench.rounds", 2);

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
      for (int perRequest : perRequests) {
        run(server.port(), texts.subList(0, Math.min(n, 256)), clients, perRequest); // warm the path
      }
      for (int round = 0; round < rounds; round++) {
        long cpu0 = PROCESS.getProcessCpuTime();
        long t0 = System.nanoTime();
        e.embedTexts(texts).forEach(CompletableFuture::join);
        double inProcess = n / ((System.nanoTime() - t0) / 1e9);
        double inProcessCpuUs = (PROCESS.getProcessCpuTime() - cpu0) / 1e3 / n;
        bulk = Math.max(bulk, inProcess);
        System.err.printf(Locale.ROOT, "server bench: round %d in-process %.1f texts/s, %.1f CPU us/text%n", round,
            inProcess, inProcessCpuUs);
        for (int perRequest : perRequests) {
          double[] b0 = batches(server);
          Map<String, Object> r = run(server.port(), texts, clients, perRequest);
          double[] b1 = batches(server);
          r.put("server_batches", (long) (b1[0] - b0[0]));
          r.put("server_mean_batch", round((b1[1] - b0[1]) / Math.max(1, b1[0] - b0[0])));
          r.put("in_process_same_round_texts_per_s", round(inProcess));
          r.put("ratio_to_in_process", round((double) r.get("texts_per_s") / inProcess));
          r.put("in_process_cpu_us_per_text", round(inProcessCpuUs));
          // CPU-time ratio: in-process CPU per text over the server's; hardly moved by other load.
          r.put("cpu_ratio_to_in_process", round(inProcessCpuUs / (double) r.get("server_cpu_us_per_text")));
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
    s.append(String.format(Locale.ROOT, "Model %s, %d texts, %d keep-alive clients in the same JVM on loopback"
        + " (%s, request bodies made before the clock starts), batches of up to %d after at most %d ms, %d cores."
        + " Server CPU = process CPU less the load generator's threads (GC and JIT count as server).%n%n",
        result.get("model"), n, clients, result.get("client"), maxBatch, delay.toMillis(),
        Runtime.getRuntime().availableProcessors()));
    s.append("| path | texts/s | ratio to in-process | request p50 ms | request p99 ms | server CPU us/text"
        + " (in process) | CPU ratio | client CPU us/request | server mean batch | load average |\n"
        + "|---|---|---|---|---|---|---|---|---|---|\n");
    s.append(String.format(Locale.ROOT, "| in-process bulk (ClipEmbedder.embedTexts), best round | %.1f | 1.00 | | | | | | | |%n",
        bulk));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> http = (Map<String, Map<String, Object>>) result.get("http");
    for (Map.Entry<String, Map<String, Object>> e : http.entrySet()) {
      Map<String, Object> r = e.getValue();
      s.append(String.format(Locale.ROOT, "| HTTP, %s (in process that round: %.1f) | %.1f | %.2f | %.1f | %.1f |"
          + " %.1f (%.1f) | %.2f | %.1f | %.1f | %.2f |%n",
          e.getKey().replace('_', ' '), r.get("in_process_same_round_texts_per_s"), r.get("texts_per_s"),
          r.get("ratio_to_in_process"), r.get("p50_ms"), r.get("p99_ms"), r.get("server_cpu_us_per_text"),
          r.get("in_process_cpu_us_per_text"), r.get("cpu_ratio_to_in_process"), r.get("client_cpu_us_per_request"),
          r.get("server_mean_batch"), r.get("load_average")));
    }
    Files.writeString(md, s.toString());
    System.out.print(s);
  }

  /** {batches, items} the server's embedder has run so far, over its text lanes. */
  private static double[] batches(EmbeddingServer server) {
    double count = 0;
    double items = 0;
    for (io.micrometer.core.instrument.DistributionSummary d
        : server.registry().find("clip4j.embedder.batch.size").summaries()) {
      count += d.count();
      items += d.totalAmount();
    }
    return new double[] {count, items};
  }

  /** CPU seconds by thread group over one phase: the load generator's threads, and the rest (the server's). */
  private static final class Cpu {
    final Map<Long, Long> before = new java.util.HashMap<>();
    final Map<Long, Long> allocatedBefore = new java.util.HashMap<>();
    final long processBefore;
    long serverAllocated; // bytes the non-client Java threads allocated: steady where CPU time is not

    Cpu() {
      THREADS.setThreadCpuTimeEnabled(true);
      for (long id : THREADS.getAllThreadIds()) {
        before.put(id, Math.max(0, THREADS.getThreadCpuTime(id)));
        allocatedBefore.put(id, Math.max(0, THREADS.getThreadAllocatedBytes(id)));
      }
      processBefore = PROCESS.getProcessCpuTime();
    }

    final Map<String, Double> byGroup = new java.util.TreeMap<>();

    /**
     * {client CPU s, process CPU s}, and CPU s by thread group (name less its number) into
     * byGroup; call before the load generator's threads end (an ended thread's time is lost).
     */
    double[] since() {
      long client = 0;
      for (java.lang.management.ThreadInfo t : THREADS.getThreadInfo(THREADS.getAllThreadIds())) {
        if (t != null) {
          long now = THREADS.getThreadCpuTime(t.getThreadId());
          if (now > 0) {
            long d = now - before.getOrDefault(t.getThreadId(), 0L);
            client += isClientThread(t.getThreadName()) ? d : 0;
            long a = THREADS.getThreadAllocatedBytes(t.getThreadId());
            serverAllocated += isClientThread(t.getThreadName()) || a < 0 ? 0
                : a - allocatedBefore.getOrDefault(t.getThreadId(), 0L);
            byGroup.merge(t.getThreadName().replaceAll("-\\d+", ""), d / 1e9, Double::sum);
          }
        }
      }
      return new double[] {client / 1e9, (PROCESS.getProcessCpuTime() - processBefore) / 1e9};
    }
  }

  private static final com.sun.management.ThreadMXBean THREADS =
      (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
  private static final com.sun.management.OperatingSystemMXBean PROCESS =
      (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

  /** The load generator's threads: ours, Jetty client's pool, the JDK client's workers and selectors. */
  static boolean isClientThread(String name) {
    return name.startsWith("bench-client") || name.startsWith("HttpClient-");
  }

  /** The request bodies, made before the clock starts (the load generator should cost little). */
  private static List<byte[]> bodies(List<String> texts, int perRequest) throws Exception {
    List<byte[]> out = new ArrayList<>();
    for (int s = 0; s < texts.size(); s += perRequest) {
      List<String> part = texts.subList(s, Math.min(texts.size(), s + perRequest));
      out.add(JSON.writeValueAsBytes(Map.of("model", "bench", "input", part, "encoding_format", "base64")));
    }
    return out;
  }

  private static Map<String, Object> run(int port, List<String> texts, int clients, int perRequest) throws Exception {
    String url = "http://127.0.0.1:" + port + "/v1/embeddings";
    List<byte[]> bodies = bodies(texts, perRequest);
    int requests = bodies.size();
    long[] latencies = new long[requests];
    AtomicInteger failures = new AtomicInteger();
    double load0 = PROCESS.getSystemLoadAverage();
    Cpu cpu;
    long t0;
    double seconds;
    double[] used;
    if (CLIENT.equals("jdk")) {
      AtomicInteger next = new AtomicInteger();
      AtomicInteger threadNo = new AtomicInteger();
      ExecutorService exec = Executors.newFixedThreadPool(clients, r -> new Thread(r, "bench-client-" + threadNo.incrementAndGet()));
      List<HttpClient> jdk = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        jdk.add(HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()); // one keep-alive connection each
      }
      URI uri = URI.create(url);
      cpu = new Cpu();
      t0 = System.nanoTime();
      try {
        List<Future<?>> fs = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
          HttpClient client = jdk.get(c);
          fs.add(exec.submit(() -> {
            for (int r; (r = next.getAndIncrement()) < requests; ) {
              long s = System.nanoTime();
              try {
                HttpResponse<byte[]> resp = client.send(HttpRequest.newBuilder(uri).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(bodies.get(r))).build(), HttpResponse.BodyHandlers.ofByteArray());
                check(resp.statusCode(), resp.body(), failures);
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
        seconds = (System.nanoTime() - t0) / 1e9;
        used = cpu.since();
      } finally {
        exec.shutdown();
      }
    } else {
      // Jetty's client, asynchronous: `clients` requests in flight on as many keep-alive connections.
      org.eclipse.jetty.util.thread.QueuedThreadPool pool = new org.eclipse.jetty.util.thread.QueuedThreadPool(8, 2);
      pool.setName("bench-client");
      org.eclipse.jetty.client.HttpClient client = new org.eclipse.jetty.client.HttpClient();
      client.setExecutor(pool);
      client.setMaxConnectionsPerDestination(clients);
      client.start();
      try {
        AtomicInteger next = new AtomicInteger();
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(clients);
        cpu = new Cpu();
        t0 = System.nanoTime();
        for (int c = 0; c < clients; c++) {
          sendNext(client, url, bodies, next, latencies, failures, done);
        }
        done.await();
        seconds = (System.nanoTime() - t0) / 1e9;
        used = cpu.since();
      } finally {
        client.stop();
      }
    }
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
    r.put("client_cpu_s", round3(used[0]));
    r.put("server_cpu_s", round3(used[1] - used[0]));
    r.put("server_cpu_us_per_text", round((used[1] - used[0]) / texts.size() * 1e6));
    r.put("server_cpu_us_per_request", round((used[1] - used[0]) / requests * 1e6));
    r.put("client_cpu_us_per_request", round(used[0] / requests * 1e6));
    r.put("server_allocated_bytes_per_request", cpu.serverAllocated / requests);
    Map<String, Double> groups = new LinkedHashMap<>();
    cpu.byGroup.forEach((k, v) -> {
      if (v >= 0.005) {
        groups.put(k, round3(v));
      }
    });
    r.put("cpu_s_by_thread", groups);
    r.put("load_average", round(Math.max(load0, PROCESS.getSystemLoadAverage())));
    return r;
  }

  /** Sends request {@code next} and, when it is answered, the one after, until none is left. */
  private static void sendNext(org.eclipse.jetty.client.HttpClient client, String url, List<byte[]> bodies,
      AtomicInteger next, long[] latencies, AtomicInteger failures, java.util.concurrent.CountDownLatch done) {
    int r = next.getAndIncrement();
    if (r >= bodies.size()) {
      done.countDown();
      return;
    }
    long s = System.nanoTime();
    client.newRequest(url).method(org.eclipse.jetty.http.HttpMethod.POST)
        .body(new org.eclipse.jetty.client.BytesRequestContent("application/json", bodies.get(r)))
        .send(new org.eclipse.jetty.client.BufferingResponseListener(64 << 20) {
          @Override
          public void onComplete(org.eclipse.jetty.client.Result result) {
            latencies[r] = System.nanoTime() - s;
            if (result.isFailed()) {
              failures.incrementAndGet();
              System.err.println("server bench: " + result.getFailure());
            } else {
              check(result.getResponse().getStatus(), getContent(), failures);
            }
            sendNext(client, url, bodies, next, latencies, failures, done);
          }
        });
  }

  private static void check(int status, byte[] body, AtomicInteger failures) {
    if (status != 200) {
      failures.incrementAndGet();
      System.err.println("server bench: HTTP " + status + ": " + new String(body, java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  private static double round3(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
