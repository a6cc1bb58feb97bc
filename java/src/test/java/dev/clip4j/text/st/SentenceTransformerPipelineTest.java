package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.DeviceException;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Tensors;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.DoubleUnaryOperator;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The sentence-transformers pipeline against the multilingual fixture (a DistilBERT text tower,
 * mean pooling, Dense 48 -> 64 without bias), made with sentence-transformers. The fixture's
 * expected_* rows are in the order of its expected_token_ids.jsonl texts.
 */
class SentenceTransformerPipelineTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int D = 64;
  private static final int WIDTH = 48;

  static Path fixture() {
    return Conformance.dir().resolve("multilingual");
  }

  /** The texts of the multilingual fixture, in the order of its expected_* files. */
  static List<String> texts() throws Exception {
    List<String> out = new ArrayList<>();
    for (JsonNode j : tokenCases()) {
      out.add(j.get("text").asText());
    }
    return out;
  }

  private static List<JsonNode> tokenCases() throws Exception {
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(fixture().resolve("expected_token_ids.jsonl"), StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        out.add(JSON.readTree(line));
      }
    }
    return out;
  }

  private static long[] ids(JsonNode tokenCase) {
    long[] ids = new long[tokenCase.get("ids").size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = tokenCase.get("ids").get(i).asLong();
    }
    return ids;
  }

  /** A copy of the fixture directory (small: about 650 KB) whose files a test may replace. */
  static Path copy(Path tmp) throws Exception {
    Path src = fixture();
    Path dst = tmp.resolve("ml");
    try (Stream<Path> all = Files.walk(src)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Path target = dst.resolve(src.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
          target.toFile().setWritable(true);
        }
      }
    }
    return dst;
  }

  static void writeJson(Path file, JsonNode node) throws Exception {
    Files.deleteIfExists(file);
    JSON.writeValue(file.toFile(), node);
  }

  private static ArrayNode modules() throws Exception {
    return (ArrayNode) JSON.readTree(fixture().resolve("modules.json").toFile());
  }

  /** A copy without the Dense module: Transformer + Pooling, 48-d mean-pooled features. */
  static Path withoutDense(Path tmp) throws Exception {
    Path dir = copy(tmp);
    ArrayNode modules = modules();
    modules.remove(2);
    writeJson(dir.resolve("modules.json"), modules);
    return dir;
  }

  private static float[] expected() {
    return Npy.read(fixture().resolve("expected_text_embeddings_unnormalized.npy")).floats();
  }

  private static float[] expectedNormalized() {
    return Npy.read(fixture().resolve("expected_text_embeddings.npy")).floats();
  }

  private static float[] row(float[] m, int i, int d) {
    return Arrays.copyOfRange(m, i * d, (i + 1) * d);
  }

  private static float[] l2normalizeRows(float[] m, int d) {
    float[] out = new float[m.length];
    for (int i = 0; i < m.length / d; i++) {
      double ss = 0;
      for (int j = 0; j < d; j++) {
        ss += m[i * d + j] * (double) m[i * d + j];
      }
      for (int j = 0; j < d; j++) {
        out[i * d + j] = (float) (m[i * d + j] / Math.sqrt(ss));
      }
    }
    return out;
  }

  /** The fixture's Dense weight [64, 48], read independently of the pipeline. */
  private static float[] denseWeight() {
    try (StateDict sd = CheckpointReader.read(fixture().resolve("2_Dense/model.safetensors"))) {
      return sd.get("linear.weight").toFloatArray();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Tokenization

  @Test
  void tokenIdsMatchTheReference() throws Exception {
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture())) {
      List<JsonNode> cases = tokenCases();
      assertThat(cases).hasSize(13);
      for (JsonNode j : cases) {
        assertThat(p.tokenizer().ids(j.get("text").asText())).as(j.get("text").asText()).containsExactly(ids(j));
      }
    }
  }

  @Test
  void batchesArePaddedToTheLongestTextWithAnAttentionMask() throws Exception {
    List<JsonNode> cases = tokenCases();
    List<String> texts = texts();
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture())) {
      StTokenizer.Batch b = p.tokenizer().batch(texts, 0);
      int longest = cases.stream().mapToInt(j -> j.get("ids").size()).max().orElseThrow();
      assertThat(b.size()).isEqualTo(13);
      assertThat(b.length()).isEqualTo(longest);
      for (int i = 0; i < cases.size(); i++) {
        long[] want = ids(cases.get(i));
        long[] gotIds = Arrays.copyOfRange(b.ids(), i * longest, (i + 1) * longest);
        long[] gotMask = Arrays.copyOfRange(b.mask(), i * longest, (i + 1) * longest);
        for (int t = 0; t < longest; t++) {
          assertThat(gotIds[t]).as("text %d token %d", i, t).isEqualTo(t < want.length ? want[t] : 0L);
          assertThat(gotMask[t]).as("text %d mask %d", i, t).isEqualTo(t < want.length ? 1L : 0L);
        }
      }
      // The pad value is the caller's (the pipeline passes the encoder's pad_token_id).
      StTokenizer.Batch seven = p.tokenizer().batch(List.of("", "A photo of a cat."), 7);
      assertThat(Arrays.copyOfRange(seven.ids(), 0, seven.length())).containsExactly(2, 3, 7, 7, 7, 7, 7, 7);
    }
  }

  @Test
  void textsAreTruncatedToMaxSeqLengthKeepingTheSpecialTokens(@TempDir Path tmp) throws Exception {
    JsonNode longCase = tokenCases().get(11); // "supercalifragilistic...": 30 ids
    long[] full = ids(longCase);
    assertThat(full).hasSize(30);
    Path dir = copy(tmp);
    ObjectNode st = (ObjectNode) JSON.readTree(fixture().resolve("sentence_bert_config.json").toFile());
    st.put("max_seq_length", 8);
    writeJson(dir.resolve("sentence_bert_config.json"), st);
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
      long[] want = Arrays.copyOf(Arrays.copyOf(full, 7), 8);
      want[7] = 3; // [SEP]
      assertThat(p.tokenizer().maxLength()).isEqualTo(8);
      assertThat(p.tokenizer().ids(longCase.get("text").asText())).containsExactly(want);
      assertThat(p.embed(List.of(longCase.get("text").asText(), "")).size(1)).isEqualTo(D);
    }
    // The fixture's own limit (128): a 300-word text gives 128 ids, [CLS] ... [SEP].
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture())) {
      long[] ids = p.tokenizer().ids("cat ".repeat(300));
      assertThat(ids).hasSize(128);
      assertThat(ids[0]).isEqualTo(2);
      assertThat(ids[127]).isEqualTo(3);
    }
  }

  @Test
  void djlIsConfiguredNeverToReachTheNetwork() throws Exception {
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture())) {
      // Read back through DJL's own lookup (environment first, then system properties).
      assertThat(ai.djl.util.Utils.getEnvOrSystemProperty("RUST_FLAVOR")).isEqualTo("cpu");
      assertThat(ai.djl.util.Utils.getEnvOrSystemProperty("OPT_OUT_TRACKING")).isEqualTo("true");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Embeddings against the reference

  @Test
  void embeddingsMatchFromBothWeightFormatsBatchedAndOneByOne(@TempDir Path tmp) throws Exception {
    List<String> texts = texts();
    float[] want = expected();
    float[] wantNorm = expectedNormalized();
    // The .bin variant: a copy without the safetensors files.
    Path bin = copy(tmp);
    Files.delete(bin.resolve("model.safetensors"));
    Files.delete(bin.resolve("2_Dense/model.safetensors"));
    for (Path dir : List.of(fixture(), bin)) {
      try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
        assertThat(p.outputDim()).isEqualTo(D);
        assertThat(p.normalizes()).isFalse();
        assertThat(p.device()).isEqualTo("cpu");
        assertThat(p.moduleDescriptions()).hasSize(3);
        assertThat(p.moduleDescriptions().get(2)).contains("48 -> 64");
        Tensor batch = p.embed(texts);
        assertThat(batch.size(0)).isEqualTo(13);
        assertThat(batch.size(1)).isEqualTo(D);
        float[] got = Tensors.toFloats(batch);
        double batchDiff = Tensors.maxAbsDiff(got, want);
        double batchNormDiff = Tensors.maxAbsDiff(l2normalizeRows(got, D), wantNorm);
        assertThat(batchDiff).as(dir.toString()).isLessThanOrEqualTo(1e-5);
        assertThat(batchNormDiff).as(dir.toString()).isLessThanOrEqualTo(1e-5);
        double oneDiff = 0;
        double oneNormDiff = 0;
        for (int i = 0; i < texts.size(); i++) {
          float[] one = Tensors.toFloats(p.embed(List.of(texts.get(i))));
          oneDiff = Math.max(oneDiff, Tensors.maxAbsDiff(one, row(want, i, D)));
          oneNormDiff = Math.max(oneNormDiff, Tensors.maxAbsDiff(l2normalizeRows(one, D), row(wantNorm, i, D)));
        }
        assertThat(oneDiff).as(dir + " one by one").isLessThanOrEqualTo(1e-5);
        assertThat(oneNormDiff).as(dir + " one by one, normalized").isLessThanOrEqualTo(1e-5);
        System.out.printf("multilingual %s: max abs diff batch %.3g (normalized %.3g), one by one %.3g (%.3g)%n",
            dir.equals(bin) ? "pytorch_model.bin" : "model.safetensors", batchDiff, batchNormDiff, oneDiff,
            oneNormDiff);
      }
    }
  }

  @Test
  void aNormalizeModuleGivesTheReferenceUnitVectors(@TempDir Path tmp) throws Exception {
    Path dir = copy(tmp);
    ArrayNode modules = modules();
    ObjectNode norm = modules.addObject();
    norm.put("idx", 3).put("name", "3").put("path", "3_Normalize").put("type", "sentence_transformers.models.Normalize");
    writeJson(dir.resolve("modules.json"), modules);
    Files.createDirectories(dir.resolve("3_Normalize"));
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
      assertThat(p.normalizes()).isTrue();
      assertThat(p.outputDim()).isEqualTo(D);
      assertThat(p.moduleDescriptions()).last().isEqualTo("Normalize");
      assertThat(Tensors.maxAbsDiff(Tensors.toFloats(p.embed(texts())), expectedNormalized())).isLessThanOrEqualTo(1e-5);
    }
    // Modules run in modules.json order: Normalize then Dense projects the unit pooled vectors.
    float[] pooled;
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(withoutDense(tmp.resolve("plain")))) {
      pooled = l2normalizeRows(Tensors.toFloats(p.embed(texts())), WIDTH);
    }
    ArrayNode reordered = modules();
    ((ObjectNode) reordered.get(2)).put("idx", 3);
    reordered.add(norm.deepCopy().put("idx", 2));
    Path dir2 = copy(tmp.resolve("reordered"));
    writeJson(dir2.resolve("modules.json"), reordered);
    Files.createDirectories(dir2.resolve("3_Normalize"));
    float[] w = denseWeight();
    float[] want = new float[13 * D];
    for (int i = 0; i < 13; i++) {
      for (int o = 0; o < D; o++) {
        double s = 0;
        for (int k = 0; k < WIDTH; k++) {
          s += pooled[i * WIDTH + k] * (double) w[o * WIDTH + k];
        }
        want[i * D + o] = (float) s;
      }
    }
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir2)) {
      assertThat(p.normalizes()).isFalse();
      assertThat(p.moduleDescriptions().get(2)).isEqualTo("Normalize");
      assertThat(Tensors.maxAbsDiff(Tensors.toFloats(p.embed(texts())), want)).isLessThanOrEqualTo(1e-5);
    }
  }

  @Test
  void withoutItsDenseModuleThePipelineVisiblyGives48dPooledFeatures(@TempDir Path tmp) throws Exception {
    List<String> texts = texts();
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(withoutDense(tmp))) {
      assertThat(p.outputDim()).isEqualTo(WIDTH);
      assertThat(p.moduleDescriptions()).hasSize(2);
      float[] pooled = Tensors.toFloats(p.embed(texts));
      assertThat(pooled).hasSize(13 * WIDTH);
      // Those are the real pooled features: times the fixture's Dense weight they give the reference.
      float[] w = denseWeight();
      float[] projected = new float[13 * D];
      for (int i = 0; i < 13; i++) {
        for (int o = 0; o < D; o++) {
          double s = 0;
          for (int k = 0; k < WIDTH; k++) {
            s += pooled[i * WIDTH + k] * (double) w[o * WIDTH + k];
          }
          projected[i * D + o] = (float) s;
        }
      }
      assertThat(Tensors.maxAbsDiff(projected, expected())).isLessThanOrEqualTo(1e-5);
    }
  }

  @ParameterizedTest
  @CsvSource({"torch.nn.modules.linear.Identity", "torch.nn.modules.activation.Tanh",
      "torch.nn.modules.activation.ReLU", "torch.nn.modules.activation.GELU"})
  void denseWithBiasAndEachActivationMatchesAnIndependentComputation(String activation, @TempDir Path tmp)
      throws Exception {
    List<String> texts = texts();
    float[] pooled;
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(withoutDense(tmp.resolve("plain")))) {
      pooled = Tensors.toFloats(p.embed(texts));
    }
    float[] w = denseWeight();
    float[] bias = Tensors.randn(new Random(7), D, 0.5);
    Path dir = copy(tmp.resolve("dense"));
    Files.delete(dir.resolve("2_Dense/model.safetensors"));
    Files.delete(dir.resolve("2_Dense/pytorch_model.bin"));
    SafetensorsWriter.write(dir.resolve("2_Dense/model.safetensors"),
        Map.of("linear.weight", Tensors.fromFloats(w, D, WIDTH), "linear.bias", Tensors.fromFloats(bias, D)), Map.of());
    ObjectNode cfg = (ObjectNode) JSON.readTree(fixture().resolve("2_Dense/config.json").toFile());
    cfg.put("bias", true).put("activation_function", activation);
    writeJson(dir.resolve("2_Dense/config.json"), cfg);
    DoubleUnaryOperator act;
    switch (activation.substring(activation.lastIndexOf('.') + 1)) {
      case "Tanh":
        act = Math::tanh;
        break;
      case "ReLU":
        act = v -> Math.max(0, v);
        break;
      case "GELU":
        act = v -> 0.5 * v * (1 + erf(v / Math.sqrt(2)));
        break;
      default:
        act = v -> v;
    }
    float[] want = new float[13 * D];
    for (int i = 0; i < 13; i++) {
      for (int o = 0; o < D; o++) {
        double s = bias[o];
        for (int k = 0; k < WIDTH; k++) {
          s += pooled[i * WIDTH + k] * (double) w[o * WIDTH + k];
        }
        want[i * D + o] = (float) act.applyAsDouble(s);
      }
    }
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
      assertThat(Tensors.maxAbsDiff(Tensors.toFloats(p.embed(texts)), want)).as(activation).isLessThanOrEqualTo(1e-5);
    }
  }

  /**
   * erf(x) by its Maclaurin series (below 1e-8 absolute error for |x| < 4.5; beyond, erf is 1
   * within 2e-10).
   */
  private static double erf(double x) {
    double ax = Math.abs(x);
    if (ax >= 4.5) {
      return Math.signum(x);
    }
    double sum = 0;
    double term = ax; // (-1)^n x^(2n+1) / n!
    for (int n = 0; n < 400 && Math.abs(term) > 1e-20; n++) {
      sum += term / (2 * n + 1);
      term *= -ax * ax / (n + 1);
    }
    return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
  }

  @Test
  void everyPoolingModeHonoursTheMaskAndConcatenatesInSentenceTransformersOrder(@TempDir Path tmp)
      throws Exception {
    List<String> texts = texts();
    Path dir = withoutDense(tmp);
    ObjectNode pool = (ObjectNode) JSON.readTree(fixture().resolve("1_Pooling/config.json").toFile());
    pool.put("pooling_mode_cls_token", true).put("pooling_mode_max_tokens", true)
        .put("pooling_mode_mean_tokens", true).put("pooling_mode_mean_sqrt_len_tokens", true);
    writeJson(dir.resolve("1_Pooling/config.json"), pool);
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(dir)) {
      assertThat(p.outputDim()).isEqualTo(4 * WIDTH);
      float[] got = Tensors.toFloats(p.embed(texts));
      SentenceTransformerPipeline.Encoded e = p.encode(texts);
      long len = e.hidden().size(1);
      float[] h = Tensors.toFloats(e.hidden());
      long[] mask = new long[(int) e.mask().numel()];
      e.mask().contiguous().data_ptr_long().get(mask);
      float[] want = new float[13 * 4 * WIDTH];
      for (int i = 0; i < 13; i++) {
        int n = 0;
        double[] sum = new double[WIDTH];
        double[] max = new double[WIDTH];
        Arrays.fill(max, Double.NEGATIVE_INFINITY);
        for (int t = 0; t < len; t++) {
          if (mask[(int) (i * len + t)] == 0) {
            continue;
          }
          n++;
          for (int k = 0; k < WIDTH; k++) {
            double v = h[(int) ((i * len + t) * WIDTH + k)];
            sum[k] += v;
            max[k] = Math.max(max[k], v);
          }
        }
        assertThat(n).isEqualTo(ids(tokenCases().get(i)).length);
        int base = i * 4 * WIDTH;
        for (int k = 0; k < WIDTH; k++) {
          want[base + k] = h[(int) (i * len * WIDTH + k)];
          want[base + WIDTH + k] = (float) max[k];
          want[base + 2 * WIDTH + k] = (float) (sum[k] / n);
          want[base + 3 * WIDTH + k] = (float) (sum[k] / Math.sqrt(n));
        }
      }
      assertThat(Tensors.maxAbsDiff(got, want)).isLessThanOrEqualTo(1e-5);
    }
    // A Dense layer that still expects the 48-d input is refused, naming both widths.
    Path withDense = copy(tmp.resolve("d"));
    writeJson(withDense.resolve("1_Pooling/config.json"), pool);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(withDense)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("in_features 48").hasMessageContaining("192");
  }

  // ---------------------------------------------------------------------------------------------
  // Refusals

  @Test
  void aDenseConfigWithBiasButNoBiasTensorIsRefusedNamingTheKey(@TempDir Path tmp) throws Exception {
    Path dir = copy(tmp);
    ObjectNode dense = (ObjectNode) JSON.readTree(fixture().resolve("2_Dense/config.json").toFile());
    dense.put("bias", true);
    writeJson(dir.resolve("2_Dense/config.json"), dense);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("missing: linear.bias [64]");
  }

  @Test
  void misShapedUnexpectedAndNonFloatDenseWeightsAreRefused(@TempDir Path tmp) throws Exception {
    Path dir = copy(tmp);
    ObjectNode dense = (ObjectNode) JSON.readTree(fixture().resolve("2_Dense/config.json").toFile());
    dense.put("out_features", 32);
    writeJson(dir.resolve("2_Dense/config.json"), dense);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("mis-shaped: linear.weight: expected [32, 48], found [64, 48]");

    Path dir2 = copy(tmp.resolve("b"));
    Files.delete(dir2.resolve("2_Dense/model.safetensors"));
    writeInt64Safetensors(dir2.resolve("2_Dense/model.safetensors"), Map.of("linear.weight", new long[] {64, 48},
        "linear.bias", new long[] {64}));
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir2)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("unexpected: linear.bias")
        .hasMessageContaining("not floating point: linear.weight (Long)");
  }

  /** A safetensors file of zero int64 tensors (SafetensorsWriter writes float32 only). */
  private static void writeInt64Safetensors(Path file, Map<String, long[]> shapes) throws Exception {
    ObjectNode header = JSON.createObjectNode();
    long offset = 0;
    for (Map.Entry<String, long[]> e : new java.util.TreeMap<>(shapes).entrySet()) {
      long bytes = 8 * Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b);
      ObjectNode t = header.putObject(e.getKey());
      t.put("dtype", "I64");
      ArrayNode shape = t.putArray("shape");
      Arrays.stream(e.getValue()).forEach(shape::add);
      t.putArray("data_offsets").add(offset).add(offset + bytes);
      offset += bytes;
    }
    byte[] json = JSON.writeValueAsBytes(header);
    java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate((int) (8 + json.length + offset))
        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buf.putLong(json.length).put(json);
    Files.deleteIfExists(file);
    Files.write(file, buf.array());
  }

  @Test
  void unknownModuleTypesAreRefusedByName(@TempDir Path tmp) throws Exception {
    Path dir = copy(tmp);
    ArrayNode modules = modules();
    ((ObjectNode) modules.get(2)).put("type", "sentence_transformers.models.LSTM");
    writeJson(dir.resolve("modules.json"), modules);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("'sentence_transformers.models.LSTM'");
  }

  @Test
  void malformedModuleListsAreRefused(@TempDir Path tmp) throws Exception {
    // Dense before Pooling.
    Path dir = copy(tmp.resolve("a"));
    ArrayNode modules = modules();
    ((ObjectNode) modules.get(1)).put("idx", 5);
    writeJson(dir.resolve("modules.json"), modules);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("Dense module is out of place");
    // A module path leaving the model directory.
    Path dir2 = copy(tmp.resolve("b"));
    ArrayNode escaping = modules();
    ((ObjectNode) escaping.get(2)).put("path", "../../a/ml/2_Dense"); // a real Dense directory, outside
    writeJson(dir2.resolve("modules.json"), escaping);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir2)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("leaves the model directory");
    // No modules.json at all.
    Path dir3 = copy(tmp.resolve("c"));
    Files.delete(dir3.resolve("modules.json"));
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir3)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("modules.json: missing");
    // An encoder architecture that is not implemented.
    Path dir4 = copy(tmp.resolve("d"));
    ObjectNode cfg = (ObjectNode) JSON.readTree(fixture().resolve("config.json").toFile());
    cfg.put("model_type", "mpnet");
    writeJson(dir4.resolve("config.json"), cfg);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir4)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("'mpnet' is not implemented");
  }

  @Test
  void encoderWeightsWithMissingExtraAndMisShapedKeysAreRefusedListingThemAll(@TempDir Path tmp) throws Exception {
    // The CLIP fixture's weights instead of the DistilBERT ones: everything missing and unexpected.
    Path dir = copy(tmp.resolve("a"));
    Files.delete(dir.resolve("model.safetensors"));
    Files.delete(dir.resolve("pytorch_model.bin"));
    Files.copy(Conformance.dir().resolve("models/tiny-gelu/open_clip_model.safetensors"), dir.resolve("model.safetensors"));
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("missing: embeddings.word_embeddings.weight")
        .hasMessageContaining("unexpected:")
        .hasMessageContaining("visual.proj");

    // The DistilBERT weights with one key dropped, one added and one re-shaped: all three named at once.
    Map<String, Tensor> w = new java.util.LinkedHashMap<>();
    try (StateDict sd = CheckpointReader.read(fixture().resolve("model.safetensors"))) {
      sd.tensors().forEach((k, v) -> w.put(k, dev.clip4j.model.io.StateDictTensors.toTensor(v)));
    }
    w.remove("transformer.layer.1.ffn.lin2.bias");
    w.put("transformer.layer.2.ffn.lin2.bias", torch.zeros(48));
    w.put("embeddings.position_embeddings.weight", torch.zeros(128, 48));
    Path dir2 = copy(tmp.resolve("b"));
    Files.delete(dir2.resolve("model.safetensors"));
    SafetensorsWriter.write(dir2.resolve("model.safetensors"), w, Map.of());
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir2)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("1 missing: transformer.layer.1.ffn.lin2.bias [48]")
        .hasMessageContaining("1 unexpected: transformer.layer.2.ffn.lin2.bias")
        .hasMessageContaining("1 mis-shaped: embeddings.position_embeddings.weight: expected [512, 48], found [128, 48]");
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle, threads, devices

  @Test
  void concurrentEmbedCallsAllGiveTheReference() throws Exception {
    List<String> texts = texts();
    float[] want = expected();
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture())) {
      List<Future<Double>> results = new ArrayList<>();
      for (int job = 0; job < 16; job++) {
        int start = job % 13;
        int end = Math.min(13, start + 1 + job % 5);
        results.add(pool.submit(() -> {
          float[] got = Tensors.toFloats(p.embed(texts.subList(start, end)));
          return Tensors.maxAbsDiff(got, Arrays.copyOfRange(want, start * D, end * D));
        }));
      }
      for (Future<Double> r : results) {
        assertThat(r.get()).isLessThanOrEqualTo(1e-5);
      }
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void closedPipelinesAndBadArgumentsAreRefused() throws Exception {
    SentenceTransformerPipeline p = SentenceTransformerPipeline.load(fixture());
    assertThatThrownBy(() -> p.embed(List.of())).isInstanceOf(InvalidInputException.class);
    assertThatThrownBy(() -> p.embed(Arrays.asList("a", null))).isInstanceOf(NullPointerException.class);
    p.close();
    p.close();
    assertThatThrownBy(() -> p.embed(List.of("a"))).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void devicesAreChecked() {
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(fixture(), "not-a-device"))
        .isInstanceOf(IllegalArgumentException.class);
    if (!torch.cuda_is_available()) {
      assertThatThrownBy(() -> SentenceTransformerPipeline.load(fixture(), "cuda"))
          .isInstanceOf(DeviceException.class)
          .hasMessageContaining("not available");
    }
  }
}
