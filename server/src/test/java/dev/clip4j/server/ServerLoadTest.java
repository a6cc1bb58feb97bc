package dev.clip4j.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.model.ClipModel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Overload and deadlines: a full queue is 429 with Retry-After at once (never a hang or a 5xx),
 * a passed deadline is 504, and a load of several times the queue gets only 200s and 429s, every
 * 200 holding the library's embeddings, /health answering throughout.
 */
class ServerLoadTest {

  static EmbeddingServer start(ServerConfig cfg) {
    EmbeddingServer s = EmbeddingServer.start(cfg.withPort(0));
    s.addModel("tiny", ClipModel.load(TestModels.gelu()), 0.1);
    s.ready();
    return s;
  }

  static double admitted(EmbeddingServer s) {
    return s.registry().get("clip4j.server.admitted.items").gauge().value();
  }

  @Test
  void aFullQueueIs429AtOnceAndAPassedDeadlineIs504() throws Exception {
    // Items wait up to 1 s for a batch of 64 to fill; the deadline is 400 ms: they time out queued.
    ServerConfig cfg = ServerConfig.defaults().withQueue(4, 64, Duration.ofMillis(1000))
        .withRequestTimeout(Duration.ofMillis(400));
    EmbeddingServer s = start(cfg);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Http http = new Http(s.port(), null);
      Future<Http.Reply> first = pool.submit(() -> http.post("/v1/embeddings",
          Map.of("input", List.of("a", "b", "c"))));
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (admitted(s) < 3 && System.nanoTime() < until) {
        Thread.sleep(5);
      }
      assertThat(admitted(s)).isEqualTo(3.0);
      long t0 = System.nanoTime();
      Http.Reply refused = http.post("/v1/embeddings", Map.of("input", List.of("d", "e")));
      long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      ServerApiTest.assertError(refused, 429, "overloaded");
      assertThat(refused.raw().headers().firstValue("Retry-After")).contains("1");
      assertThat(ms).as("429 must not wait for the queue").isLessThan(300);
      // More items than the whole queue can ever hold: split the request.
      ServerApiTest.assertError(http.post("/v1/embeddings", Map.of("input", List.of("1", "2", "3", "4", "5"))), 413,
          "request_too_large");
      Http.Reply late = first.get(10, TimeUnit.SECONDS);
      ServerApiTest.assertError(late, 504, "request_timeout");
      until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (admitted(s) > 0 && System.nanoTime() < until) {
        Thread.sleep(5);
      }
      assertThat(admitted(s)).as("timed-out items give their places back").isZero();
      assertThat(s.registry().scrape()).contains("status=\"429\"").contains("status=\"504\"");
    } finally {
      pool.shutdownNow();
      s.stop();
    }
  }

  @Test
  void severalTimesTheQueueGetsOnly200And429NoneLostHealthAnswers() throws Exception {
    // A queue of 8 items; 24 clients x 2 texts with no think time offer 48 items at once (6x).
    ServerConfig cfg = ServerConfig.defaults().withQueue(8, 4, Duration.ofMillis(2))
        .withRequestTimeout(Duration.ofSeconds(30));
    EmbeddingServer s = start(cfg);
    List<String> pool = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      pool.add("load test text number " + i + (i % 3 == 0 ? " with a few more words in it" : ""));
    }
    Map<String, float[]> want = new ConcurrentHashMap<>();
    try (ClipModel m = ClipModel.load(TestModels.gelu()); ClipEmbedder e = ClipEmbedder.create(m)) {
      List<CompletableFuture<float[]>> f = e.embedTexts(pool);
      for (int i = 0; i < pool.size(); i++) {
        want.put(pool.get(i), f.get(i).join());
      }
    }
    int clients = 24;
    long endAt = System.nanoTime() + TimeUnit.SECONDS.toNanos(4);
    ExecutorService exec = Executors.newFixedThreadPool(clients + 1);
    Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
    AtomicInteger healthOk = new AtomicInteger();
    AtomicInteger healthBad = new AtomicInteger();
    List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    try {
      List<Future<?>> tasks = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        int client = c;
        tasks.add(exec.submit(() -> {
          Http http = new Http(s.port(), null); // one keep-alive connection per client
          for (int i = 0; i < 500 && System.nanoTime() < endAt; i++) {
            String a = pool.get((client + i) % pool.size());
            String b = pool.get((client * 7 + i * 3) % pool.size());
            try {
              Http.Reply r = http.post("/v1/embeddings", Map.of("input", List.of(a, b), "encoding_format", "float"));
              statuses.computeIfAbsent(r.status(), k -> new AtomicInteger()).incrementAndGet();
              if (r.status() == 200) {
                JsonNode data = r.json().get("data");
                assertThat(data).hasSize(2);
                for (int k = 0; k < 2; k++) {
                  float[] got = new float[64];
                  for (int j = 0; j < 64; j++) {
                    got[j] = Float.parseFloat(data.get(k).get("embedding").get(j).asText());
                  }
                  ServerApiTest.assertBitwise(got, want.get(k == 0 ? a : b));
                }
              } else if (r.status() == 429) {
                assertThat(r.raw().headers().firstValue("Retry-After")).isPresent();
              }
            } catch (Throwable t) {
              failures.add(t);
              return;
            }
          }
        }));
      }
      tasks.add(exec.submit(() -> {
        Http http = new Http(s.port(), null);
        while (System.nanoTime() < endAt) {
          try {
            (http.get("/health").status() == 200 ? healthOk : healthBad).incrementAndGet();
            Thread.sleep(50);
          } catch (Throwable t) {
            failures.add(t);
            return;
          }
        }
      }));
      for (Future<?> t : tasks) {
        t.get(60, TimeUnit.SECONDS);
      }
    } finally {
      exec.shutdownNow();
    }
    try {
      assertThat(failures).as("no request lost or wrong").isEmpty();
      assertThat(statuses.keySet()).as("statuses " + statuses).containsOnly(200, 429).contains(200, 429);
      assertThat(healthBad.get()).isZero();
      assertThat(healthOk.get()).isPositive();
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while (admitted(s) > 0 && System.nanoTime() < until) {
        Thread.sleep(5);
      }
      assertThat(admitted(s)).isZero();
      Http http = new Http(s.port(), null);
      assertThat(http.get("/health").status()).isEqualTo(200);
      assertThat(http.post("/v1/embeddings", Map.of("input", "after the load")).status()).isEqualTo(200);
      System.out.println("load: " + statuses + ", health checks " + healthOk);
    } finally {
      s.stop();
    }
  }

  @Test
  void urlFetchingIsOffByDefault() {
    EmbeddingServer s = start(ServerConfig.defaults());
    int port = s.port();
    try {
      Http http = new Http(s.port(), null);
      ServerApiTest.assertError(http.post("/v1/embeddings", Map.of("modality", "image",
          "input", "http://127.0.0.1:1/cat.png")), 400, "url_fetch_disabled");
      ServerApiTest.assertError(http.post("/v1/search", Map.of("input", "x")), 404, "no_index");
      // One model served: any name is accepted and echoed back.
      Http.Reply r = http.post("/v1/embeddings", Map.of("model", "text-embedding-3-small", "input", "x"));
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.json().get("model").asText()).isEqualTo("text-embedding-3-small");
    } finally {
      s.stop();
    }
    Http after = new Http(port, null);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> after.get("/health"))
        .as("stopped: nothing listens").isInstanceOf(java.io.UncheckedIOException.class);
  }
}
