package dev.clip4j.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.NotFoundException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import com.sun.net.httpserver.HttpServer;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.IndexDirs;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP API against the library: OpenAI's Java SDK (float and base64) gets the library's
 * embeddings bit for bit, images by data URI and base64 equal the library's, every refusal has
 * its status and JSON error body, auth, URL fetching's limits, classify and search. One server
 * (two tiny conformance models, a key, URL fetching on for 127.0.0.1 only) for the whole class.
 */
class ServerApiTest {
  static final String KEY = "sk-test-0123456789";
  static final int DIM = 64;

  @TempDir static Path tmp;
  static EmbeddingServer server;
  static ClipModel refModel;
  static ClipEmbedder ref;
  static Http http;
  static HttpServer images; // serves fixture images to the URL-fetch tests, on loopback
  static float[][] indexRows;

  @BeforeAll
  static void start() throws Exception {
    refModel = ClipModel.load(TestModels.gelu());
    ref = ClipEmbedder.create(refModel);
    images = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    byte[] cat = Files.readAllBytes(TestModels.images().get(0));
    images.createContext("/cat.png", ex -> {
      ex.getResponseHeaders().add("Content-Type", "image/png");
      ex.sendResponseHeaders(200, cat.length);
      ex.getResponseBody().write(cat);
      ex.close();
    });
    images.createContext("/to-localhost", ex -> {
      ex.getResponseHeaders().add("Location", "http://localhost:" + images.getAddress().getPort() + "/cat.png");
      ex.sendResponseHeaders(302, -1);
      ex.close();
    });
    images.createContext("/to-same", ex -> {
      ex.getResponseHeaders().add("Location", "/cat.png");
      ex.sendResponseHeaders(302, -1);
      ex.close();
    });
    images.createContext("/big", ex -> {
      byte[] big = new byte[400_000];
      ex.sendResponseHeaders(200, 0); // chunked: no Content-Length, the limit must cut the stream
      ex.getResponseBody().write(big);
      ex.close();
    });
    images.start();
    indexRows = TestModels.expected(TestModels.gelu(), "expected_image_embeddings.npy", DIM);
    Path index = tmp.resolve("index");
    IndexDirs.write(index, "images", DIM, List.<float[][]>of(indexRows), refModel.info().fileHashes(), r -> "img-" + r);

    ServerConfig cfg = ServerConfig.defaults().withPort(0).withApiKey(KEY).withLimits(4 << 20, 64, 4096)
        .withQueue(64, 8, Duration.ofMillis(2))
        .withUrlFetch(true, List.of("127.0.0.1"), 300_000, Duration.ofSeconds(5)).withIndex(index, false);
    server = EmbeddingServer.start(cfg);
    http = new Http(server.port(), KEY);
    assertThat(http.get("/health").status()).isEqualTo(503); // bound, not loaded yet
    assertThat(http.get("/health").json().get("status").asText()).isEqualTo("loading");
    server.addModel("gelu", ClipModel.load(TestModels.gelu()), 0.1);
    server.addModel("quick", ClipModel.load(TestModels.quickGelu()), 0.1);
    server.ready();
  }

  @AfterAll
  static void stop() {
    if (server != null) {
      server.stop();
    }
    if (images != null) {
      images.stop(0);
    }
    if (ref != null) {
      ref.close();
    }
    if (refModel != null) {
      refModel.close();
    }
  }

  static OpenAIClient sdk(String key) {
    return OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey(key)
        .maxRetries(0).timeout(Duration.ofSeconds(60)).build();
  }

  static float[][] libraryTexts(List<String> texts) {
    return ref.embedTexts(texts).stream().map(CompletableFuture::join).toArray(float[][]::new);
  }

  static void assertBitwise(float[] got, float[] want) {
    assertThat(got).hasSize(want.length);
    for (int j = 0; j < want.length; j++) {
      assertThat(Float.floatToRawIntBits(got[j])).as("element %d: %s vs %s", j, got[j], want[j])
          .isEqualTo(Float.floatToRawIntBits(want[j]));
    }
  }

  static float[] floats(List<Float> l) {
    float[] out = new float[l.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = l.get(i);
    }
    return out;
  }

