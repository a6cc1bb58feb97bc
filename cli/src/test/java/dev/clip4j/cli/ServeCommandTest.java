package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.Conformance;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clip4j serve} as its own JVM: SIGTERM under load stops accepting, finishes the requests
 * in flight (they get their embeddings), and the process exits 0; an API key from a file.
 */
class ServeCommandTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Pattern SERVING = Pattern.compile("serving .* on http://127\\.0\\.0\\.1:(\\d+)");

  @TempDir Path tmp;

  record Server(Process process, int port, List<String> lines, Thread reader) {}

  static Server launch(String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<String> lines = new CopyOnWriteArrayList<>();
    java.util.concurrent.CompletableFuture<Integer> port = new java.util.concurrent.CompletableFuture<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = r.readLine()) != null; ) {
          lines.add(line);
          Matcher m = SERVING.matcher(line);
          if (m.find()) {
            port.complete(Integer.parseInt(m.group(1)));
          }
        }
      } catch (IOException e) {
        // the process ended
      }
      port.completeExceptionally(new IllegalStateException("serve exited before serving: " + lines));
    });
    reader.setDaemon(true);
    reader.start();
    return new Server(p, port.get(120, TimeUnit.SECONDS), lines, reader);
  }

  static HttpResponse<String> post(HttpClient c, int port, String body, String key) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/embeddings"))
        .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body));
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return c.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static double admitted(HttpClient c, int port) throws Exception {
    HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
        .header("Authorization", "Bearer sk-from-a-file").build(), HttpResponse.BodyHandlers.ofString());
    Matcher m = Pattern.compile("(?m)^clip4j_server_admitted_items ([0-9.]+)").matcher(r.body());
    return m.find() ? Double.parseDouble(m.group(1)) : -1;
  }

  @Test
  void sigtermUnderLoadDrainsRequestsInFlightAndExitsZero() throws Exception {
    Path model = Conformance.dir().resolve("models/tiny-gelu");
    Path keyFile = tmp.resolve("key");
    Files.writeString(keyFile, "sk-from-a-file\n");
    // Items wait up to 3 s for a batch of 64 to fill: whatever was admitted is surely in flight when
    // SIGTERM lands, and must still be answered.
    Server s = launch("--model", "tiny=" + model, "--port", "0", "--api-key-file", keyFile.toString(),
        "--max-queue", "48", "--max-batch", "64", "--max-delay-ms", "3000", "--drain-timeout", "20");
    String pad = " and then some more words to make this text longer than sixty four tokens".repeat(6);
    List<String> texts = List.of("a photo of a cat" + pad, "a dog" + pad, "drained in flight" + pad);
    float[][] want;
    try (ClipModel m = ClipModel.load(model); ClipEmbedder e = ClipEmbedder.create(m)) {
      want = e.embedTexts(texts).stream().map(java.util.concurrent.CompletableFuture::join).toArray(float[][]::new);
    }
    HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    assertThat(post(client, s.port(), "{\"input\":\"x\"}", null).statusCode()).isEqualTo(401);
    ExecutorService exec = Executors.newFixedThreadPool(12);
    Map<Integer, AtomicInteger> loadStatuses = new ConcurrentHashMap<>();
    AtomicInteger refusedAfterTerm = new AtomicInteger();
    List<Throwable> failures = new CopyOnWriteArrayList<>();
    long[] termAt = {Long.MAX_VALUE};
    try {
      // The requests whose drain we check, admitted first (the server's budget counts them).
      List<Future<HttpResponse<String>>> inFlight = new ArrayList<>();
      for (String t : texts) {
        inFlight.add(exec.submit(() -> post(client, s.port(),
            JSON.writeValueAsString(Map.of("input", List.of(t), "encoding_format", "float")), "sk-from-a-file")));
      }
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (admitted(client, s.port()) < texts.size() && System.nanoTime() < until) {
        Thread.sleep(10);
      }
      assertThat(admitted(client, s.port())).isGreaterThanOrEqualTo(texts.size());
      // Then load: 8 clients, 2 texts a request, until the server is gone.
      List<Future<?>> load = new ArrayList<>();
      for (int c = 0; c < 8; c++) {
        load.add(exec.submit(() -> {
          HttpClient own = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
          for (int i = 0; i < 2000; i++) {
            try {
              HttpResponse<String> r = post(own, s.port(), "{\"input\":[\"load\",\"more load\"]}", "sk-from-a-file");
              loadStatuses.computeIfAbsent(r.statusCode(), k -> new AtomicInteger()).incrementAndGet();
              if (r.statusCode() == 503) {
                return; // draining: this connection's next request would be refused too
              }
            } catch (IOException e) {
              if (System.nanoTime() < termAt[0]) {
                failures.add(e); // a connection error before SIGTERM is a lost request
              } else {
                refusedAfterTerm.incrementAndGet();
              }
              return;
            } catch (Exception e) {
              failures.add(e);
              return;
            }
          }
        }));
      }
      Thread.sleep(300);
      termAt[0] = System.nanoTime();
      // SIGTERM through kill(1): Process.destroy() would also close our end of the child's output.
      assertThat(new ProcessBuilder("kill", "-TERM", Long.toString(s.process().pid())).start().waitFor()).isZero();
      assertThat(s.process().waitFor(60, TimeUnit.SECONDS)).as("exits within the drain timeout").isTrue();
      assertThat(s.process().exitValue()).as(String.join("\n", s.lines())).isZero();
      for (int i = 0; i < texts.size(); i++) {
        HttpResponse<String> r = inFlight.get(i).get(10, TimeUnit.SECONDS);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode e = JSON.readTree(r.body()).at("/data/0/embedding");
        for (int j = 0; j < want[i].length; j++) {
          assertThat(Float.parseFloat(e.get(j).asText())).isEqualTo(want[i][j]);
        }
      }
      for (Future<?> f : load) {
        f.get(30, TimeUnit.SECONDS);
      }
    } finally {
      exec.shutdownNow();
      s.process().destroyForcibly();
    }
    assertThat(failures).isEmpty();
    // The load requests in flight at SIGTERM were drained (200); later ones were refused (503 or no connection).
    assertThat(loadStatuses.keySet()).as("load statuses " + loadStatuses).isSubsetOf(200, 429, 503).contains(200);
    s.reader().join(10_000); // the whole output, to EOF
    String log = String.join("\n", s.lines());
    assertThat(log).contains("draining").contains("stopped after draining").doesNotContain("sk-from-a-file");
    assertThat(log).containsPattern("POST /v1/embeddings 200 items=2 [0-9.]+ms").contains("POST /v1/embeddings 200 items=1");
  }
}
