package dev.clip4j.batch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Tensors;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The embedder over a real model: trimming is exact, concurrency changes no bit. */
class ClipEmbedderTest {

  @Test
  void trimmedTextsEqualFullLengthOnes() throws Exception {
    Path dir = Conformance.dir().resolve("models/tiny-quickgelu");
    List<String> texts = List.of("a cat", "a photo of a dog on a sofa", "", "A DIAGRAM of the Solar System!");
    try (ClipModel model = ClipModel.load(dir)) {
      float[][] trimmed = new float[texts.size()][];
      float[][] full = new float[texts.size()][];
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(8).withMaxDelay(Duration.ofMillis(50));
      try (ClipEmbedder e = ClipEmbedder.create(model, cfg)) {
        List<CompletableFuture<float[]>> fs = e.embedTexts(texts);
        for (int i = 0; i < texts.size(); i++) {
          trimmed[i] = fs.get(i).get(30, TimeUnit.SECONDS);
        }
      }
      try (ClipEmbedder e = ClipEmbedder.create(model, cfg.withTrimTexts(false))) {
        List<CompletableFuture<float[]>> fs = e.embedTexts(texts);
        for (int i = 0; i < texts.size(); i++) {
          full[i] = fs.get(i).get(30, TimeUnit.SECONDS);
        }
      }
      for (int i = 0; i < texts.size(); i++) {
        assertThat(Tensors.maxAbsDiff(trimmed[i], full[i])).as(texts.get(i)).isLessThanOrEqualTo(1e-6);
      }
    }
  }

