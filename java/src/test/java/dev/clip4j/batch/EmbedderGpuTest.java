package dev.clip4j.batch;

import static dev.clip4j.testing.Tensors.fromFloats;
import static dev.clip4j.testing.Tensors.randn;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.head.EmbeddingHead;
import dev.clip4j.internal.HostTensors;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Gpu;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The embedder's CUDA path end to end: staged copies on a copy stream, compute on the compute
 * stream, one sync per batch, results read from pinned memory. FAILS (never skips) without CUDA.
 * Not run yet: this project has had no GPU.
 */
@Tag("gpu")
class EmbedderGpuTest {
  private String cuda;

  @BeforeEach
  void requireCuda() {
    cuda = Gpu.requireCuda();
  }

  /** Lanes on "cuda" and "cuda:0" share one transfer state (one stream pair) and both get right rows. */
  @Test
  void cudaAndCuda0ShareOneTransferStateAndGetCorrectRows() throws Exception {
    int dim = 64;
    Random rng = new Random(9);
    Tensor w = fromFloats(randn(rng, dim * 32, 0.2), dim, 32);
    try (EmbeddingHead cpuHead = EmbeddingHead.builder(w).build();
        EmbeddingHead head = EmbeddingHead.builder(w.to(new Device(cuda), ScalarType.Float)).build()) {
      SlotWriter<float[]> writer = (v, batch, slot) -> {
        try (Tensor row = batch.select(0, slot)) {
          HostTensors.floats(row, "slot").put(v);
        }
        return dim;
      };
      List<Embedder.Lane<?>> lanes = List.of(
          new Embedder.Lane<>("a", new long[] {dim}, ScalarType.Float, writer, head::apply, false, 32, "cuda"),
          new Embedder.Lane<>("b", new long[] {dim}, ScalarType.Float, writer, head::apply, false, 32, "cuda:0"));
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(16).withMaxDelay(Duration.ofMillis(2));
      List<float[]> inputs = new ArrayList<>();
      List<CompletableFuture<float[]>> futures = new ArrayList<>();
      try (Embedder e = Embedder.create(cfg, lanes)) {
        for (int i = 0; i < 500; i++) {
          float[] v = randn(rng, dim, 1.0);
          inputs.add(v);
          futures.add(e.submit(i % 2 == 0 ? "a" : "b", v));
        }
        for (int i = 0; i < inputs.size(); i++) {
          float[] got = futures.get(i).get(60, TimeUnit.SECONDS);
          float[] want = toFloats(cpuHead.apply(fromFloats(inputs.get(i), 1, dim)));
          assertThat(dev.clip4j.testing.Tensors.maxAbsDiff(got, want)).as("request %d", i).isLessThanOrEqualTo(1e-5);
        }
        assertThat(e.transferKeys()).isEqualTo(Set.of(cuda));
      }
    }
  }

  /** ClipEmbedder on CUDA: every row bitwise the model's own batch-of-one row (batch-invariant on CUDA). */
  @Test
  void clipEmbedderRowsAreTheModelsRowsBitwise() throws Exception {
    Path dir = Conformance.dir().resolve("models/tiny-gelu");
    List<String> texts = List.of("a cat", "a photo of a dog on a sofa", "", "A DIAGRAM of the Solar System!",
        "an astronaut riding a horse", "numbers 3.14159 and 2024-11-23");
    List<Path> images = new ArrayList<>();
    for (String name : new String[] {"chelsea.png", "astronaut.png", "coffee.png", "rocket.jpg", "camera.png"}) {
      images.add(Conformance.dir().resolve("images").resolve(name));
    }
    try (ClipModel model = ClipModel.load(dir, LoadOptions.builder().device(cuda).build())) {
      float[][] directTexts = new float[texts.size()][];
      for (int i = 0; i < texts.size(); i++) {
        directTexts[i] = model.embedTexts(List.of(texts.get(i)))[0];
      }
      float[][] directImages = new float[images.size()][];
      for (int i = 0; i < images.size(); i++) {
        directImages[i] = model.embedImages(List.of(images.get(i)))[0];
      }
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(4).withMaxDelay(Duration.ofMillis(20));
      try (ClipEmbedder e = ClipEmbedder.create(model, cfg)) {
        e.warmUp(1, 4);
        List<CompletableFuture<float[]>> t = e.embedTexts(texts);
        List<CompletableFuture<float[]>> im = new ArrayList<>();
        for (Path p : images) {
          im.add(e.embedImage(p));
        }
        for (int i = 0; i < texts.size(); i++) {
          assertThat(t.get(i).get(60, TimeUnit.SECONDS)).as(texts.get(i)).containsExactly(directTexts[i]);
        }
        for (int i = 0; i < images.size(); i++) {
          assertThat(im.get(i).get(60, TimeUnit.SECONDS)).as(images.get(i).toString()).containsExactly(directImages[i]);
        }
        assertThat(e.engine().transferKeys()).isEqualTo(Set.of(cuda));
      }
    }
  }
}