  @Test
  void openAiSdkGetsTheLibrarysEmbeddingsBitForBitInFloatAndBase64() throws IOException {
    List<String> texts = TestModels.texts();
    float[][] want = libraryTexts(texts);
    float[][] golden = TestModels.expected(TestModels.gelu(), "expected_text_embeddings.npy", DIM);
    long tokens = 0;
    for (String t : texts) {
      tokens += refModel.tokenizer().ids(t).length;
    }
    OpenAIClient client = sdk(KEY);
    for (EmbeddingCreateParams.EncodingFormat fmt : new EmbeddingCreateParams.EncodingFormat[] {
        EmbeddingCreateParams.EncodingFormat.FLOAT, EmbeddingCreateParams.EncodingFormat.BASE64, null}) {
      EmbeddingCreateParams.Builder b = EmbeddingCreateParams.builder().model("gelu").inputOfArrayOfStrings(texts);
      if (fmt != null) {
        b.encodingFormat(fmt);
      }
      CreateEmbeddingResponse r = client.embeddings().create(b.build());
      assertThat(r.model()).isEqualTo("gelu");
      assertThat(r.data()).hasSize(texts.size());
      assertThat(r.usage().promptTokens()).isEqualTo(tokens);
      assertThat(r.usage().totalTokens()).isEqualTo(tokens);
      for (int i = 0; i < texts.size(); i++) {
        assertThat(r.data().get(i).index()).isEqualTo(i);
        float[] got = floats(r.data().get(i).embedding());
        assertBitwise(got, want[i]);
        for (int j = 0; j < DIM; j++) {
          assertThat((double) got[j]).isCloseTo(golden[i][j], org.assertj.core.data.Offset.offset(1e-5));
        }
      }
    }
    // One string, not an array.
    CreateEmbeddingResponse one = client.embeddings().create(EmbeddingCreateParams.builder().model("gelu")
        .input("a photo of a cat").build());
    assertBitwise(floats(one.data().get(0).embedding()), want[0]);
  }

  @Test
  void base64IsLittleEndianFloat32() {
    Http.Reply r = http.post("/v1/embeddings", Map.of("model", "gelu", "input", List.of("a dog"),
        "encoding_format", "base64"));
    assertThat(r.status()).isEqualTo(200);
    byte[] raw = Base64.getDecoder().decode(r.json().at("/data/0/embedding").asText());
    assertThat(raw).hasSize(DIM * 4);
    java.nio.FloatBuffer fb = java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    float[] got = new float[DIM];
    fb.get(got);
    assertBitwise(got, libraryTexts(List.of("a dog"))[0]);
  }

  @Test
  void imagesByDataUriAndBareBase64EqualTheLibrarys() throws IOException {
    List<Path> files = TestModels.images();
    List<String> inputs = new ArrayList<>();
    for (int i = 0; i < files.size(); i++) {
      String uri = TestModels.dataUri(files.get(i));
      inputs.add(i == 3 ? uri.substring(uri.indexOf(',') + 1) : uri); // one bare base64
    }
    Http.Reply r = http.post("/v1/embeddings", Map.of("model", "gelu", "input", inputs, "modality", "image",
        "encoding_format", "float"));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    float[][] golden = TestModels.expected(TestModels.gelu(), "expected_image_embeddings.npy", DIM);
    assertThat(r.json().at("/usage/prompt_tokens").asLong()).isZero();
    // OpenAI's SDK with Infinity's "modality" as an extra body property (base64 by default).
    CreateEmbeddingResponse viaSdk = sdk(KEY).embeddings().create(EmbeddingCreateParams.builder().model("gelu")
        .inputOfArrayOfStrings(inputs.subList(0, 2))
        .putAdditionalBodyProperty("modality", com.openai.core.JsonValue.from("image")).build());
    for (int i = 0; i < 2; i++) {
      assertBitwise(floats(viaSdk.data().get(i).embedding()), ref.embedImage(ImageSource.of(files.get(i))).join());
    }
    for (int i = 0; i < files.size(); i++) {
      float[] want = ref.embedImage(ImageSource.of(files.get(i))).join();
      JsonNode e = r.json().get("data").get(i).get("embedding");
      float[] got = new float[DIM];
      for (int j = 0; j < DIM; j++) {
        got[j] = Float.parseFloat(e.get(j).asText());
        assertThat((double) got[j]).isCloseTo(golden[i][j], org.assertj.core.data.Offset.offset(1e-5));
      }
      assertBitwise(got, want);
    }
  }

