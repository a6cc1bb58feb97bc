package dev.clip4j.hardening;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.clip4j.Clip4jException;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.NumericalException;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.tokenize.ClipTextTokenizer;
import dev.clip4j.model.RandomModels;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.testing.Tensors;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad inputs of every kind against one loaded model and embedder: each gets its typed error, and
 * after each the engine still embeds the next good input to the same values as before (nothing
 * was taken down, no row was lost). Tests run as root, so unreadable files are made as a
 * directory, a FIFO or a dangling symlink where a file is expected. The @Timeout values only
 * guard against a hang (a FIFO blocks open() forever); they measure nothing.
 */
class RobustnessTest {
  @TempDir static Path tmp;
  static Path modelDir;
  static ClipModel model;
  static ClipTokenizer tokenizer;
  static ClipEmbedder embedder;
  static Path goodImage;
  static float[] goodImageEmbedding;
  static float[] goodTextEmbedding;
  static final String GOOD_TEXT = "a photo of the red cat";

  @BeforeAll
  static void setUp() throws Exception {
    modelDir = RandomModels.write(tmp.resolve("tiny"), Seeds.tinySpec(), 11);
    Files.write(modelDir.resolve("bpe_simple_vocab_16e6.txt.gz"), Seeds.bpeGz());
    model = ClipModel.load(modelDir);
    tokenizer = ((ClipTextTokenizer) model.tokenizer()).bpe();
    embedder = ClipEmbedder.create(model, EmbedderConfig.defaults().withMaxBatchSize(8));
    goodImage = tmp.resolve("good.png");
    Files.write(goodImage, Seeds.encode(Seeds.picture(40, 30, false), "png"));
    goodImageEmbedding = embedder.embedImage(goodImage).get();
    goodTextEmbedding = embedder.embedText(GOOD_TEXT).get();
    assertThat(norm(goodImageEmbedding)).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
  }

  @AfterAll
  static void tearDown() {
    if (embedder != null) {
      embedder.close();
    }
    if (model != null) {
      model.close();
    }
  }

  private static double norm(float[] v) {
    double s = 0;
    for (float x : v) {
      s += (double) x * x;
    }
    return Math.sqrt(s);
  }

  /** The engine still works: the good image and text embed to their earlier values. */
  private static void stillWorks() throws Exception {
    assertThat(Tensors.maxAbsDiff(embedder.embedImage(goodImage).get(), goodImageEmbedding)).isLessThanOrEqualTo(1e-5);
    assertThat(Tensors.maxAbsDiff(embedder.embedText(GOOD_TEXT).get(), goodTextEmbedding)).isLessThanOrEqualTo(1e-5);
  }

  private static Throwable failure(CompletableFuture<?> f) throws InterruptedException {
    try {
      f.get();
      return null;
    } catch (ExecutionException e) {
      return e.getCause();
    }
  }

  private static Path fifo(String name) throws Exception {
    Path p = tmp.resolve(name);
    Process mk = new ProcessBuilder("mkfifo", p.toString()).inheritIO().start();
    assertThat(mk.waitFor()).isZero();
    return p;
  }

  private static Path dangling(String name) throws IOException {
    return Files.createSymbolicLink(tmp.resolve(name), tmp.resolve("no-such-target-" + name));
  }

  /** Bad image files, each alone and then all in one batch with good images between them. */
  @Test
  @Timeout(120)
  void badImagesFailTypedAndTheRestOfTheBatchIsEmbedded() throws Exception {
    byte[] png = Seeds.encode(Seeds.picture(40, 30, false), "png");
    byte[] jpg = Seeds.encode(Seeds.picture(40, 30, false), "jpeg");
    List<Path> bad = new ArrayList<>();
    bad.add(Files.write(tmp.resolve("trunc.png"), Arrays.copyOf(png, png.length / 2)));
    bad.add(Files.write(tmp.resolve("trunc.jpg"), Arrays.copyOf(jpg, jpg.length / 2)));
    bad.add(Files.write(tmp.resolve("empty.png"), new byte[0]));
    bad.add(Files.write(tmp.resolve("text.png"), "not an image".getBytes(StandardCharsets.UTF_8)));
    bad.add(Files.write(tmp.resolve("bomb.png"), Variants.pngDeclaring(65535, 32767)));
    bad.add(Files.write(tmp.resolve("bomb.gif"), Variants.gifDeclaring(65535, 32767)));
    bad.add(Files.write(tmp.resolve("bomb.jpg"), Variants.jpegDeclaring(jpg, 65535, 32767)));
    bad.add(Files.createDirectories(tmp.resolve("dir.png")));
    bad.add(fifo("fifo.png"));
    bad.add(dangling("dangling.png"));
    bad.add(tmp.resolve("missing.png"));
    for (Path p : bad) {
      Throwable t = failure(embedder.embedImage(p));
      assertThat(t).as(p.toString()).isInstanceOf(InvalidInputException.class);
      assertThat(t.getMessage()).as(p.toString()).contains(p.getFileName().toString());
      stillWorks();
    }
    // One batch: good, bad, good, bad, ...: every good row embedded exactly, every bad one typed.
    List<CompletableFuture<float[]>> futures = new ArrayList<>();
    for (Path p : bad) {
      futures.add(embedder.embedImage(goodImage));
      futures.add(embedder.embedImage(p));
    }
    futures.add(embedder.embedImage(goodImage));
    int lost = 0;
    for (int i = 0; i < futures.size(); i++) {
      if (i % 2 == 0) {
        float[] e = futures.get(i).get();
        if (Tensors.maxAbsDiff(e, goodImageEmbedding) > 1e-5) {
          lost++;
        }
      } else {
        assertThat(failure(futures.get(i))).isInstanceOf(InvalidInputException.class);
      }
    }
    assertThat(lost).as("good rows lost or changed next to bad ones").isZero();
    ImageDecoder.decode(goodImage); // the decoder itself is fine afterwards too
  }

