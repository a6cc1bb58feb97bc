package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.data.Offset.offset;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.IndexDirs;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code search} and {@code classify} end to end on the tiny conformance model, against scores
 * computed here from the reference (open_clip) embeddings.
 */
class ScoringCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int D = 64;

  private static Path c;
  private static Path model;
  private static List<String> images;
  private static List<String> texts;
  private static float[] refImages; // [12, 64], manifest "images" order
  private static float[] refTexts; // [13, 64], manifest "texts" order
  private static Map<String, String> modelFiles;
  private static double scale;

  @BeforeAll
  static void fixtures() throws Exception {
    c = Conformance.find();
    if (c == null) {
      return; // each test skips through Conformance.dir()
    }
    model = c.resolve("models/tiny-quickgelu");
    JsonNode manifest = JSON.readTree(c.resolve("manifest.json").toFile());
    images = new ArrayList<>();
    manifest.get("images").forEach(n -> images.add(n.asText()));
    texts = new ArrayList<>();
    manifest.get("texts").forEach(n -> texts.add(n.asText()));
    refImages = Npy.read(model.resolve("expected_image_embeddings.npy")).floats();
    refTexts = Npy.read(model.resolve("expected_text_embeddings.npy")).floats();
    try (ClipModel m = ClipModel.load(model)) {
      modelFiles = m.info().fileHashes();
      scale = Math.exp(m.logitScale());
    }
  }

  private record Run(int code, String out, String err) {
    List<JsonNode> lines() {
      return out.lines().filter(l -> !l.isBlank()).map(l -> {
        try {
          return JSON.readTree(l);
        } catch (Exception e) {
          throw new AssertionError("not JSON: " + l, e);
        }
      }).collect(Collectors.toList());
    }
  }

  private static Run run(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Main.run(args);
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  private static double dot(float[] a, int ai, float[] b, int bi) {
    double s = 0;
    for (int j = 0; j < D; j++) {
      s += (double) a[ai * D + j] * b[bi * D + j];
    }
    return s;
  }

  /** The reference image embeddings as an index: shards of 5, 0 and 7 rows, paths = manifest names. */
  private static Path imageIndex(Path dir, Map<String, String> files) throws Exception {
    IndexDirs.write(dir, "images", D,
        List.of(IndexDirs.rows(refImages, D, 0, 5), new float[0][], IndexDirs.rows(refImages, D, 5, 7)), files,
        r -> "images/" + images.get((int) r));
    return dir;
  }

  @Test
  void searchRanksTheIndexByTheReferenceScoresOfTextQueries(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    Path index = imageIndex(tmp.resolve("idx"), modelFiles);
    int[] queries = {0, 3}; // "a photo of a cat", "an astronaut riding a horse"
    Run r = run("search", "--model", model.toString(), "--index", index.toString(), "--query", texts.get(0),
        "--query", texts.get(3), "-k", "50", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    List<JsonNode> lines = r.lines();
    assertThat(lines).hasSize(2 * 12); // k > rows returns every row
    for (int qi = 0; qi < queries.length; qi++) {
      int t = queries[qi];
      List<Integer> want = IntStream.range(0, 12).boxed()
          .sorted(Comparator.comparingDouble((Integer i) -> -dot(refImages, i, refTexts, t)).thenComparingInt(i -> i))
          .collect(Collectors.toList());
      for (int rank = 0; rank < 12; rank++) {
        JsonNode hit = lines.get(qi * 12 + rank);
        int row = want.get(rank);
        assertThat(hit.get("query").asInt()).isEqualTo(qi);
        assertThat(hit.get("query_text").asText()).isEqualTo(texts.get(t));
        assertThat(hit.get("rank").asInt()).isEqualTo(rank + 1);
        assertThat(hit.get("row").asLong()).as("query %d rank %d", qi, rank + 1).isEqualTo(row);
        assertThat(hit.get("path").asText()).isEqualTo("images/" + images.get(row));
        assertThat(hit.get("index").asLong()).isEqualTo(row);
        assertThat(hit.get("score").asDouble()).isCloseTo(dot(refImages, row, refTexts, t), offset(1e-5));
      }
    }

    Run table = run("search", "--model", model.toString(), "--index", index.toString(), "--query", texts.get(0), "-k", "3");
    assertThat(table.code()).as(table.err()).isZero();
    List<String> rows = table.out().lines().collect(Collectors.toList());
    assertThat(rows).hasSize(2 + 3);
    assertThat(rows.get(0)).isEqualTo("query 1/1 (text): " + texts.get(0));
    assertThat(rows.get(1)).contains("rank", "score", "row", "path");
    assertThat(rows.get(2).trim()).startsWith("1 ").endsWith("images/" + images.get(lines.get(0).get("row").asInt()));
  }

  @Test
  void searchWithAnImageQueryFindsThatImageFirst(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    Path index = imageIndex(tmp.resolve("idx"), modelFiles);
    Run r = run("search", "--model", model.toString(), "--index", index.toString(), "--query-image",
        c.resolve("images/rocket.jpg").toString(), "-k", "2", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    List<JsonNode> lines = r.lines();
    assertThat(lines).hasSize(2);
    int rocket = images.indexOf("rocket.jpg");
    assertThat(lines.get(0).get("path").asText()).isEqualTo("images/rocket.jpg");
    assertThat(lines.get(0).get("query_image").asText()).endsWith("rocket.jpg");
    assertThat(lines.get(0).get("score").asDouble()).isCloseTo(dot(refImages, rocket, refImages, rocket), offset(1e-5));
  }

  @Test
  void searchRefusesIncomparableIndexes(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    String m = model.toString();
    float[] narrow = new float[4 * 32];
    Arrays.fill(narrow, 0.1f);
    Path dim32 = tmp.resolve("dim32");
    IndexDirs.write(dim32, "images", 32, List.<float[][]>of(IndexDirs.rows(narrow, 32, 0, 4)), modelFiles, r -> "x" + r);
    Run r = run("search", "--model", m, "--index", dim32.toString(), "--query", "a cat");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("INVALID_INPUT", "32-d", "64-d", "not comparable");
    assertThat(run("search", "--model", m, "--index", dim32.toString(), "--query", "a cat", "--allow-model-mismatch").code())
        .as("a width mismatch is never allowed").isEqualTo(1);

    Path other = imageIndex(tmp.resolve("other"), Map.of("open_clip_config.json", "00ff", "open_clip_model.safetensors", "11ee"));
    r = run("search", "--model", m, "--index", other.toString(), "--query", "a cat");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("INVALID_INPUT", "different model", "open_clip_model.safetensors", "--allow-model-mismatch");
    r = run("search", "--model", m, "--index", other.toString(), "--query", "a cat", "--allow-model-mismatch", "--json", "-k", "1");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.lines()).hasSize(1);

    Path unknown = imageIndex(tmp.resolve("unknown"), Map.of());
    r = run("search", "--model", m, "--index", unknown.toString(), "--query", "a cat");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("records no model file hashes");

    Path empty = tmp.resolve("empty");
    IndexDirs.write(empty, "images", D, List.of(), modelFiles, x -> "x");
    r = run("search", "--model", m, "--index", empty.toString(), "--query", "a cat", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.lines()).isEmpty();

    Path broken = imageIndex(tmp.resolve("broken"), modelFiles);
    Files.delete(broken.resolve("embeddings-00002.npy"));
    r = run("search", "--model", m, "--index", broken.toString(), "--query", "a cat");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("INVALID_INPUT", "embeddings-00002.npy", "missing");

    assertThat(run("search", "--model", m, "--index", empty.toString()).code()).as("no query").isEqualTo(2);
    assertThat(run("search", "--model", m, "--index", empty.toString(), "--query", "x", "-k", "0").code()).isEqualTo(2);
  }

  /** softmax(scale * image . class) over the given reference text rows. */
  private static double[] referenceProbs(int image, int[] classTexts) {
    double[] l = new double[classTexts.length];
    double max = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < l.length; i++) {
      l[i] = scale * dot(refImages, image, refTexts, classTexts[i]);
      max = Math.max(max, l[i]);
    }
    double sum = 0;
    for (double x : l) {
      sum += Math.exp(x - max);
    }
    double[] p = new double[l.length];
    for (int i = 0; i < l.length; i++) {
      p[i] = Math.exp(l[i] - max) / sum;
    }
    return p;
  }

  @Test
  void classifyADirectoryMatchesTheReferenceSoftmaxAndReportsTheCorruptImage() throws Exception {
    Conformance.dir();
    int[] classTexts = {0, 1, 3, 2};
    String labels = Arrays.stream(classTexts).mapToObj(texts::get).collect(Collectors.joining(","));
    Run r = run("classify", "--model", model.toString(), "--labels", labels, "--template", "{}", "-k", "4",
        c.resolve("images").toString());
    assertThat(r.code()).as(r.err()).isEqualTo(3);
    assertThat(r.err()).contains("12 of 13 images", "1 errors");
    assertThat(r.err()).contains("clip4j: scoring: softmax over the labels (CLIP)"); // a CLIP: no logit_bias
    List<JsonNode> lines = r.lines();
    List<String> sorted = new ArrayList<>(images);
    sorted.add("corrupt_truncated.jpg");
    sorted.sort(Comparator.naturalOrder());
    assertThat(lines).hasSize(13);
    for (int i = 0; i < 13; i++) {
      JsonNode line = lines.get(i);
      String name = sorted.get(i);
      assertThat(Path.of(line.get("path").asText()).getFileName().toString()).isEqualTo(name);
      if (name.equals("corrupt_truncated.jpg")) {
        assertThat(line.get("error").asText()).isEqualTo("INVALID_INPUT");
        assertThat(line.get("message").asText()).contains("corrupt_truncated.jpg");
        assertThat(line.has("top")).isFalse();
        continue;
      }
      double[] want = referenceProbs(images.indexOf(name), classTexts);
      JsonNode top = line.get("top");
      assertThat(top).hasSize(4);
      double last = Double.POSITIVE_INFINITY;
      for (JsonNode t : top) {
        int cls = Arrays.asList(labels.split(",")).indexOf(t.get("label").asText());
        double p = t.get("probability").asDouble();
        assertThat(p).as("%s %s", name, t.get("label").asText()).isCloseTo(want[cls], offset(1e-4));
        assertThat(t.get("logit").asDouble() / scale).isCloseTo(dot(refImages, images.indexOf(name), refTexts, classTexts[cls]),
            offset(1e-5));
        assertThat(p).isLessThanOrEqualTo(last);
        last = p;
      }
    }
  }

  @Test
  void classifyEnsemblesTemplatesAndKeepsInputOrder(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    // One class "a" through two templates whose prompts are reference texts 0 and 1:
    // its embedding is normalize(T0 + T1), its logit scale * I . that.
    Path labels = Files.writeString(tmp.resolve("labels.txt"), "a\n\n");
    Path templates = Files.writeString(tmp.resolve("templates.txt"), "{} photo of a cat\n{} photo of a dog\n");
    List<String> order = List.of("rocket.jpg", "chelsea.png", "logo.png");
    List<String> args = new ArrayList<>(List.of("classify", "--model", model.toString(), "--labels-file", labels.toString(),
        "--templates", templates.toString()));
    order.forEach(n -> args.add(c.resolve("images").resolve(n).toString()));
    Run r = run(args.toArray(new String[0]));
    assertThat(r.code()).as(r.err()).isZero();
    List<JsonNode> lines = r.lines();
    assertThat(lines).hasSize(3);
    double[] cls = new double[D];
    for (int j = 0; j < D; j++) {
      cls[j] = (double) refTexts[j] + refTexts[D + j];
    }
    double norm = Math.sqrt(Arrays.stream(cls).map(x -> x * x).sum());
    for (int i = 0; i < 3; i++) {
      assertThat(lines.get(i).get("path").asText()).endsWith(order.get(i));
      int img = images.indexOf(order.get(i));
      double cos = 0;
      for (int j = 0; j < D; j++) {
        cos += refImages[img * D + j] * cls[j] / norm;
      }
      JsonNode top = lines.get(i).get("top");
      assertThat(top).hasSize(1);
      assertThat(top.get(0).get("label").asText()).isEqualTo("a");
      assertThat(top.get(0).get("probability").asDouble()).isEqualTo(1.0);
      assertThat(top.get(0).get("logit").asDouble() / scale).isCloseTo(cos, offset(1e-5));
    }
  }

  @Test
  void classifyWalksDirectoriesAsEmbedImagesDoes(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    // Nested directories, a .jfif (a JPEG extension classify used to skip), a hidden file and a
    // hidden directory (skipped), a text file (not an image extension: skipped).
    Path root = tmp.resolve("photos");
    Files.createDirectories(root.resolve("b/inner"));
    Files.createDirectories(root.resolve(".cache"));
    Path jpg = c.resolve("images").resolve("rocket.jpg");
    Path png = c.resolve("images").resolve("chelsea.png");
    Files.copy(jpg, root.resolve("b/inner/rocket.jfif"));
    Files.copy(png, root.resolve("a.png"));
    Files.copy(png, root.resolve(".hidden.png"));
    Files.copy(png, root.resolve(".cache/c.png"));
    Files.writeString(root.resolve("notes.txt"), "not an image");
    Path labels = Files.writeString(tmp.resolve("labels.txt"), "cat\ndog\n");
    Run r = run("classify", "--model", model.toString(), "--labels-file", labels.toString(), root.toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.lines()).extracting(l -> root.relativize(Path.of(l.get("path").asText())).toString())
        .containsExactly("a.png", "b/inner/rocket.jfif");
    // --ext filters the walk (explicit files are always kept), and an unreadable entry is an error line.
    Run png1 = run("classify", "--model", model.toString(), "--labels-file", labels.toString(), "--ext", "png",
        root.toString(), tmp.resolve("missing.jpg").toString());
    assertThat(png1.code()).as(png1.err()).isEqualTo(ClassifyCommand.COMPLETED_WITH_ERRORS);
    List<JsonNode> lines = png1.lines();
    assertThat(lines).hasSize(2);
    assertThat(lines.get(0).get("path").asText()).endsWith("a.png");
    assertThat(lines.get(0).has("top")).isTrue();
    assertThat(lines.get(1).get("path").asText()).endsWith("missing.jpg");
    assertThat(lines.get(1).get("error").asText()).isNotEmpty();
    // An @listfile lists files and directories, as for embed-images.
    Path list = Files.writeString(tmp.resolve("list.txt"), root.resolve("b") + "\n" + root.resolve("a.png") + "\n");
    Run fromList = run("classify", "--model", model.toString(), "--labels-file", labels.toString(), "@" + list);
    assertThat(fromList.code()).as(fromList.err()).isZero();
    assertThat(fromList.lines()).extracting(l -> root.relativize(Path.of(l.get("path").asText())).toString())
        .containsExactly("b/inner/rocket.jfif", "a.png");
  }

  @Test
  void classifyWithTheOpenAiTemplatesAndUsageErrors(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    String m = model.toString();
    String img = c.resolve("images/coffee.png").toString();
    Run r = run("classify", "--model", m, "--labels", "cat,dog,coffee", "--templates", "openai-imagenet", "-k", "2", img,
        tmp.resolve("missing.png").toString());
    assertThat(r.code()).as(r.err()).isEqualTo(3);
    List<JsonNode> lines = r.lines();
    assertThat(lines).hasSize(2);
    assertThat(lines.get(0).get("top")).hasSize(2);
    assertThat(lines.get(1).get("path").asText()).endsWith("missing.png");
    assertThat(lines.get(1).has("error")).isTrue();

    assertThat(run("classify", "--model", m, "--labels", "cat", "--template", "no placeholder", img).code()).isEqualTo(2);
    assertThat(run("classify", "--model", m, img).code()).as("no labels").isEqualTo(2);
    assertThat(run("classify", "--model", m, "--labels", "cat,cat", img).code()).as("duplicate label").isEqualTo(2);
    assertThat(run("classify", "--model", m, "--labels", "cat", "--templates", tmp.resolve("nope").toString(), img).code())
        .isEqualTo(2);
    assertThat(run("classify", "--model", m, "--labels", "cat", "--template", "{}", "--templates", "openai-imagenet", img)
        .code()).isEqualTo(2);
  }

  private static List<String> multilingualTexts() throws Exception {
    List<String> out = new ArrayList<>();
    for (String l : Files.readAllLines(c.resolve("multilingual/expected_token_ids.jsonl"), StandardCharsets.UTF_8)) {
      if (!l.isBlank()) {
        out.add(JSON.readTree(l).get("text").asText());
      }
    }
    return out;
  }

  /** SHA-256 of every file under dir, keyed by relative path (what the corpus job records as text_model.files). */
  private static Map<String, String> hashTree(Path dir) throws Exception {
    Map<String, String> out = new java.util.TreeMap<>();
    try (java.util.stream.Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).collect(Collectors.toList())) {
        byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
        out.put(dir.relativize(p).toString(), java.util.HexFormat.of().formatHex(d));
      }
    }
    return out;
  }

  @Test
  void multilingualTextModelForClassifyAndSearch(@TempDir Path tmp) throws Exception {
    Conformance.dir();
    Path ml = c.resolve("multilingual");
    float[] mlTexts = Npy.read(ml.resolve("expected_text_embeddings.npy")).floats();
    List<String> mlt = multilingualTexts();

    // classify: the labels are the first 8 multilingual texts (template "{}").
    int n = 8;
    Path labels = Files.write(tmp.resolve("labels.txt"), mlt.subList(0, n), StandardCharsets.UTF_8);
    Run r = run("classify", "--model", model.toString(), "--text-model", ml.toString(), "--labels-file", labels.toString(),
        "--template", "{}", "-k", String.valueOf(n), c.resolve("images/chelsea.png").toString(),
        c.resolve("images/astronaut.png").toString());
    assertThat(r.code()).as(r.err()).isZero();
    List<JsonNode> lines = r.lines();
    assertThat(lines).hasSize(2);
    for (int i = 0; i < 2; i++) {
      int img = images.indexOf(i == 0 ? "chelsea.png" : "astronaut.png");
      double[] l = new double[n];
      double max = Double.NEGATIVE_INFINITY;
      for (int t = 0; t < n; t++) {
        l[t] = scale * dot(refImages, img, mlTexts, t);
        max = Math.max(max, l[t]);
      }
      double sum = 0;
      for (double x : l) {
        sum += Math.exp(x - max);
      }
      assertThat(lines.get(i).get("top")).hasSize(n);
      for (JsonNode t : lines.get(i).get("top")) {
        int cls = mlt.indexOf(t.get("label").asText());
        assertThat(cls).isBetween(0, n - 1);
        assertThat(t.get("probability").asDouble()).isCloseTo(Math.exp(l[cls] - max) / sum, offset(1e-4));
      }
    }

    // search an image index with a multilingual text query.
    Path index = imageIndex(tmp.resolve("idx"), modelFiles);
    r = run("search", "--model", model.toString(), "--text-model", ml.toString(), "--index", index.toString(),
        "--query", mlt.get(1), "-k", "12", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    List<Integer> want = IntStream.range(0, 12).boxed()
        .sorted(Comparator.comparingDouble((Integer i) -> -dot(refImages, i, mlTexts, 1)).thenComparingInt(i -> i))
        .collect(Collectors.toList());
    lines = r.lines();
    for (int rank = 0; rank < 12; rank++) {
      assertThat(lines.get(rank).get("row").asInt()).isEqualTo(want.get(rank));
      assertThat(lines.get(rank).get("score").asDouble()).isCloseTo(dot(refImages, want.get(rank), mlTexts, 1), offset(1e-5));
    }

    // a texts index made by the text model: its files are checked against --text-model.
    Path texts = tmp.resolve("texts");
    Map<String, Object> manifest = IndexDirs.write(texts, "texts", D,
        List.of(IndexDirs.rows(mlTexts, D, 0, 6), IndexDirs.rows(mlTexts, D, 6, 7)), modelFiles, x -> "t" + x);
    Map<String, Object> tm = new java.util.LinkedHashMap<>();
    tm.put("path", ml.toString());
    tm.put("files", hashTree(ml));
    manifest.put("text_model", tm);
    IndexDirs.writeManifest(texts, manifest);
    r = run("search", "--model", model.toString(), "--text-model", ml.toString(), "--index", texts.toString(),
        "--query", mlt.get(3), "-k", "1", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.lines().get(0).get("id").asText()).isEqualTo("t3");
    assertThat(r.lines().get(0).get("score").asDouble()).isCloseTo(dot(mlTexts, 3, mlTexts, 3), offset(1e-5));

    r = run("search", "--model", model.toString(), "--index", texts.toString(), "--query", mlt.get(3));
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("pass it as --text-model");
    r = run("search", "--model", model.toString(), "--index", texts.toString(), "--query-image",
        c.resolve("images/chelsea.png").toString(), "--json", "-k", "1");
    assertThat(r.code()).as("image queries use the CLIP image tower: " + r.err()).isZero();

    @SuppressWarnings("unchecked")
    Map<String, String> files = (Map<String, String>) tm.get("files");
    files.put("model.safetensors", "00" + files.get("model.safetensors").substring(2));
    IndexDirs.writeManifest(texts, manifest);
    r = run("search", "--model", model.toString(), "--text-model", ml.toString(), "--index", texts.toString(),
        "--query", mlt.get(3));
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err()).contains("different text model", "model.safetensors");
    assertThat(run("search", "--model", model.toString(), "--text-model", ml.toString(), "--index", texts.toString(),
        "--query", mlt.get(3), "--allow-model-mismatch").code()).isZero();
  }

  /**
   * {@code classify} with a SigLIP model (the library's tiny transformers SiglipModel fixture, loaded
   * through the public reader): sigmoid per label with the model's logit_bias, against scores made
   * here from transformers' own image and text embeddings of the same files and strings.
   */
  @Test
  void classifyWithASiglipModelScoresEachLabelWithASigmoid(@TempDir Path tmp) throws Exception {
    String base = "/dev/clip4j/model/hf-siglip/hf-siglip2/";
    Path dir = Files.createDirectories(tmp.resolve("hf-siglip2"));
    for (String f : new String[] {"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json",
        "tokenizer_config.json", "texts.json", "texts.npy", "image_png.npy", "logit_scale.npy", "logit_bias.npy",
        "img_gradient_53x37.png", "img_noise_19x41.png"}) {
      try (java.io.InputStream in = ClipModel.class.getResourceAsStream(base + f)) {
        assertThat(in).as(base + f + " on the test class path").isNotNull();
        Files.copy(in, dir.resolve(f));
      }
    }
    JsonNode cases = JSON.readTree(dir.resolve("texts.json").toFile());
    int[] rows = {0, 1, 3}; // labels without leading blanks or tabs (a labels file is read a line at a time)
    List<String> labels = new ArrayList<>();
    for (int r : rows) {
      labels.add(cases.get(r).get("text").asText());
    }
    Path labelsFile = tmp.resolve("labels.txt");
    Files.write(labelsFile, labels, StandardCharsets.UTF_8);
    float[] txt = Npy.read(dir.resolve("texts.npy")).floats();
    float[] img = Npy.read(dir.resolve("image_png.npy")).floats();
    int d = 40;
    double sigScale = Math.exp(Npy.read(dir.resolve("logit_scale.npy")).floats()[0]);
    double bias = Npy.read(dir.resolve("logit_bias.npy")).floats()[0];
    String[] files = {"img_gradient_53x37.png", "img_noise_19x41.png"};
    Run r = run("classify", "--model", dir.toString(), "--labels-file", labelsFile.toString(), "--template", "{}",
        "-k", "3", dir.resolve(files[0]).toString(), dir.resolve(files[1]).toString());
    assertThat(r.code()).as(r.err()).isZero();
    assertThat(r.err()).contains("scoring: sigmoid per label with the model's logit_bias");
    List<JsonNode> out = r.lines();
    assertThat(out).hasSize(2);
    for (int i = 0; i < 2; i++) {
      assertThat(out.get(i).get("path").asText()).endsWith(files[i]);
      JsonNode top = out.get(i).get("top");
      assertThat(top).hasSize(3);
      double sum = 0;
      for (JsonNode t : top) {
        int l = labels.indexOf(t.get("label").asText());
        assertThat(l).isNotNegative();
        double dot = 0;
        for (int j = 0; j < d; j++) {
          dot += (double) img[i * d + j] * txt[rows[l] * d + j];
        }
        double logit = sigScale * dot + bias;
        assertThat(t.get("logit").asDouble()).as("logit of %s", t.get("label")).isCloseTo(logit, offset(5e-4));
        assertThat(t.get("probability").asDouble()).isCloseTo(1 / (1 + Math.exp(-logit)), offset(1e-4));
        sum += t.get("probability").asDouble();
      }
      assertThat(Math.abs(sum - 1)).as("independent sigmoids, not a softmax").isGreaterThan(1e-3);
    }
  }
}