  @Test
  void severalModelsAreSelectedByNameAndUnknownNamesAre404() throws IOException {
    float[][] quick = TestModels.expected(TestModels.quickGelu(), "expected_text_embeddings.npy", DIM);
    Http.Reply r = http.post("/v1/embeddings", Map.of("model", "quick", "input", "a photo of a cat",
        "encoding_format", "float"));
    assertThat(r.status()).isEqualTo(200);
    assertThat(r.json().get("model").asText()).isEqualTo("quick");
    for (int j = 0; j < DIM; j++) {
      assertThat(r.json().at("/data/0/embedding/" + j).asDouble()).isCloseTo(quick[0][j],
          org.assertj.core.data.Offset.offset(1e-5));
    }
    assertError(http.post("/v1/embeddings", Map.of("model", "nope", "input", "x")), 404, "model_not_found");
    assertError(http.post("/v1/embeddings", Map.of("input", "x")), 400, "missing_model");
    assertThatThrownBy(() -> sdk(KEY).embeddings().create(EmbeddingCreateParams.builder().model("nope")
        .input("x").build())).isInstanceOf(NotFoundException.class);
    Http.Reply models = http.get("/v1/models");
    assertThat(models.json().at("/data/0/id").asText()).isEqualTo("gelu");
    assertThat(models.json().at("/data/1/id").asText()).isEqualTo("quick");
    assertThat(models.json().at("/data/0/dimensions").asInt()).isEqualTo(DIM);
  }

  static void assertError(Http.Reply r, int status, String code) {
    assertThat(r.status()).as(r.body()).isEqualTo(status);
    assertThat(r.raw().headers().firstValue("Content-Type").orElse("")).startsWith("application/json");
    JsonNode err = r.json().get("error");
    assertThat(err).as(r.body()).isNotNull();
    assertThat(err.get("code").asText()).isEqualTo(code);
    assertThat(err.get("type").asText()).isNotEmpty();
    assertThat(err.get("message").asText()).isNotEmpty();
  }

