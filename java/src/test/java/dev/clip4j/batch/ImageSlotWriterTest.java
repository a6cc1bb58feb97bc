package dev.clip4j.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.testing.Conformance;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** Images through the Embedder's image lane land in their batch slots exactly as preprocessed. */
class ImageSlotWriterTest {

  /** The reference tensor's values (float32 [3,224,224] .npy, header skipped). */
  private static float[] reference(Path npy) throws Exception {
    byte[] b = Files.readAllBytes(npy);
    int headerLen = (b[8] & 0xff) | (b[9] & 0xff) << 8;
    ByteBuffer data = ByteBuffer.wrap(b, 10 + headerLen, b.length - 10 - headerLen).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[3 * 224 * 224];
    data.asFloatBuffer().get(out);
    return out;
  }

  @Test
  void embedderImageLaneFillsSlotsWithThePreprocessedImages() throws Exception {
    Path dir = Conformance.dir();
    ImageSlotWriter writer = new ImageSlotWriter(new ImagePreprocessor(PreprocessConfig.defaults()), DecodeOptions.defaults());
    // "forward": each row's full preprocessed tensor, so the test sees exactly what was written.
    Embedder.Lane<ImageSource> lane = new Embedder.Lane<>("images", new long[] {3, 224, 224}, ScalarType.Float,
        writer, t -> t.reshape(new long[] {t.size(0), -1}).clone(), false);
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(50));
    List<String> names = List.of("chelsea.png", "corrupt_truncated.jpg", "logo.png", "tall_37x300.png", "camera.png");
    try (Embedder e = Embedder.create(cfg, List.of(lane))) {
      List<CompletableFuture<float[]>> fs = e.submitAll("images",
          names.stream().map(n -> ImageSource.of(dir.resolve("images").resolve(n))).toList(), null);
      for (int i = 0; i < names.size(); i++) {
        String n = names.get(i);
        if (n.startsWith("corrupt")) {
          final int k = i;
          assertThatThrownBy(() -> fs.get(k).get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
              .hasCauseInstanceOf(InvalidInputException.class).hasMessageContaining("corrupt_truncated.jpg");
          continue;
        }
        float[] got = fs.get(i).get(30, TimeUnit.SECONDS);
        float[] want = reference(dir.resolve("preprocess").resolve(n + ".npy"));
        double max = 0;
        for (int j = 0; j < want.length; j++) {
          max = Math.max(max, Math.abs(got[j] - want[j]));
        }
        assertThat(max).as(n).isLessThanOrEqualTo(1e-6);
      }
    }
  }
}
