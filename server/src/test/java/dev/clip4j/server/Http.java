package dev.clip4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** A small JSON client for the tests (keep-alive, HTTP/1.1). */
final class Http {
  static final ObjectMapper JSON = new ObjectMapper();

  record Reply(int status, JsonNode json, String body, HttpResponse<String> raw) {}

  private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(10)).build();
  private final String base;
  private final String key;

  Http(int port, String key) {
    this.base = "http://127.0.0.1:" + port;
    this.key = key;
  }

  Reply post(String path, Object body) {
    try {
      return post(path, JSON.writeValueAsString(body), key);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  Reply post(String path, String body, String withKey) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
    if (withKey != null) {
      b.header("Authorization", "Bearer " + withKey);
    }
    return send(b.build());
  }

  Reply get(String path) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60)).GET();
    if (key != null) {
      b.header("Authorization", "Bearer " + key);
    }
    return send(b.build());
  }

  Reply send(HttpRequest req) {
    try {
      HttpResponse<String> r = client.send(req, HttpResponse.BodyHandlers.ofString());
      JsonNode node = null;
      String ct = r.headers().firstValue("Content-Type").orElse("");
      if (ct.startsWith("application/json")) {
        node = JSON.readTree(r.body());
      }
      return new Reply(r.statusCode(), node, r.body(), r);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
