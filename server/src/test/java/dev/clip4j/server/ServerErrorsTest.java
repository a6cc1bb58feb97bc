package dev.clip4j.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.model.ClipModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Refusals Jetty makes before (or instead of) the API's router are OpenAI's error body too: a
 * malformed request, a URI or headers over Jetty's limits, an unknown HTTP version, a chunked body
 * over the limit, and 503 on an open connection while the server drains. Raw sockets, so the
 * bytes on the wire are what is checked.
 */
class ServerErrorsTest {
  static EmbeddingServer server;

  @BeforeAll
  static void start() {
    server = EmbeddingServer.start(ServerConfig.defaults().withPort(0).withLimits(64 << 10, 64, 4096));
    server.addModel("tiny", ClipModel.load(TestModels.gelu()), 0.1);
    server.ready();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.stop();
    }
  }

  /** Status line, headers and body of one answer (the connection is closed after it). */
  record Raw(int status, String head, String body) {
    JsonNode error() throws IOException {
      assertThat(head.toLowerCase(java.util.Locale.ROOT)).as(head).contains("content-type: application/json");
      JsonNode err = Http.JSON.readTree(body).get("error");
      assertThat(err).as(body).isNotNull();
      assertThat(err.get("message").asText()).isNotEmpty();
      assertThat(err.get("type").asText()).isNotEmpty();
      return err;
    }
  }

  static Raw send(Socket s, byte[] request) throws IOException {
    s.setSoTimeout(20_000);
    OutputStream out = s.getOutputStream();
    try {
      out.write(request);
      out.flush();
    } catch (IOException e) {
      // The server may answer and close before it has read everything we send: read its answer.
    }
    InputStream in = s.getInputStream();
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    byte[] buf = new byte[8192];
    try {
      for (int n; (n = in.read(buf)) >= 0; ) {
        got.write(buf, 0, n);
      }
    } catch (java.net.SocketException e) {
      // reset after the answer: keep what came
    }
    String text = got.toString(StandardCharsets.ISO_8859_1);
    int split = text.indexOf("\r\n\r\n");
    assertThat(split).as(text).isPositive();
    String head = text.substring(0, split);
    return new Raw(Integer.parseInt(head.substring(9, 12)), head, text.substring(split + 4));
  }

  static Raw send(String request) throws IOException {
    try (Socket s = new Socket("127.0.0.1", server.port())) {
      return send(s, request.getBytes(StandardCharsets.ISO_8859_1));
    }
  }

  @Test
  void aMalformedRequestIs400InOpenAisShape() throws IOException {
    for (String bad : new String[] {"GARBAGE\r\n\r\n",
        "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
        "POST /v1/embeddings HTTP/1.1\r\nBad Header\r\n\r\n"}) {
      Raw r = send(bad);
      assertThat(r.status()).as(bad).isEqualTo(400);
      JsonNode err = r.error();
      assertThat(err.get("code").asText()).isEqualTo("bad_request");
      assertThat(err.get("type").asText()).isEqualTo("invalid_request_error");
    }
  }

  @Test
  void jettysLimitsAnswerJsonWhateverTheAcceptHeader() throws IOException {
    String longUri = "/v1/embeddings?" + "q".repeat(20_000);
    Raw uri = send("GET " + longUri + " HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n");
    assertThat(uri.status()).isEqualTo(414);
    assertThat(uri.error().get("code").asText()).isEqualTo("uri_too_long");
    Raw headers = send("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nX-Big: " + "h".repeat(20_000)
        + "\r\n\r\n");
    assertThat(headers.status()).isEqualTo(431);
    assertThat(headers.error().get("code").asText()).isEqualTo("headers_too_large");
    Raw version = send("GET /health HTTP/7.0\r\nHost: x\r\n\r\n");
    assertThat(version.status()).isEqualTo(505);
    assertThat(version.error().get("code").asText()).isEqualTo("http_version_not_supported");
    assertThat(version.body()).doesNotContain("<html");
  }

  @Test
  void aChunkedBodyOverTheLimitIs413() throws IOException {
    StringBuilder req = new StringBuilder("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n"
        + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    String chunk = "x".repeat(16 << 10);
    for (int i = 0; i < 5; i++) { // 80 KiB against a 64 KiB limit, no Content-Length to refuse it by
      req.append(Integer.toHexString(chunk.length())).append("\r\n").append(chunk).append("\r\n");
    }
    req.append("0\r\n\r\n");
    Raw r = send(req.toString());
    assertThat(r.status()).isEqualTo(413);
    assertThat(r.error().get("code").asText()).isEqualTo("request_too_large");
  }

  @Test
  void unknownRoutesAndMethodsAreJsonForEveryMethod() throws IOException {
    for (String method : new String[] {"GET", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"}) {
      Raw r = send(method + " /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      assertThat(r.status()).as(method).isEqualTo(404);
      assertThat(r.error().get("code").asText()).isEqualTo("not_found");
      Raw m = send(method + " /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      assertThat(m.status()).as(method).isEqualTo(405);
      assertThat(m.error().get("code").asText()).isEqualTo("method_not_allowed");
    }
  }

  @Test
  void whileDrainingANewRequestOnAnOpenConnectionIs503Json() throws Exception {
    // Items wait up to 1.5 s for a batch of 64: one request is in flight while the server stops.
    EmbeddingServer s = EmbeddingServer.start(ServerConfig.defaults().withPort(0).withQueue(64, 64,
        Duration.ofMillis(1500)).withDrainTimeout(Duration.ofSeconds(20)));
    s.addModel("tiny", ClipModel.load(TestModels.gelu()), 0.1);
    s.ready();
    Http http = new Http(s.port(), null);
    try (Socket open = new Socket("127.0.0.1", s.port())) {
      CompletableFuture<Http.Reply> inFlight = CompletableFuture.supplyAsync(() -> http.post("/v1/embeddings",
          Map.of("input", List.of("a photo of a cat"))));
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (ServerLoadTest.admitted(s) < 1 && System.nanoTime() < until) {
        Thread.sleep(5);
      }
      assertThat(ServerLoadTest.admitted(s)).isEqualTo(1.0);
      CompletableFuture<Void> stopping = CompletableFuture.runAsync(s::stop);
      until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (s.isReady() && System.nanoTime() < until) {
        Thread.sleep(5);
      }
      Thread.sleep(100); // GracefulHandler has been told to shut down once jetty.stop() runs
      Raw refused = send(open, ("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          + "Content-Length: 11\r\nConnection: close\r\n\r\n{\"input\":1}").getBytes(StandardCharsets.US_ASCII));
      assertThat(refused.status()).isEqualTo(503);
      JsonNode err = refused.error();
      assertThat(err.get("code").asText()).isEqualTo("unavailable");
      assertThat(err.get("type").asText()).isEqualTo("unavailable_error");
      assertThat(err.get("message").asText()).contains("shutting down");
      assertThat(refused.head().toLowerCase(java.util.Locale.ROOT)).contains("retry-after: 1");
      assertThat(inFlight.get(30, TimeUnit.SECONDS).status()).as("the request in flight is served").isEqualTo(200);
      stopping.get(30, TimeUnit.SECONDS);
    } finally {
      s.stop();
    }
  }
}
