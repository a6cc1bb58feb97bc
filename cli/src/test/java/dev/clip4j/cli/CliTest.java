package dev.clip4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.io.Npy;
import dev.clip4j.testing.Conformance;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands end to end, against the reference fixtures. */
class CliTest {

  private static double maxDiff(float[] a, float[] b) {
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private static String stdout(String... args) {
    PrintStream old = System.out;
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    System.setOut(new PrintStream(bos, true, StandardCharsets.UTF_8));
    try {
      assertThat(Main.run(args)).as(String.join(" ", args)).isZero();
    } finally {
      System.setOut(old);
    }
    return bos.toString(StandardCharsets.UTF_8);
  }

  @Test
  void embedTokenizePreprocessConvertAndInspect(@TempDir Path tmp) throws Exception {
    Path c = Conformance.dir();
    String model = c.resolve("models/tiny-gelu").toString();
    Path cases = c.resolve("tokenizer_cases.jsonl");

    Path ids = tmp.resolve("ids.npy");
    stdout("tokenize", "--model", model, "--texts-jsonl", cases.toString(), "--out", ids.toString());
    Npy.Array t = Npy.read(ids);
    assertThat(t.shape()).containsExactly(13, 77);
    assertThat(t.longs()[0]).isEqualTo(49406);

    Path txt = tmp.resolve("txt.npy");
    stdout("embed-texts", "--model", model, "--texts-jsonl", cases.toString(), "--out", txt.toString());
    float[] want = Npy.read(c.resolve("models/tiny-gelu/expected_text_embeddings.npy")).floats();
    assertThat(maxDiff(Npy.read(txt).floats(), want)).isLessThanOrEqualTo(1e-5);

    Path px = tmp.resolve("px.npy");
    stdout("preprocess", "--model", model, "--out", px.toString(), c.resolve("images/coffee.png").toString());
    assertThat(maxDiff(Npy.read(px).floats(), Npy.read(c.resolve("preprocess/coffee.png.npy")).floats())).isZero();

    Path img = tmp.resolve("img.npy");
    stdout("embed-images", "--model", model, "--out", img.toString(),
        c.resolve("images/chelsea.png").toString(), c.resolve("preprocess/astronaut.png.npy").toString());
    float[] wantImg = Npy.read(c.resolve("models/tiny-gelu/expected_image_embeddings.npy")).floats();
    float[] got = Npy.read(img).floats();
    assertThat(maxDiff(java.util.Arrays.copyOfRange(got, 0, 128), java.util.Arrays.copyOfRange(wantImg, 0, 128)))
        .isLessThanOrEqualTo(1e-5);

    Path bundle = tmp.resolve("m.clip4j");
    stdout("convert", "--model", model, "--out", bundle.toString());
    JsonNode info = new ObjectMapper().readTree(stdout("inspect", "--model", bundle.toString()));
    assertThat(info.get("format").asText()).isEqualTo("clip4j-bundle");
    assertThat(info.get("activation").asText()).isEqualTo("gelu");
    assertThat(info.get("embed_dim").asInt()).isEqualTo(64);
  }

  @Test
  void embedTextsWithAMultilingualTextModel(@TempDir Path tmp) throws Exception {
    Path c = Conformance.dir();
    Path jsonl = c.resolve("multilingual/expected_token_ids.jsonl"); // objects with a "text" field
    Path out = tmp.resolve("ml.npy");
    stdout("embed-texts", "--model", c.resolve("models/tiny-quickgelu").toString(),
        "--text-model", c.resolve("multilingual").toString(), "--texts-jsonl", jsonl.toString(), "--out", out.toString());
    float[] want = Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats();
    assertThat(Npy.read(out).shape()).containsExactly(13, 64);
    assertThat(maxDiff(Npy.read(out).floats(), want)).isLessThanOrEqualTo(1e-5);
  }

  /** The reference's own token ids (not clip4j's tokenizer) give the reference's embeddings. */
  @Test
  void embedTextsFromTokenIdsGivesTheReferenceEmbeddings(@TempDir Path tmp) throws Exception {
    Path c = Conformance.dir();
    ObjectMapper json = new ObjectMapper();
    List<String> lines = Files.readAllLines(c.resolve("tokenizer_cases.jsonl"));
    long[] ids = new long[lines.size() * 77];
    for (int i = 0; i < lines.size(); i++) {
      JsonNode row = json.readTree(lines.get(i)).get("ids");
      assertThat(row.size()).isEqualTo(77);
      for (int j = 0; j < 77; j++) {
        ids[i * 77 + j] = row.get(j).asLong();
      }
    }
    Path idsFile = tmp.resolve("ids.npy");
    Npy.writeInt64(idsFile, ids, lines.size(), 77);
    Path out = tmp.resolve("txt.npy");
    stdout("embed-texts", "--model", c.resolve("models/tiny-gelu").toString(), "--token-ids", idsFile.toString(),
        "--batch-size", "5", "--out", out.toString());
    float[] want = Npy.read(c.resolve("models/tiny-gelu/expected_text_embeddings.npy")).floats();
    assertThat(Npy.read(out).shape()).containsExactly(lines.size(), 64);
    assertThat(maxDiff(Npy.read(out).floats(), want)).isLessThanOrEqualTo(1e-5);

    // A BERT-style text model masks padding: ids of different lengths padded with junk, plus the mask.
    List<String> ml = Files.readAllLines(c.resolve("multilingual/expected_token_ids.jsonl"));
    int longest = 0;
    for (String l : ml) {
      longest = Math.max(longest, json.readTree(l).get("ids").size());
    }
    long[] mids = new long[ml.size() * longest];
    long[] mask = new long[ml.size() * longest];
    for (int i = 0; i < ml.size(); i++) {
      JsonNode row = json.readTree(ml.get(i)).get("ids");
      for (int j = 0; j < longest; j++) {
        mids[i * longest + j] = j < row.size() ? row.get(j).asLong() : 7; // padding the mask hides
        mask[i * longest + j] = j < row.size() ? 1 : 0;
      }
    }
    Path mFile = tmp.resolve("mids.npy");
    Path maskFile = tmp.resolve("mask.npy");
    Npy.writeInt64(mFile, mids, ml.size(), longest);
    Npy.writeInt64(maskFile, mask, ml.size(), longest);
    Path mout = tmp.resolve("ml.npy");
    stdout("embed-texts", "--model", c.resolve("models/tiny-quickgelu").toString(), "--text-model",
        c.resolve("multilingual").toString(), "--token-ids", mFile.toString(), "--attention-mask", maskFile.toString(),
        "--out", mout.toString());
    float[] mwant = Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats();
    assertThat(maxDiff(Npy.read(mout).floats(), mwant)).isLessThanOrEqualTo(1e-5);

    // Refusals: texts and ids together (usage), a float array, a mask that is not 0/1, ids out of range.
    String model = c.resolve("models/tiny-gelu").toString();
    assertThat(Main.run("embed-texts", "--model", model, "--token-ids", idsFile.toString(), "--text", "a cat", "--out",
        tmp.resolve("a.npy").toString())).isEqualTo(2);
    assertThat(Main.run("embed-texts", "--model", model, "--token-ids", idsFile.toString(), "--out",
        tmp.resolve("dir").toString())).isEqualTo(2);
    Path floats = tmp.resolve("f.npy");
    Npy.writeFloat32(floats, new float[] {1, 2}, 1, 2);
    assertThat(errOf("embed-texts", "--model", model, "--token-ids", floats.toString(), "--out", tmp.resolve("b.npy").toString()))
        .contains("int64 (or int32) array [N, L]");
    Path badMask = tmp.resolve("bm.npy");
    Npy.writeInt64(badMask, new long[] {1, 2}, 1, 2);
    Path two = tmp.resolve("two.npy");
    Npy.writeInt64(two, new long[] {49406, 49407}, 1, 2);
    assertThat(errOf("embed-texts", "--model", model, "--token-ids", two.toString(), "--attention-mask", badMask.toString(),
        "--out", tmp.resolve("c.npy").toString())).contains("holds 2; the mask is 0 or 1");
    Path big = tmp.resolve("big.npy");
    Npy.writeInt64(big, new long[] {49406, 1 << 20}, 1, 2);
    assertThat(errOf("embed-texts", "--model", model, "--token-ids", big.toString(), "--out", tmp.resolve("d.npy").toString()))
        .contains("token ids must be in [0, ");
  }

  private static String errOf(String... args) {
    PrintStream old = System.err;
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    System.setErr(new PrintStream(bos, true, StandardCharsets.UTF_8));
    try {
      assertThat(Main.run(args)).as(String.join(" ", args)).isEqualTo(1);
    } finally {
      System.setErr(old);
    }
    return bos.toString(StandardCharsets.UTF_8);
  }

  @Test
  void badModelsExitNonZeroWithTheValidationMessage(@TempDir Path tmp) throws Exception {
    Path c = Conformance.dir();
    Path dir = Files.createDirectories(tmp.resolve("wrong"));
    Files.createSymbolicLink(dir.resolve("open_clip_config.json"), c.resolve("models/tiny-gelu/open_clip_config.json"));
    Files.createSymbolicLink(dir.resolve("open_clip_pytorch_model.bin"), c.resolve("models/tiny-gelu/wrong_keys.bin"));
    PrintStream old = System.err;
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    System.setErr(new PrintStream(bos, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = Main.run("inspect", "--model", dir.toString());
    } finally {
      System.setErr(old);
    }
    assertThat(code).isEqualTo(1);
    assertThat(bos.toString(StandardCharsets.UTF_8)).contains("INVALID_MODEL", "positional_embedding", "text_projection",
        "text_model.embeddings.position_ids");
    assertThat(Main.run("inspect", "--model", tmp.resolve("missing").toString())).isEqualTo(1);
    assertThat(Main.run("embed-texts")).isEqualTo(2); // usage error
  }

  /** {@code clip4j engine} says whether CUDA can be used and, if not, why, besides the executor and strict settings. */
  @Test
  void engineSaysWhyCudaIsNotAvailable() throws Exception {
    JsonNode r = new ObjectMapper().readTree(stdout("engine"));
    assertThat(r.get("jit_executor").asText()).startsWith("simple");
    assertThat(r.has("cublas_workspace_config")).isTrue();
    String why = r.get("cuda_unavailable_because").asText();
    if (!org.bytedeco.pytorch.global.torch.cuda_is_available()) {
      assertThat(why).contains("CPU build"); // this host's test class path: LibTorch's CPU build
    } else {
      assertThat(why).startsWith("n/a");
    }
  }
}
