package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.testing.Tensors;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The multilingual pipeline behind the micro-batching engine: under concurrency, batched and
 * padded to each batch's longest text, every row equals the pipeline's own one-text result to
 * 1e-6, as {@code float[]} and zero-copy.
 */
class StEmbedderTest {

  private static float[] single(SentenceTransformerPipeline p, String text) {
    try (Tensor t = p.embed(List.of(text))) {
      return Tensors.toFloats(t);
    }
  }

  @Test
  void batchedResultsEqualPerCallEmbeddings() throws Exception {
    List<String> texts = SentenceTransformerPipelineTest.texts();
    try (SentenceTransformerPipeline p = SentenceTransformerPipeline.load(SentenceTransformerPipelineTest.fixture())) {
      List<float[]> want = new ArrayList<>();
      for (String t : texts) {
        want.add(single(p, t));
      }
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(8).withMaxDelay(Duration.ofMillis(5));
      try (StEmbedder e = StEmbedder.create(p, cfg)) {
        int d = e.embedDim();
        assertThat((long) d).isEqualTo(p.outputDim());
        // Bulk: shortest first into batches of up to 8, each cut to its longest text.
        List<CompletableFuture<float[]>> bulk = e.embedTexts(texts);
        FloatBuffer rows = ByteBuffer.allocateDirect(texts.size() * d * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        List<CompletableFuture<Void>> into = e.embedTextsInto(texts, rows);
        float[] row = new float[d];
        for (int i = 0; i < texts.size(); i++) {
          float[] got = bulk.get(i).get(60, TimeUnit.SECONDS);
          assertThat(got).hasSize(d);
          assertThat(Tensors.maxAbsDiff(got, want.get(i))).as(texts.get(i)).isLessThanOrEqualTo(1e-6);
          into.get(i).get(60, TimeUnit.SECONDS);
          rows.get(i * d, row);
          // Its own batch (other padding): equal to the per-call row to rounding, like the float[] one.
          assertThat(Tensors.maxAbsDiff(row, want.get(i))).as("zero-copy: " + texts.get(i)).isLessThanOrEqualTo(1e-6);
          assertThat(Tensors.maxAbsDiff(row, new float[d])).as("written").isGreaterThan(0);
        }
        // Many threads, random interleaving: every request completes with its own text's row.
        ExecutorService clients = Executors.newFixedThreadPool(8);
        try {
          List<Future<float[]>> fs = new ArrayList<>();
          for (int round = 0; round < 3; round++) {
            for (String t : texts) {
              fs.add(clients.submit(() -> e.embedText(t).get(60, TimeUnit.SECONDS)));
            }
          }
          for (int i = 0; i < fs.size(); i++) {
            assertThat(Tensors.maxAbsDiff(fs.get(i).get(), want.get(i % texts.size())))
                .as("concurrent %d", i).isLessThanOrEqualTo(1e-6);
          }
        } finally {
          clients.shutdownNow();
        }
        assertThat(e.engine().itemsRun()).isEqualTo(5L * texts.size());
        assertThat(e.engine().batchesRun()).isLessThan(5L * texts.size());
        assertThat(e.engine().pool().bytesInUse()).isZero();
        assertThatThrownBy(() -> e.embedTextInto("x", FloatBuffer.allocate(d))).isInstanceOf(InvalidInputException.class);
      }
    }
  }
}
