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
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every model format a user holds, through the commands a user runs: {@code embed-images} on the
 * conformance images and {@code embed-texts} on the tokenizer cases give the reference embeddings
 * (1e-5) whatever file layout the same weights come in.
 */
class FormatsCliTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static int run(String... args) {
    PrintStream old = System.out;
    System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    try {
      return Main.run(args);
    } finally {
      System.setOut(old);
    }
  }

  private static double maxDiff(float[] a, float[] b) {
    assertThat(a).hasSameSizeAs(b);
    double m = 0;
    for (int i = 0; i < a.length; i++) {
      m = Math.max(m, Math.abs(a[i] - b[i]));
    }
    return m;
  }

  private static List<String> images(Path c) throws Exception {
    List<String> out = new ArrayList<>();
    for (JsonNode n : JSON.readTree(c.resolve("manifest.json").toFile()).get("images")) {
      out.add(c.resolve("images").resolve(n.asText()).toString());
    }
    return out;
  }

  /** embed-images and embed-texts with {@code modelArgs} against {@code expectedDir}'s expected_* files. */
  private static void embedsAsTheReference(Path tmp, Path expectedDir, String imageSuffix, String... modelArgs)
      throws Exception {
    Path c = Conformance.dir();
    List<String> args = new ArrayList<>(List.of("embed-images"));
    args.addAll(List.of(modelArgs));
    Path img = tmp.resolve("img.npy");
    args.addAll(List.of("--out", img.toString()));
    args.addAll(images(c));
    assertThat(run(args.toArray(new String[0]))).as(String.join(" ", args)).isZero();
    float[] want = Npy.read(expectedDir.resolve("expected_image_embeddings" + imageSuffix + ".npy")).floats();
    assertThat(maxDiff(Npy.read(img).floats(), want)).as("images").isLessThanOrEqualTo(1e-5);

    List<String> targs = new ArrayList<>(List.of("embed-texts"));
    targs.addAll(List.of(modelArgs));
    Path txt = tmp.resolve("txt.npy");
    targs.addAll(List.of("--texts-jsonl", c.resolve("tokenizer_cases.jsonl").toString(), "--out", txt.toString()));
    assertThat(run(targs.toArray(new String[0]))).as(String.join(" ", targs)).isZero();
    float[] wantTxt = Npy.read(expectedDir.resolve("expected_text_embeddings" + imageSuffix + ".npy")).floats();
    assertThat(maxDiff(Npy.read(txt).floats(), wantTxt)).as("texts").isLessThanOrEqualTo(1e-5);
  }

  @Test
  void huggingFaceDirectories(@TempDir Path tmp) throws Exception {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path dir = Conformance.dir().resolve("models").resolve(name);
      embedsAsTheReference(Files.createDirectories(tmp.resolve(name)), dir, "", "--model", dir.resolve("hf").toString());
    }
  }

  @Test
  void openAiFp16Archives(@TempDir Path tmp) throws Exception {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      Path dir = Conformance.dir().resolve("models").resolve(name);
      embedsAsTheReference(Files.createDirectories(tmp.resolve(name)), dir, "_fp16w", "--model",
          dir.resolve("openai_jit_fp16.pt").toString());
    }
  }

  @Test
  void aSentenceTransformersDirectoryEmbedsTextsAloneAndRefusesImages(@TempDir Path tmp) throws Exception {
    Path c = Conformance.dir();
    Path out = tmp.resolve("t.npy");
    assertThat(run("embed-texts", "--model", c.resolve("multilingual").toString(), "--texts-jsonl",
        c.resolve("multilingual/expected_token_ids.jsonl").toString(), "--out", out.toString())).isZero();
    assertThat(maxDiff(Npy.read(out).floats(), Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats()))
        .isLessThanOrEqualTo(1e-5);
    assertThat(run("embed-images", "--model", c.resolve("multilingual").toString(), "--out",
        tmp.resolve("i.npy").toString(), c.resolve("images/chelsea.png").toString())).isEqualTo(1);
  }

  /**
   * convert --to hf / open_clip / bundle, chained: every output reloads to the same embeddings
   * bit for bit (images from files, texts from strings).
   */
  @Test
  void convertRoundTripsBitIdentically(@TempDir Path tmp) throws Exception {
    Path c = Conformance.dir();
    Path src = c.resolve("models/tiny-quickgelu");
    Path hf = tmp.resolve("as-hf");
    Path oc = tmp.resolve("back-to-open_clip");
    Path bundle = tmp.resolve("m.clip4j");
    assertThat(run("convert", "--model", src.toString(), "--to", "hf", "--out", hf.toString())).isZero();
    assertThat(run("convert", "--model", hf.toString(), "--to", "open_clip", "--out", oc.toString())).isZero();
    assertThat(run("convert", "--model", oc.toString(), "--to", "bundle", "--out", bundle.toString())).isZero();
    List<String> images = images(c);
    float[][] ref = null;
    for (Path m : List.of(src, hf, oc, bundle)) {
      Path img = tmp.resolve("img-" + m.getFileName() + ".npy");
      List<String> args = new ArrayList<>(List.of("embed-images", "--model", m.toString(), "--out", img.toString()));
      args.addAll(images);
      assertThat(run(args.toArray(new String[0]))).as(m.toString()).isZero();
      Path txt = tmp.resolve("txt-" + m.getFileName() + ".npy");
      assertThat(run("embed-texts", "--model", m.toString(), "--texts-jsonl", c.resolve("tokenizer_cases.jsonl").toString(),
          "--out", txt.toString())).isZero();
      float[][] got = {Npy.read(img).floats(), Npy.read(txt).floats()};
      if (ref == null) {
        ref = got;
      } else {
        assertThat(got[0]).as("images through " + m.getFileName()).containsExactly(ref[0]);
        assertThat(got[1]).as("texts through " + m.getFileName()).containsExactly(ref[1]);
      }
    }
    assertThat(Files.readString(hf.resolve("config.json"))).contains("\"quick_gelu\"");
  }
}