  @Test
  void emptyHugeAndOddTextsEmbed() throws Exception {
    String[] texts = {"", " ", "x".repeat(100_000), "word ".repeat(20_000), "\uD800 lone surrogate", "\u0000\u0001\u0007",
        "😀".repeat(5000), "&amp;&lt;&#x1F600;&#99999999;"};
    for (String t : texts) {
      float[] e = embedder.embedText(t).get();
      assertThat(norm(e)).as(t.substring(0, Math.min(20, t.length()))).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
      stillWorks();
    }
    int[] ids = tokenizer.encode("x".repeat(100_000));
    long[] row = new long[77];
    assertThat(tokenizer.tokenizeInto("x".repeat(100_000), 77, row, 0)).isLessThanOrEqualTo(77);
    assertThat(row[76]).as("truncated to the context with EOT last").isEqualTo(tokenizer.eotToken());
    assertThat(ids.length).isGreaterThan(77);
  }

  /** Checkpoints that must be refused at load, each a typed error, with the loaded model unaffected. */
  @Test
  @Timeout(300)
  void badCheckpointsAreRefusedAtLoad() throws Exception {
    byte[] st = Files.readAllBytes(modelDir.resolve("open_clip_model.safetensors"));
    byte[] cfg = Files.readAllBytes(modelDir.resolve("open_clip_config.json"));
    Consumer<Path> refused = dir -> {
      assertThatThrownBy(() -> ClipModel.load(dir).close()).as(dir.toString()).isInstanceOf(InvalidModelException.class);
      try {
        stillWorks();
      } catch (Exception e) {
        fail("engine broken after " + dir, e);
      }
    };
    // NaN and Inf weights: refused at load, naming the weight.
    for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
      Path dir = Files.createDirectories(tmp.resolve("nonfinite-" + bad));
      Files.write(dir.resolve("open_clip_config.json"), cfg);
      byte[] b = st.clone();
      long at = dataStart(st, "ln_final.weight");
      ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putFloat((int) at + 8, bad);
      Files.write(dir.resolve("open_clip_model.safetensors"), b);
      assertThatThrownBy(() -> ClipModel.load(dir).close()).isInstanceOf(InvalidModelException.class)
          .hasMessageContaining("ln_final.weight").hasMessageContaining("NaN or Inf");
      stillWorks();
    }
    // Truncated, a directory, a FIFO and a dangling symlink where the weights file should be.
    Path trunc = Files.createDirectories(tmp.resolve("trunc"));
    Files.write(trunc.resolve("open_clip_config.json"), cfg);
    Files.write(trunc.resolve("open_clip_model.safetensors"), Arrays.copyOf(st, st.length - 100));
    refused.accept(trunc);
    for (String kind : new String[] {"dir", "fifo", "dangling"}) {
      Path dir = Files.createDirectories(tmp.resolve("weights-" + kind));
      Files.write(dir.resolve("open_clip_config.json"), cfg);
      Path w = dir.resolve("open_clip_model.safetensors");
      switch (kind) {
        case "dir" -> Files.createDirectories(w);
        case "fifo" -> assertThat(new ProcessBuilder("mkfifo", w.toString()).start().waitFor()).isZero();
        default -> Files.createSymbolicLink(w, dir.resolve("nowhere"));
      }
      refused.accept(dir);
      assertThatThrownBy(() -> CheckpointReader.read(w)).isInstanceOf(InvalidModelException.class).hasMessageContaining(w.toString());
    }
    // The same for the config and the vocabulary files, and a .npy input.
    Path cfgFifo = fifo("open_clip_config.json.fifo");
    assertThatThrownBy(() -> ModelConfig.parse(cfgFifo)).isInstanceOf(InvalidModelException.class).hasMessageContaining("FIFO");
    assertThatThrownBy(() -> ModelConfig.parse(tmp)).isInstanceOf(InvalidModelException.class).hasMessageContaining("directory");
    Path vocabFifo = fifo("vocab.txt.gz");
    assertThatThrownBy(() -> ClipTokenizer.fromBpeVocab(vocabFifo)).isInstanceOf(InvalidModelException.class);
    Path npyFifo = fifo("x.npy");
    assertThatThrownBy(() -> Npy.read(npyFifo)).isInstanceOf(InvalidInputException.class);
    assertThatThrownBy(() -> Npy.read(dangling("y.npy"))).isInstanceOf(InvalidInputException.class).hasMessageContaining("dangling");
    stillWorks();
  }

  private static long dataStart(byte[] st, String name) throws IOException {
    int len = (int) ByteBuffer.wrap(st).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    var h = new com.fasterxml.jackson.databind.ObjectMapper().readTree(new String(st, 8, len, StandardCharsets.UTF_8));
    return len + h.get(name).get("data_offsets").get(0).asLong();
  }

  /** NaN pixels in one image of a batch: a NumericalException naming that row, then all is well. */
  @Test
  void nonFiniteInputRowsAreNamedByTheOutputCheck() throws Exception {
    int s = model.info().imageSize();
    float[] px = new float[3 * 3 * s * s];
    Arrays.fill(px, 3 * s * s, 2 * 3 * s * s, Float.NaN); // image 1 of 3
    try (Tensor pixels = Tensors.fromFloats(px, 3, 3, s, s)) {
      assertThatThrownBy(() -> model.embedImages(pixels)).isInstanceOfSatisfying(NumericalException.class, e -> {
        assertThat(e.rows()).containsExactly(1);
        assertThat(e.code()).isEqualTo(dev.clip4j.ErrorCode.NUMERICAL);
        assertThat(e.getMessage()).contains("image embeddings").contains("1 of 3");
      });
    }
    stillWorks();
  }

  /**
   * Weights that give a NaN row for one token only (a huge but finite embedding row, which the
   * load-time NaN/Inf check rightly lets through): texts without it embed, the batch with it
   * fails naming its row.
   */
  @Test
  void weightsThatOverflowForOneTokenAreCaughtAtTheOutput() throws Exception {
    byte[] st = Files.readAllBytes(modelDir.resolve("open_clip_model.safetensors"));
    int width = Seeds.tinySpec().textWidth();
    int token = 600;
    long at = dataStart(st, "token_embedding.weight") + 8 + (long) token * width * 4;
    ByteBuffer b = ByteBuffer.wrap(st.clone()).order(ByteOrder.LITTLE_ENDIAN);
    for (int i = 0; i < width; i++) {
      b.putFloat((int) at + 4 * i, Float.MAX_VALUE / 2);
    }
    Path dir = Files.createDirectories(tmp.resolve("overflow-token"));
    Files.copy(modelDir.resolve("open_clip_config.json"), dir.resolve("open_clip_config.json"));
    Files.write(dir.resolve("open_clip_model.safetensors"), b.array());
    try (ClipModel m = ClipModel.load(dir)) {
      int sot = tokenizer.sotToken();
      int eot = tokenizer.eotToken();
      long[] ids = new long[3 * 8];
      long[][] rows = {{sot, 300, eot}, {sot, token, eot}, {sot, 301, 302, eot}};
      for (int r = 0; r < 3; r++) {
        System.arraycopy(rows[r], 0, ids, r * 8, rows[r].length);
      }
      try (Tensor t = torch.tensor(ids).reshape(3, 8)) {
        assertThatThrownBy(() -> m.embedTexts(t)).isInstanceOfSatisfying(NumericalException.class,
            e -> assertThat(e.rows()).containsExactly(1));
      }
      long[] fine = new long[8];
      System.arraycopy(rows[0], 0, fine, 0, 3);
      try (Tensor t = torch.tensor(fine).reshape(1, 8); Tensor out = m.embedTexts(t)) {
        assertThat(norm(Tensors.toFloats(out))).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
      }
    }
    stillWorks();
  }

  @Test
  void typedErrorsCarryTheirCodes() {
    Clip4jException e = (Clip4jException) catchThrowable(() -> ImageDecoder.decode(tmp));
    assertThat(e.code()).isEqualTo(dev.clip4j.ErrorCode.INVALID_INPUT);
    assertThat(e.getMessage()).contains("directory");
  }

  private static Throwable catchThrowable(Runnable r) {
    try {
      r.run();
      return null;
    } catch (Throwable t) {
      return t;
    }
  }
}
