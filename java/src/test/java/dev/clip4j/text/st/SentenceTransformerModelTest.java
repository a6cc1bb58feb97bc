package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.ModelFormat;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Tensors;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sentence-transformers directory is a text-only {@link ClipModel} like any other: it embeds
 * texts as sentence-transformers does (within 1e-5 of the reference), refuses images with a typed
 * UNSUPPORTED, pairs with a CLIP image tower, and goes through the same micro-batching embedder,
 * where every row is bit for bit the model's own single-text row under any batching.
 */
class SentenceTransformerModelTest {

  @Test
  void aSentenceTransformersDirectoryIsATextOnlyModelExactToTheReference() throws Exception {
    Path c = Conformance.dir();
    List<String> texts = SentenceTransformerPipelineTest.texts();
    float[] want = Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats();
    try (ClipModel m = ClipModel.load(c.resolve("multilingual"))) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.SENTENCE_TRANSFORMERS);
      assertThat(m.hasTextTower()).isTrue();
      assertThat(m.hasImageTower()).isFalse();
      assertThat(m.embedDim()).isEqualTo(64);
      assertThat(m.info().architecture()).contains("Dense(48 -> 64");
      assertThat(m.info().fileHashes()).containsKey("modules.json").containsKey("2_Dense/config.json");
      float[][] got = m.embedTexts(texts);
      for (int i = 0; i < texts.size(); i++) {
        float[] w = java.util.Arrays.copyOfRange(want, i * 64, (i + 1) * 64);
        assertThat(Tensors.maxAbsDiff(got[i], w)).as(texts.get(i)).isLessThanOrEqualTo(1e-5);
      }
      assertThatThrownBy(() -> m.embedImages(List.of(c.resolve("images/chelsea.png"))))
          .isInstanceOfSatisfying(Clip4jException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.UNSUPPORTED))
          .hasMessageContaining("no image tower");
      assertThatThrownBy(m::preprocessConfig).isInstanceOf(Clip4jException.class);
    }
  }

  @Test
  void pairedWithAClipImageTowerClassifiesAsTheReferenceSoftmax() throws Exception {
    Path c = Conformance.dir();
    List<String> labels = SentenceTransformerPipelineTest.texts();
    float[] img = Npy.read(c.resolve("models/tiny-quickgelu/expected_image_embeddings.npy")).floats();
    float[] txt = Npy.read(c.resolve("multilingual/expected_text_embeddings.npy")).floats();
    try (ClipModel p = ClipModel.pair(ClipModel.load(c.resolve("models/tiny-quickgelu")),
        ClipModel.load(c.resolve("multilingual")))) {
      assertThat(p.info().textModel().format()).isEqualTo(ModelFormat.SENTENCE_TRANSFORMERS);
      assertThat(p.tokenizer()).isInstanceOf(StTokenizer.class);
      ZeroShotClassifier zs = ZeroShotClassifier.build(labels, List.of("{}"), p::embedTexts, p.logitScale());
      double scale = Math.exp(p.logitScale());
      for (int i = 0; i < 12; i++) {
        float[] image = java.util.Arrays.copyOfRange(img, i * 64, (i + 1) * 64);
        double[] logits = new double[labels.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t < labels.size(); t++) {
          double dot = 0;
          for (int j = 0; j < 64; j++) {
            dot += image[j] * (double) txt[t * 64 + j];
          }
          logits[t] = scale * dot;
          max = Math.max(max, logits[t]);
        }
        double sum = 0;
        for (double l : logits) {
          sum += Math.exp(l - max);
        }
        float[] got = zs.probabilities(image);
        for (int t = 0; t < labels.size(); t++) {
          assertThat((double) got[t]).as("image %d label %d", i, t).isCloseTo(Math.exp(logits[t] - max) / sum,
              org.assertj.core.data.Offset.offset(1e-4));
        }
      }
    }
  }

  @Test
  void pairingAModelWithoutItsDenseLayerFails(@TempDir Path tmp) throws Exception {
    Path dir = SentenceTransformerPipelineTest.copy(tmp);
    ObjectMapper json = new ObjectMapper();
    ArrayNode modules = (ArrayNode) json.readTree(SentenceTransformerPipelineTest.fixture().resolve("modules.json").toFile());
    modules.remove(2);
    Files.delete(dir.resolve("modules.json"));
    json.writeValue(dir.resolve("modules.json").toFile(), modules);
    ClipModel image = ClipModel.load(Conformance.dir().resolve("models/tiny-quickgelu"));
    ClipModel text = ClipModel.load(dir);
    assertThat(text.embedDim()).isEqualTo(48);
    assertThatThrownBy(() -> ClipModel.pair(image, text)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("48-d").hasMessageContaining("64-d").hasMessageContaining("Dense");
    assertThat(image.isClosed()).as("a failed pair closes both").isTrue();
    assertThat(text.isClosed()).isTrue();
  }

  @Test
  void embedderRowsAreTheSingleTextRowsBitwiseUnderAnyBatching() throws Exception {
    List<String> texts = SentenceTransformerPipelineTest.texts();
    try (ClipModel m = ClipModel.load(SentenceTransformerPipelineTest.fixture())) {
      List<float[]> want = new ArrayList<>();
      for (String t : texts) {
        want.add(m.embedTexts(List.of(t))[0]);
      }
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(8).withMaxDelay(Duration.ofMillis(5));
      try (ClipEmbedder e = ClipEmbedder.create(m, cfg)) {
        int d = e.embedDim();
        assertThat((long) d).isEqualTo(m.embedDim());
        List<CompletableFuture<float[]>> bulk = e.embedTexts(texts);
        FloatBuffer rows = ByteBuffer.allocateDirect(texts.size() * d * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        List<CompletableFuture<Void>> into = e.embedTextsInto(texts, rows);
        float[] row = new float[d];
        for (int i = 0; i < texts.size(); i++) {
          assertThat(bulk.get(i).get(60, TimeUnit.SECONDS)).as(texts.get(i)).containsExactly(want.get(i));
          into.get(i).get(60, TimeUnit.SECONDS);
          rows.get(i * d, row);
          assertThat(row).as("zero-copy: " + texts.get(i)).containsExactly(want.get(i));
        }
        ExecutorService clients = Executors.newFixedThreadPool(8);
        try {
          List<Future<float[]>> fs = new ArrayList<>();
          for (int round = 0; round < 3; round++) {
            for (String t : texts) {
              fs.add(clients.submit(() -> e.embedText(t).get(60, TimeUnit.SECONDS)));
            }
          }
          for (int i = 0; i < fs.size(); i++) {
            assertThat(fs.get(i).get()).as("concurrent %d", i).containsExactly(want.get(i % texts.size()));
          }
        } finally {
          clients.shutdownNow();
        }
        assertThat(e.engine().itemsRun()).isEqualTo(5L * texts.size());
        assertThat(e.engine().batchesRun()).isLessThan(5L * texts.size());
        assertThat(e.engine().pool().bytesInUse()).isZero();
        assertThatThrownBy(() -> e.embedTextInto("x", FloatBuffer.allocate(d))).isInstanceOf(InvalidInputException.class);
        assertThatThrownBy(() -> e.embedImage(Path.of("x.png"))).isInstanceOf(Clip4jException.class)
            .hasMessageContaining("no image tower");
      }
    }
  }
}