  @Test
  void aTextTokenizedOnceEmbedsBitwiseAsTheTextAndCountsItsIds() throws Exception {
    Path dir = Conformance.dir().resolve("models/tiny-gelu");
    // Short, bucket-long, and longer than the context (truncated to 77 ids, EOT last).
    List<String> texts = List.of("a cat", "a photo of a dog on a sofa", "", "word ".repeat(120));
    try (ClipModel model = ClipModel.load(dir); ClipEmbedder e = ClipEmbedder.create(model);
        ClipEmbedder other = ClipEmbedder.create(model)) {
      for (String t : texts) {
        ClipEmbedder.TokenizedText tt = e.tokenize(t);
        assertThat(tt.tokenCount()).as(t).isEqualTo(model.tokenizer().ids(t).length);
        float[] want = e.embedText(t).get(30, TimeUnit.SECONDS);
        float[] got = e.embedText(tt, Duration.ofSeconds(30)).get(30, TimeUnit.SECONDS);
        float[] again = e.embedText(tt, null).get(30, TimeUnit.SECONDS); // a handle may be submitted again
        for (int j = 0; j < want.length; j++) {
          assertThat(Float.floatToRawIntBits(got[j])).isEqualTo(Float.floatToRawIntBits(want[j]));
          assertThat(Float.floatToRawIntBits(again[j])).isEqualTo(Float.floatToRawIntBits(want[j]));
        }
      }
      assertThat(e.tokenize("word ".repeat(120)).tokenCount()).isEqualTo(77);
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> other.embedText(e.tokenize("a cat"), null))
          .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("another embedder");
    }
  }

  @Test
  void manyThreadsGetTheSingleCallEmbeddingsBitwise() throws Exception {
    Path c = Conformance.dir();
    Path dir = c.resolve("models/tiny-gelu");
    List<String> texts = new ArrayList<>();
    Random rng = new Random(3);
    String[] words = {"cat", "dog", "photo", "of", "a", "the", "blue", "car", "on", "street"};
    for (int i = 0; i < 60; i++) {
      StringBuilder sb = new StringBuilder();
      for (int w = 0, n = 1 + rng.nextInt(12); w < n; w++) {
        sb.append(words[rng.nextInt(words.length)]).append(' ');
      }
      texts.add(sb.toString());
    }
    List<String> images = List.of("chelsea.png", "astronaut.png", "logo.png", "camera.png");
    try (ClipModel model = ClipModel.load(dir)) {
      // Single-call references.
      List<float[]> textRef = new ArrayList<>();
      List<float[]> imageRef = new ArrayList<>();
      try (ClipEmbedder one = ClipEmbedder.create(model, EmbedderConfig.defaults().withMaxBatchSize(1))) {
        for (String t : texts) {
          textRef.add(one.embedText(t).get(30, TimeUnit.SECONDS));
        }
        for (String im : images) {
          imageRef.add(one.embedImage(c.resolve("images").resolve(im)).get(30, TimeUnit.SECONDS));
        }
      }
      try (ClipEmbedder e = ClipEmbedder.create(model, EmbedderConfig.defaults().withMaxBatchSize(16).withMaxDelay(Duration.ofMillis(3)))) {
        e.warmUp(1, 16);
        ExecutorService clients = Executors.newFixedThreadPool(16);
        try {
          List<Future<float[]>> tf = new ArrayList<>();
          List<Future<float[]>> imf = new ArrayList<>();
          for (int round = 0; round < 3; round++) {
            for (String t : texts) {
              tf.add(clients.submit(() -> e.embedText(t).get(60, TimeUnit.SECONDS)));
            }
            for (String im : images) {
              imf.add(clients.submit(() -> e.embedImage(c.resolve("images").resolve(im)).get(60, TimeUnit.SECONDS)));
            }
          }
          for (int i = 0; i < tf.size(); i++) {
            assertThat(tf.get(i).get()).as("text %d", i).containsExactly(textRef.get(i % texts.size()));
          }
          for (int i = 0; i < imf.size(); i++) {
            assertThat(imf.get(i).get()).as("image %d", i).containsExactly(imageRef.get(i % images.size()));
          }
        } finally {
          clients.shutdownNow();
        }
        assertThat(e.engine().batchesRun()).isLessThan(3 * (texts.size() + images.size()));
      }
    }
  }

  @Test
  void zeroCopyResultsEqualTheArrayResultsBitwise() throws Exception {
    Path c = Conformance.dir();
    Path dir = c.resolve("models/tiny-quickgelu");
    List<String> texts = List.of("a cat", "a photo of a dog on a sofa", "", "A DIAGRAM of the Solar System!",
        "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen");
    List<ImageSource> images = new ArrayList<>();
    for (String im : List.of("chelsea.png", "astronaut.png", "logo.png")) {
      images.add(ImageSource.of(c.resolve("images").resolve(im)));
    }
    images.add(ImageSource.of(new byte[] {1, 2, 3}, "corrupt.jpg"));
    try (ClipModel model = ClipModel.load(dir);
        ClipEmbedder e = ClipEmbedder.create(model, EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(5)))) {
      int d = e.embedDim();
      assertThat((long) d).isEqualTo(model.embedDim());
      java.nio.FloatBuffer textRows = java.nio.ByteBuffer.allocateDirect(texts.size() * d * 4)
          .order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
      java.nio.ByteBuffer imageRows = java.nio.ByteBuffer.allocateDirect(images.size() * d * 4)
          .order(java.nio.ByteOrder.nativeOrder());
      List<CompletableFuture<float[]>> textRef = e.embedTexts(texts);
      List<CompletableFuture<Void>> textInto = e.embedTextsInto(texts, textRows);
      List<CompletableFuture<Void>> imageInto = e.embedImagesInto(images, imageRows);
      java.nio.FloatBuffer single = java.nio.ByteBuffer.allocateDirect(d * 4).order(java.nio.ByteOrder.nativeOrder())
          .asFloatBuffer();
      float[] row = new float[d];
      for (int i = 0; i < texts.size(); i++) {
        float[] want = textRef.get(i).get(30, TimeUnit.SECONDS);
        textInto.get(i).get(30, TimeUnit.SECONDS);
        textRows.get(i * d, row);
        assertThat(row).as(texts.get(i)).containsExactly(want);
        e.embedTextInto(texts.get(i), single).get(30, TimeUnit.SECONDS);
        single.get(0, row);
        assertThat(row).as(texts.get(i)).containsExactly(want);
      }
      java.nio.FloatBuffer imageFloats = imageRows.asFloatBuffer();
      for (int i = 0; i < images.size() - 1; i++) {
        float[] want = e.embedImage(images.get(i)).get(30, TimeUnit.SECONDS);
        imageInto.get(i).get(30, TimeUnit.SECONDS);
        imageFloats.get(i * d, row);
        assertThat(row).as("image %d", i).containsExactly(want);
        e.embedImageInto(images.get(i), single).get(30, TimeUnit.SECONDS);
        single.get(0, row);
        assertThat(row).as("image %d", i).containsExactly(want);
      }
      int bad = images.size() - 1;
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> imageInto.get(bad).get(30, TimeUnit.SECONDS))
          .hasCauseInstanceOf(dev.clip4j.InvalidInputException.class);
      imageFloats.get(bad * d, row);
      assertThat(row).as("the corrupt image's row is left as it was").containsOnly(0f);
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> e.embedTextInto("a cat", java.nio.FloatBuffer.allocate(d)))
          .isInstanceOf(dev.clip4j.InvalidInputException.class);
    }
  }
}
