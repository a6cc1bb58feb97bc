package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.testing.Conformance;
import dev.clip4j.tokenize.ClipTokenizer;
import java.awt.image.BufferedImage;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code embed-images} / {@code embed-texts --out DIR|X.jsonl} end to end on the tiny reference
 * model: directory contents against ClipModel embeddings computed directly (bitwise), bad files,
 * kill -9 and resume in a child JVM, refusal of another job, text formats, JSON lines.
 */
class CorpusCliTest {
  private static final int[] BUCKETS = {8, 16, 24, 32, 48, 64};
  private final ObjectMapper json = new ObjectMapper();

  private static Path model(String name) {
    return Conformance.dir().resolve("models/" + name);
  }

  /** Runs the CLI in this JVM; returns the exit code and what it printed on stderr. */
  private static Map.Entry<Integer, String> cli(String... args) {
    PrintStream old = System.err;
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    System.setErr(new PrintStream(bos, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Main.run(args);
    } finally {
      System.setErr(old);
    }
    return Map.entry(code, bos.toString(StandardCharsets.UTF_8));
  }

  private static void image(Path file, int w, int h, long seed) throws IOException {
    Random r = new Random(seed);
    BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        img.setRGB(x, y, r.nextInt(1 << 24));
      }
    }
    Files.createDirectories(file.getParent());
    String name = file.getFileName().toString();
    String fmt = name.endsWith(".jpg") ? "jpg" : name.endsWith(".bmp") ? "bmp" : "png";
    assertThat(ImageIO.write(img, fmt, file.toFile())).isTrue();
  }

  private static String sha256(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }

  private static float[] row(Tensor t) {
    float[] r = new float[(int) t.size(1)];
    t.contiguous().data_ptr_float().get(r);
    return r;
  }

  /** The image's embedding straight from ClipModel: decode, preprocess, a batch of one. */
  private static float[] direct(ClipModel m, Path image) {
    PreprocessConfig cfg = m.preprocessConfig();
    int s = cfg.imageSize();
    FloatBuffer buf = ByteBuffer.allocateDirect(cfg.floatsPerImage() * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    new ImagePreprocessor(cfg).preprocessInto(ImageDecoder.decode(image), buf, 1, 0);
    float[] px = new float[cfg.floatsPerImage()];
    buf.get(0, px);
    return row(m.embedImages(EmbedImagesCommand.tensor(px, 1, s)));
  }

  /** The text's embedding straight from ClipModel at the shortest length bucket that holds it. */
  private static float[] direct(ClipModel m, ClipTokenizer tok, String text) {
    int ctx = m.info().contextLength();
    long[] ids = new long[ctx];
    int n = tok.tokenizeInto(text, ctx, ids, 0);
    int len = ctx;
    for (int b : BUCKETS) {
      if (n <= b) {
        len = b;
        break;
      }
    }
    LongPointer p = new LongPointer(Arrays.copyOf(ids, len));
    Tensor t = torch.from_blob(p, new long[] {1, len}, new TensorOptions(torch.ScalarType.Long)).clone();
    return row(m.embedTexts(t));
  }

  /** Rows of every listed shard, and their ids lines, in order. */
  private List<Map.Entry<JsonNode, float[]>> rows(Path dir) throws IOException {
    JsonNode m = json.readTree(dir.resolve("manifest.json").toFile());
    int d = m.get("dim").asInt();
    List<Map.Entry<JsonNode, float[]>> out = new ArrayList<>();
    for (JsonNode s : m.get("shards")) {
      Npy.Array a = Npy.read(dir.resolve(s.get("embeddings").asText()));
      assertThat(a.dtype()).isEqualTo(Npy.DType.FLOAT32);
      assertThat(a.shape()).containsExactly(s.get("rows").asLong(), d);
      List<String> ids = Files.readAllLines(dir.resolve(s.get("ids").asText()));
      assertThat(ids).hasSize(s.get("rows").asInt());
      float[] f = a.floats();
      for (int r = 0; r < ids.size(); r++) {
        JsonNode id = json.readTree(ids.get(r));
        assertThat(id.get("row").asInt()).isEqualTo(r);
        out.add(Map.entry(id, Arrays.copyOfRange(f, r * d, (r + 1) * d)));
      }
    }
    return out;
  }

  /** Every file's bytes (manifest without its timings), for comparing two runs. */
  private Map<String, String> snapshot(Path dir) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> s = Files.list(dir)) {
      for (Path p : s.toList()) {
        String n = p.getFileName().toString();
        if (n.equals("manifest.json")) {
          ObjectNode m = (ObjectNode) json.readTree(p.toFile());
          m.remove("timings");
          out.put(n, m.toString());
        } else if (!n.equals(".clip4j.lock")) {
          out.put(n, HexFormat.of().formatHex(Files.readAllBytes(p)));
        }
      }
    }
    return out;
  }

  @Test
  void aFifoNamedLikeAnImageOrATextFileIsAnErrorEntryNotAHang(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("photos");
    image(in.resolve("a.png"), 40, 30, 1);
    image(in.resolve("c.png"), 30, 40, 2);
    Path fifo = in.resolve("b.png");
    Path textFifo = tmp.resolve("texts.txt");
    for (Path f : List.of(fifo, textFifo)) {
      Process p = new ProcessBuilder("mkfifo", f.toString()).inheritIO().start();
      org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo is not available");
    }
    Path out = tmp.resolve("emb");
    Map.Entry<Integer, String> r = cli("embed-images", "--model", model("tiny-quickgelu").toString(), "--out", out.toString(),
        "--progress", "off", in.toString());
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);
    List<String> errors = Files.readAllLines(out.resolve("errors.jsonl"));
    assertThat(errors).hasSize(1);
    JsonNode e = json.readTree(errors.get(0));
    assertThat(e.get("path").asText()).isEqualTo(fifo.toString());
    assertThat(e.get("error").asText()).isEqualTo("IO");
    assertThat(e.get("message").asText()).contains("not a regular file");
    assertThat(json.readTree(out.resolve("manifest.json").toFile()).get("rows").asInt()).isEqualTo(2);

    Path tout = tmp.resolve("temb");
    r = cli("embed-texts", "--model", model("tiny-quickgelu").toString(), "--out", tout.toString(), "--progress", "off",
        "--text", "a cat", "--texts-txt", textFifo.toString());
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);
    assertThat(Files.readString(tout.resolve("errors.jsonl"))).contains("not a regular file");
  }

  @Test
  void aNestedDirectoryAndTextsGiveTheModelsEmbeddingsBitwise(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("photos");
    image(in.resolve("x.png"), 40, 30, 1);
    image(in.resolve("sub1/y.jpg"), 64, 48, 2);
    image(in.resolve("sub1/sub2/z.png"), 30, 70, 3);
    image(in.resolve("sub1/sub2/w.bmp"), 25, 25, 4);
    Files.writeString(in.resolve("sub1/notes.txt"), "not an image");
    Path out = tmp.resolve("emb");
    Map.Entry<Integer, String> r = cli("embed-images", "--model", model("tiny-quickgelu").toString(), "--out", out.toString(),
        "--shard-size", "3", "--progress", "off", in.toString());
    assertThat(r.getKey()).as(r.getValue()).isZero();
    assertThat(r.getValue()).contains("embedded 4 of 4 images");

    JsonNode m = json.readTree(out.resolve("manifest.json").toFile());
    List<String> expected = List.of("sub1/sub2/w.bmp", "sub1/sub2/z.png", "sub1/y.jpg", "x.png");
    try (ClipModel cm = ClipModel.load(model("tiny-quickgelu"))) {
      assertThat(m.get("format").asText()).isEqualTo("clip4j-embeddings");
      assertThat(m.get("format_version").asInt()).isEqualTo(1);
      assertThat(m.get("kind").asText()).isEqualTo("images");
      assertThat(m.get("dim").asInt()).isEqualTo(64);
      assertThat(m.get("dtype").asText()).isEqualTo("float32");
      assertThat(m.get("normalized").asBoolean()).isTrue();
      assertThat(m.get("model")).isEqualTo(json.readTree(json.writeValueAsString(cm.info().toMap())));
      assertThat(m.get("preprocess").get("image_size").asInt()).isEqualTo(224);
      assertThat(m.get("preprocess").get("interpolation").asText()).isEqualTo("bicubic");
      assertThat(m.get("shard_size").asInt()).isEqualTo(3);
      assertThat(m.get("shards")).hasSize(2);
      assertThat(m.get("shards").get(1).get("embeddings").asText()).isEqualTo("embeddings-00001.npy");
      assertThat(m.get("shards").get(1).get("ids").asText()).isEqualTo("ids-00001.jsonl");
      assertThat(m.get("rows").asLong()).isEqualTo(4);
      assertThat(m.get("errors").asLong()).isZero();
      assertThat(m.get("complete").asBoolean()).isTrue();
      assertThat(m.get("inputs").get("count").asLong()).isEqualTo(4);
      assertThat(Files.readAllBytes(out.resolve("errors.jsonl"))).isEmpty();

      List<Map.Entry<JsonNode, float[]>> rows = rows(out);
      assertThat(rows).hasSize(4);
      for (int i = 0; i < 4; i++) {
        JsonNode id = rows.get(i).getKey();
        Path file = in.resolve(expected.get(i));
        assertThat(id.get("index").asInt()).isEqualTo(i);
        assertThat(id.get("path").asText()).isEqualTo(file.toString());
        assertThat(id.get("sha256").asText()).isEqualTo(sha256(Files.readAllBytes(file)));
        assertThat(rows.get(i).getValue()).as(expected.get(i)).containsExactly(direct(cm, file));
      }

      List<String> texts = List.of("a photo of a cat", "A DIAGRAM of the Solar System!",
          "a very long caption that goes on and on about a dog sitting on a red sofa next to a window with the sun"
              + " shining through the blinds onto an old wooden floor");
      Path txt = tmp.resolve("texts.txt");
      Files.writeString(txt, String.join("\n", texts) + "\n");
      Path tout = tmp.resolve("txt-emb");
      r = cli("embed-texts", "--model", model("tiny-quickgelu").toString(), "--out", tout.toString(), "--texts-txt",
          txt.toString(), "--progress", "off");
      assertThat(r.getKey()).as(r.getValue()).isZero();
      JsonNode tm = json.readTree(tout.resolve("manifest.json").toFile());
      assertThat(tm.get("kind").asText()).isEqualTo("texts");
      assertThat(tm.has("preprocess")).isFalse();
      ClipTokenizer tok = ((dev.clip4j.tokenize.ClipTextTokenizer) cm.tokenizer()).bpe();
      List<Map.Entry<JsonNode, float[]>> trows = rows(tout);
      assertThat(trows).hasSize(3);
      for (int i = 0; i < 3; i++) {
        JsonNode id = trows.get(i).getKey();
        assertThat(id.get("index").asInt()).isEqualTo(i);
        assertThat(id.get("id").asText()).isEqualTo(String.valueOf(i + 1));
        assertThat(id.get("text").asText()).isEqualTo(texts.get(i));
        assertThat(id.get("sha256").asText()).isEqualTo(sha256(texts.get(i).getBytes(StandardCharsets.UTF_8)));
        assertThat(trows.get(i).getValue()).as(texts.get(i)).containsExactly(direct(cm, tok, texts.get(i)));
      }
    }

    // Another model, or a changed input set, is refused with a typed error; --overwrite starts over.
    r = cli("embed-images", "--model", model("tiny-gelu").toString(), "--out", out.toString(), "--shard-size", "3",
        "--progress", "off", in.toString());
    assertThat(r.getKey()).isEqualTo(1);
    assertThat(r.getValue()).contains("INVALID_INPUT", "different model", "activation", "--overwrite");
    // So is another family of CPU kernels (its vectors may differ in the last bits): the manifest
    // records the family that computed the rows.
    boolean avx512 = dev.clip4j.internal.CpuFeatures.has("avx512f") && dev.clip4j.internal.CpuFeatures.has("avx512bw")
        && dev.clip4j.internal.CpuFeatures.has("avx512vl") && dev.clip4j.internal.CpuFeatures.has("avx512dq");
    assertThat(json.readTree(out.resolve("manifest.json").toFile()).get("model").get("cpu_kernels").asText())
        .isEqualTo(avx512 ? "avx512" : "avx2");
    r = cli("embed-images", "--model", model("tiny-quickgelu").toString(), "--out", out.toString(), "--shard-size", "3",
        "--progress", "off", "--cpu-kernels", avx512 ? "avx2" : "avx512", in.toString());
    assertThat(r.getKey()).isNotZero();
    if (avx512) {
      assertThat(r.getValue()).contains("INVALID_INPUT", "different model", "model/cpu_kernels was \"avx512\", now \"avx2\"");
    } else {
      assertThat(r.getValue()).contains("UNSUPPORTED", "avx512");
    }
    image(in.resolve("sub1/new.png"), 20, 20, 5);
    r = cli("embed-images", "--model", model("tiny-quickgelu").toString(), "--out", out.toString(), "--shard-size", "3",
        "--progress", "off", in.toString());
    assertThat(r.getKey()).isEqualTo(1);
    assertThat(r.getValue()).contains("INVALID_INPUT", "number of inputs (inputs/count was 4, now 5)", "--overwrite");
    assertThat(json.readTree(out.resolve("manifest.json").toFile()).get("rows").asInt()).isEqualTo(4); // untouched
    r = cli("embed-images", "--model", model("tiny-gelu").toString(), "--out", out.toString(), "--shard-size", "3",
        "--progress", "off", "--overwrite", in.toString());
    assertThat(r.getKey()).as(r.getValue()).isZero();
    JsonNode over = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(over.get("model").get("activation").asText()).isEqualTo("gelu");
    assertThat(over.get("rows").asInt()).isEqualTo(5);
  }

  @Test
  void twoHundredImagesWithOnePercentBadFilesCompleteWithErrors(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("in");
    List<String> bad = new ArrayList<>();
    for (int i = 0; i < 198; i++) {
      image(in.resolve("d" + (i % 4)).resolve(String.format("img%03d.png", i)), 12 + i % 7, 9 + i % 5, i);
    }
    Path good = in.resolve("d0/img000.png");
    byte[] bytes = Files.readAllBytes(good);
    Path truncated = in.resolve("d1/img500-truncated.png");
    Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
    Path garbage = in.resolve("d2/img501-garbage.jpg");
    Files.write(garbage, "this is not a JPEG at all".getBytes(StandardCharsets.UTF_8));
    Path empty = in.resolve("d3/img502-empty.png");
    Files.write(empty, new byte[0]);
    bad.add(truncated.toString());
    bad.add(garbage.toString());
    bad.add(empty.toString());
    Path out = tmp.resolve("out");
    Map.Entry<Integer, String> r = cli("embed-images", "--model", model("tiny-quickgelu").toString(), "--out",
        out.toString(), "--shard-size", "50", "--progress", "log", in.toString());
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);
    assertThat(r.getValue()).contains("embedded 198 of 201 images", "3 errors", "errors.jsonl");

    JsonNode m = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(m.get("rows").asInt()).isEqualTo(198);
    assertThat(m.get("errors").asInt()).isEqualTo(3);
    assertThat(m.get("shards")).hasSize(5);
    assertThat(m.get("complete").asBoolean()).isTrue();
    List<String> lines = Files.readAllLines(out.resolve("errors.jsonl"));
    assertThat(lines).hasSize(3);
    List<String> failed = new ArrayList<>();
    for (String line : lines) {
      JsonNode e = json.readTree(line);
      failed.add(e.get("path").asText());
      assertThat(e.get("error").asText()).isEqualTo("INVALID_INPUT");
      assertThat(e.get("message").asText()).startsWith(e.get("path").asText());
      assertThat(e.get("index").asInt()).isBetween(0, 200);
    }
    assertThat(failed).containsExactlyInAnyOrderElementsOf(bad);
    List<Map.Entry<JsonNode, float[]>> rows = rows(out);
    assertThat(rows).hasSize(198);
    long lastIndex = -1;
    for (Map.Entry<JsonNode, float[]> e : rows) {
      assertThat(bad).doesNotContain(e.getKey().get("path").asText());
      assertThat(e.getKey().get("index").asLong()).isGreaterThan(lastIndex);
      lastIndex = e.getKey().get("index").asLong();
      double ss = 0;
      for (float v : e.getValue()) {
        ss += v * v;
      }
      assertThat(Math.sqrt(ss)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
    }
  }

  /** Starts the CLI in a child JVM that pauses at {@code point}, waits for it to get there, kills it (SIGKILL). */
  private static void killAt(String point, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", // a short run: C1 only starts the child about twice as fast (Java math is strict either way)
        "-cp", System.getProperty("java.class.path"), "-Dclip4j.corpus.pause=" + point, Main.class.getName()));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String l;
        while ((l = r.readLine()) != null) {
          lines.add(l);
        }
      } catch (IOException ignored) {
        // the process was killed
      }
      lines.add("<eof>");
    });
    reader.setDaemon(true);
    reader.start();
    StringBuilder seen = new StringBuilder();
    try {
      while (true) {
        String l = lines.poll(120, TimeUnit.SECONDS);
        assertThat(l).as("child output so far:\n" + seen).isNotNull().isNotEqualTo("<eof>");
        seen.append(l).append('\n');
        if (l.contains("clip4j-corpus: paused at " + point)) {
          break;
        }
      }
    } finally {
      p.destroyForcibly(); // SIGKILL: no shutdown hooks, no finally blocks in the child
      p.waitFor(30, TimeUnit.SECONDS);
    }
    assertThat(p.exitValue()).isEqualTo(137);
  }

  @Test
  void killMinus9AndResumeGiveTheFilesOfAnUninterruptedRun(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("in");
    for (int i = 0; i < 40; i++) {
      image(in.resolve(String.format("%02d.png", i)), 10 + i % 3, 8, i);
    }
    Files.write(in.resolve("05.png"), "garbage".getBytes(StandardCharsets.UTF_8)); // shard 0
    Files.write(in.resolve("23.png"), new byte[0]); // shard 2
    String m = model("tiny-quickgelu").toString();
    Path ref = tmp.resolve("ref");
    Map.Entry<Integer, String> r = cli("embed-images", "--model", m, "--out", ref.toString(), "--shard-size", "10",
        "--batch-size", "4", "--progress", "off", in.toString());
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);

    Path out = tmp.resolve("out");
    String[] args = {"embed-images", "--model", m, "--out", out.toString(), "--shard-size", "10", "--batch-size", "4",
        "--progress", "off", in.toString()};
    killAt("item:3", args); // during the first shard
    JsonNode m1 = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(m1.get("shards")).isEmpty();
    assertThat(m1.get("complete").asBoolean()).isFalse();

    killAt("errors:2", args); // resumed, committed shards 0 and 1, killed after shard 2's errors, before its manifest
    JsonNode m2 = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(m2.get("shards")).hasSize(2);
    assertThat(m2.get("errors").asInt()).isEqualTo(1);
    assertThat(Files.size(out.resolve("errors.jsonl"))).isGreaterThan(m2.get("errors_bytes").asLong());
    assertThat(out.resolve("embeddings-00002.npy")).exists(); // written, not listed

    r = cli(args);
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);
    assertThat(r.getValue()).contains("resuming", "at images 20 of 40");
    assertThat(snapshot(out)).isEqualTo(snapshot(ref));
    JsonNode done = json.readTree(out.resolve("manifest.json").toFile());
    assertThat(done.get("timings").get("runs").asInt()).isEqualTo(3);
    assertThat(done.get("rows").asInt()).isEqualTo(38);

    r = cli(args); // nothing left to do
    assertThat(r.getKey()).isEqualTo(3);
    assertThat(r.getValue()).contains("already complete");
  }

  @Test
  void textsFromJsonlTsvAndPlainTextWithIds(@TempDir Path tmp) throws Exception {
    Path jsonl = tmp.resolve("a.jsonl");
    Files.writeString(jsonl, "{\"id\": \"cat\", \"text\": \"a cat\"}\n{\"text\": \"a dog\"}\n{broken\n");
    Path tsv = tmp.resolve("b.tsv");
    Files.writeString(tsv, "t1\ta cat\nt2\ta bird\n");
    Path txt = tmp.resolve("c.txt");
    Files.writeString(txt, "a dog\n\na fish\n");
    Path out = tmp.resolve("out");
    Map.Entry<Integer, String> r = cli("embed-texts", "--model", model("tiny-quickgelu").toString(), "--out",
        out.toString(), "--text", "a bird", "--texts-jsonl", jsonl.toString(), "--texts-tsv", tsv.toString(),
        "--texts-txt", txt.toString(), "--progress", "off");
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);
    List<Map.Entry<JsonNode, float[]>> rows = rows(out);
    List<String> ids = new ArrayList<>();
    Map<String, float[]> byText = new LinkedHashMap<>();
    for (Map.Entry<JsonNode, float[]> e : rows) {
      ids.add(e.getKey().get("index").asInt() + ":" + e.getKey().get("id").asText() + "=" + e.getKey().get("text").asText());
      float[] prev = byText.putIfAbsent(e.getKey().get("text").asText(), e.getValue());
      if (prev != null) {
        assertThat(e.getValue()).as("same text, same row").containsExactly(prev);
      }
    }
    assertThat(ids).containsExactly("0:--text:1=a bird", "1:cat=a cat", "2:a.jsonl:2=a dog", "4:t1=a cat", "5:t2=a bird",
        "6:c.txt:1=a dog", "7:c.txt:3=a fish");
    List<String> errors = Files.readAllLines(out.resolve("errors.jsonl"));
    assertThat(errors).hasSize(1);
    JsonNode e = json.readTree(errors.get(0));
    assertThat(e.get("index").asInt()).isEqualTo(3);
    assertThat(e.get("id").asText()).isEqualTo("a.jsonl:3");
    assertThat(e.get("error").asText()).isEqualTo("INVALID_INPUT");
    assertThat(e.get("message").asText()).contains("not valid JSON");

    // A sentence-transformers text model: the reference embeddings, and the text model in the manifest.
    Path c = Conformance.dir();
    Path ml = tmp.resolve("ml");
    r = cli("embed-texts", "--model", model("tiny-quickgelu").toString(), "--text-model", c.resolve("multilingual").toString(),
        "--texts-jsonl", c.resolve("multilingual/expected_token_ids.jsonl").toString(), "--out", ml.toString(),
        "--batch-size", "4", "--shard-size", "5", "--progress", "off");
    assertThat(r.getKey()).as(r.getValue()).isZero();
    JsonNode mm = json.readTree(ml.resolve("manifest.json").toFile());
    assertThat(mm.get("text_model").get("architecture").asText()).contains("Dense(48 -> 64");
    assertThat(mm.get("text_model").get("files").size()).isGreaterThan(0);
    float[] want = Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats();
    List<Map.Entry<JsonNode, float[]>> mrows = rows(ml);
    assertThat(mrows).hasSize(13);
    for (int i = 0; i < 13; i++) {
      float[] w = Arrays.copyOfRange(want, i * 64, (i + 1) * 64);
      float[] g = mrows.get(i).getValue();
      for (int k = 0; k < 64; k++) {
        assertThat((double) Math.abs(g[k] - w[k])).as("text %d dim %d", i, k).isLessThanOrEqualTo(1e-5);
      }
    }
  }

  @Test
  void jsonLinesOutputHasALinePerInputInOrder(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("in");
    image(in.resolve("a.png"), 20, 20, 1);
    image(in.resolve("c.jpg"), 30, 20, 2);
    Files.write(in.resolve("b.png"), "nope".getBytes(StandardCharsets.UTF_8));
    Path list = tmp.resolve("list.txt");
    Files.writeString(list, in.resolve("c.jpg") + "\n" + in.resolve("a.png") + "\n");
    Path out = tmp.resolve("small.jsonl");
    Map.Entry<Integer, String> r = cli("embed-images", "--model", model("tiny-quickgelu").toString(), "--out",
        out.toString(), "--progress", "off", in.toString(), "@" + list);
    assertThat(r.getKey()).as(r.getValue()).isEqualTo(3);
    List<String> lines = Files.readAllLines(out);
    assertThat(lines).hasSize(5);
    try (ClipModel cm = ClipModel.load(model("tiny-quickgelu"))) {
      String[] order = {"a.png", "b.png", "c.jpg", "c.jpg", "a.png"};
      for (int i = 0; i < 5; i++) {
        JsonNode l = json.readTree(lines.get(i));
        assertThat(l.get("index").asInt()).isEqualTo(i);
        assertThat(l.get("path").asText()).isEqualTo(in.resolve(order[i]).toString());
        if (order[i].equals("b.png")) {
          assertThat(l.get("error").asText()).isEqualTo("INVALID_INPUT");
          assertThat(l.has("embedding")).isFalse();
          continue;
        }
        float[] emb = new float[l.get("embedding").size()];
        for (int k = 0; k < emb.length; k++) {
          emb[k] = l.get("embedding").get(k).floatValue();
        }
        assertThat(emb).containsExactly(direct(cm, in.resolve(order[i])));
        assertThat(l.get("sha256").asText()).isEqualTo(sha256(Files.readAllBytes(in.resolve(order[i]))));
      }
    }
    Path texts = tmp.resolve("t.jsonl");
    r = cli("embed-texts", "--model", model("tiny-quickgelu").toString(), "--out", texts.toString(), "--text", "a cat",
        "--text", "a dog", "--progress", "off");
    assertThat(r.getKey()).as(r.getValue()).isZero();
    List<String> tl = Files.readAllLines(texts);
    assertThat(tl).hasSize(2);
    assertThat(json.readTree(tl.get(1)).get("id").asText()).isEqualTo("2");
    assertThat(json.readTree(tl.get(1)).get("embedding").size()).isEqualTo(64);
  }
}