  @Test
  void everyRefusalHasItsStatusAndJsonBody() throws IOException {
    assertError(http.post("/v1/embeddings", "{not json", KEY), 400, "invalid_json");
    assertError(http.post("/v1/embeddings", "[1,2]", KEY), 400, "invalid_json");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", 3)), 400, "invalid_input");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", List.of(List.of(1, 2)))), 400,
        "invalid_input");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", List.of())), 400, "invalid_input");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu")), 400, "missing_input");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", "x", "encoding_format", "int8")), 400,
        "invalid_encoding_format");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", "x", "modality", "audio")), 400,
        "invalid_modality");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", "x", "dimensions", 32)), 400,
        "invalid_dimensions");
    List<String> many = new ArrayList<>();
    for (int i = 0; i < 65; i++) {
      many.add("t" + i);
    }
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", many)), 400, "too_many_inputs");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "input", "%%%not base64%%%", "modality", "image")),
        400, "invalid_image");
    Path corrupt = TestModels.images().get(0).resolveSibling("corrupt_truncated.jpg");
    Http.Reply bad = http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", List.of(TestModels.dataUri(TestModels.images().get(0)), TestModels.dataUri(corrupt))));
    assertError(bad, 400, "invalid_input");
    assertThat(bad.json().at("/error/message").asText()).startsWith("input[1]");
    // 413: a body over the limit (4 MiB here) is refused from its Content-Length, before it is sent.
    try (java.net.Socket sock = new java.net.Socket("127.0.0.1", server.port())) {
      sock.setSoTimeout(10_000);
      sock.getOutputStream().write(("POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY
          + "\r\nContent-Type: application/json\r\nContent-Length: " + (5 << 20) + "\r\n\r\n{\"input\":\"")
          .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
      StringBuilder reply = new StringBuilder();
      java.io.InputStream in = sock.getInputStream();
      for (int c; reply.indexOf("}}") < 0 && (c = in.read()) >= 0; ) {
        reply.append((char) c);
      }
      assertThat(reply.toString()).startsWith("HTTP/1.1 413").contains("\"code\":\"request_too_large\"");
    }
    // 405, unknown route 404.
    Http.Reply get = http.get("/v1/embeddings");
    assertError(get, 405, "method_not_allowed");
    assertError(http.get("/v2/nothing"), 404, "not_found");
    // The server still answers after all of that.
    assertThat(http.post("/v1/embeddings", Map.of("model", "gelu", "input", "ok")).status()).isEqualTo(200);
  }

  @Test
  void theKeyIsRequiredComparedExactlyAndNeverEchoed() {
    Http anonymous = new Http(server.port(), null);
    assertError(anonymous.post("/v1/embeddings", "{\"input\":\"x\"}", null), 401, "invalid_api_key");
    Http.Reply wrong = anonymous.post("/v1/embeddings", "{\"input\":\"x\"}", KEY + "x");
    assertError(wrong, 401, "invalid_api_key");
    assertThat(wrong.body()).doesNotContain(KEY);
    assertError(anonymous.post("/v1/embeddings", "{\"input\":\"x\"}", KEY.substring(0, KEY.length() - 1)), 401,
        "invalid_api_key");
    HttpRequest basic = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/embeddings"))
        .header("Authorization", "Basic " + KEY).POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"x\"}")).build();
    assertError(anonymous.send(basic), 401, "invalid_api_key");
    assertError(anonymous.get("/metrics"), 401, "invalid_api_key");
    assertError(anonymous.get("/v1/models"), 401, "invalid_api_key");
    assertThat(anonymous.get("/health").status()).isEqualTo(200); // probes need no key
    assertThatThrownBy(() -> sdk("sk-wrong").embeddings().create(EmbeddingCreateParams.builder().model("gelu")
        .input("x").build())).isInstanceOf(UnauthorizedException.class);
  }

  @Test
  void urlsAreFetchedOnlyWithinTheirLimits() throws IOException {
    int port = images.getAddress().getPort();
    float[] cat = ref.embedImage(ImageSource.of(TestModels.images().get(0))).join();
    for (String path : new String[] {"/cat.png", "/to-same"}) {
      Http.Reply r = http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image", "encoding_format",
          "float", "input", "http://127.0.0.1:" + port + path));
      assertThat(r.status()).as(r.body()).isEqualTo(200);
      float[] got = new float[DIM];
      for (int j = 0; j < DIM; j++) {
        got[j] = Float.parseFloat(r.json().at("/data/0/embedding/" + j).asText());
      }
      assertBitwise(got, cat);
    }
    // A redirect to a loopback name that is not allowed, a loopback address that is not allowed.
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "http://127.0.0.1:" + port + "/to-localhost")), 400, "url_fetch_refused");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "http://127.0.0.2:" + port + "/cat.png")), 400, "url_fetch_refused");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "http://10.1.2.3/cat.png")), 400, "url_fetch_refused");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "http://[::1]:" + port + "/cat.png")), 400, "url_fetch_refused");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "file:///etc/passwd")), 400, "url_fetch_refused");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "ftp://127.0.0.1/cat.png")), 400, "url_fetch_refused");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "http://127.0.0.1:" + port + "/big")), 400, "image_too_large");
    assertError(http.post("/v1/embeddings", Map.of("model", "gelu", "modality", "image",
        "input", "http://127.0.0.1:" + port + "/missing")), 400, "url_fetch_failed");
  }

  @Test
  void publicAddressCheck() throws Exception {
    for (String a : new String[] {"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "100.64.0.1", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "224.0.0.1", "255.255.255.255"}) {
      assertThat(UrlFetcher.isPublic(java.net.InetAddress.getByName(a))).as(a).isFalse();
    }
    for (String a : new String[] {"8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
      assertThat(UrlFetcher.isPublic(java.net.InetAddress.getByName(a))).as(a).isTrue();
    }
  }

  @Test
  void classifyIsClipSoftmaxOverCachedClassEmbeddings() throws IOException {
    List<String> texts = TestModels.texts();
    List<String> labels = new ArrayList<>();
    List<Integer> columns = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      if (!texts.get(i).isBlank()) {
        labels.add(texts.get(i));
        columns.add(i);
      }
    }
    float[][] logits = TestModels.expected(TestModels.gelu(), "expected_logits_per_image.npy", texts.size());
    List<String> inputs = new ArrayList<>();
    for (Path p : TestModels.images()) {
      inputs.add(TestModels.dataUri(p));
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("model", "gelu");
    body.put("input", inputs);
    body.put("labels", labels);
    body.put("templates", List.of("{}")); // each class is its text: logits are open_clip's logits_per_image
    body.put("top_k", labels.size());
    long promptTokens = 0;
    for (String l : labels) {
      promptTokens += refModel.tokenizer().ids(l).length;
    }
    for (int round = 0; round < 2; round++) { // the second answer comes from the cached class embeddings
      Http.Reply r = http.post("/v1/classify", body);
      assertThat(r.status()).as(r.body()).isEqualTo(200);
      assertThat(r.json().at("/usage/prompt_tokens").asLong()).isEqualTo(round == 0 ? promptTokens : 0);
      assertThat(r.json().get("scoring").asText()).isEqualTo("softmax");
      for (int i = 0; i < inputs.size(); i++) {
        JsonNode top = r.json().get("data").get(i).get("labels");
        assertThat(top).hasSize(labels.size());
        double sum = 0;
        double prev = Double.POSITIVE_INFINITY;
        for (JsonNode t : top) {
          int col = columns.get(labels.indexOf(t.get("label").asText()));
          assertThat(t.get("logit").asDouble()).isCloseTo(logits[i][col], org.assertj.core.data.Offset.offset(5e-4));
          assertThat(t.get("logit").asDouble()).isLessThanOrEqualTo(prev);
          prev = t.get("logit").asDouble();
          sum += t.get("probability").asDouble();
        }
        assertThat(sum).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
      }
    }
    body.put("templates", List.of("no placeholder"));
    assertError(http.post("/v1/classify", body), 400, "invalid_templates");
  }

  @Test
  void searchIsExactTopKOverTheIndex() {
    float[] q = libraryTexts(List.of("a photo of a cat"))[0];
    Integer[] order = new Integer[indexRows.length];
    double[] scores = new double[indexRows.length];
    for (int r = 0; r < indexRows.length; r++) {
      order[r] = r;
      for (int j = 0; j < DIM; j++) {
        scores[r] += (double) q[j] * indexRows[r][j];
      }
    }
    java.util.Arrays.sort(order, (a, b) -> Double.compare(scores[b], scores[a]));
    Http.Reply r = http.post("/v1/search", Map.of("model", "gelu", "input", "a photo of a cat", "top_k", 3));
    assertThat(r.status()).as(r.body()).isEqualTo(200);
    JsonNode hits = r.json().at("/data/0/hits");
    assertThat(hits).hasSize(3);
    for (int k = 0; k < 3; k++) {
      assertThat(hits.get(k).get("row").asInt()).isEqualTo(order[k]);
      assertThat(hits.get(k).get("path").asText()).isEqualTo("img-" + order[k]);
      assertThat(hits.get(k).get("score").asDouble()).isCloseTo(scores[order[k]], org.assertj.core.data.Offset.offset(1e-5));
    }
  }

  @Test
  void metricsArePrometheusTextWithClip4jNames() {
    http.post("/v1/embeddings", Map.of("model", "gelu", "input", List.of("a", "b", "c")));
    Http.Reply m = http.get("/metrics");
    assertThat(m.status()).isEqualTo(200);
    assertThat(m.raw().headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
    String text = m.body();
    assertThat(text).contains("clip4j_http_requests_seconds_bucket{")
        .contains("route=\"/v1/embeddings\"").contains("status=\"200\"")
        .contains("clip4j_embedder_batch_size_count{lane=\"texts-8\",model=\"gelu\"}")
        .contains("clip4j_embedder_queue_depth{").contains("clip4j_embedder_items_total{model=\"gelu\"}")
        .contains("clip4j_http_items_total{route=\"/v1/embeddings\"}")
        .contains("clip4j_model_load_seconds{model=\"quick\"}").contains("clip4j_server_admitted_items ");
    for (String line : text.split("\n")) {
      if (!line.startsWith("#") && !line.isBlank()) {
        assertThat(line).startsWith("clip4j_");
      }
    }
  }
}
