package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.testing.Gpu;
import dev.clip4j.io.Npy;
import dev.clip4j.testing.Tensors;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The multilingual fixture on CUDA against the reference. Run on a CUDA host with {@code mvn
 * -Pgpu verify -Dgroups=gpu}; excluded from the default build.
 */
@Tag("gpu")
class SentenceTransformerPipelineGpuTest {

  @Test
  void embeddingsOnCudaMatchTheReference() throws Exception {
    Gpu.requireCuda(); // fails, never skips, without CUDA
    List<String> texts = SentenceTransformerPipelineTest.texts();
    float[] want = Npy.read(SentenceTransformerPipelineTest.fixture().resolve("expected_text_embeddings_unnormalized.npy")).floats();
    try (SentenceTransformerPipeline p =
        SentenceTransformerPipeline.load(SentenceTransformerPipelineTest.fixture(), "cuda:0")) {
      assertThat(p.device()).isEqualTo("cuda:0");
      Tensor e = p.embed(texts);
      assertThat(e.is_cuda()).isTrue();
      assertThat(Tensors.maxAbsDiff(Tensors.toFloats(e), want)).isLessThanOrEqualTo(1e-5);
    }
  }

  /** A CLIP image tower paired with the multilingual text tower, both on CUDA, against the same pair on the CPU. */
  @Test
  void aPairedTextTowerOnCudaMatchesTheCpuPair() throws Exception {
    String cuda = Gpu.requireCuda();
    java.nio.file.Path clip = dev.clip4j.testing.Conformance.dir().resolve("models/tiny-gelu");
    List<String> texts = SentenceTransformerPipelineTest.texts();
    float[][] cpuRows;
    try (dev.clip4j.model.ClipModel pair = dev.clip4j.model.ClipModel.pair(dev.clip4j.model.ClipModel.load(clip),
        dev.clip4j.model.ClipModel.load(SentenceTransformerPipelineTest.fixture()))) {
      cpuRows = pair.embedTexts(texts);
    }
    // "cuda" (the current device) on one side, "cuda:0" on the other: the same device, so they pair.
    dev.clip4j.model.LoadOptions on = dev.clip4j.model.LoadOptions.builder().device(cuda).build();
    dev.clip4j.model.LoadOptions bare = dev.clip4j.model.LoadOptions.builder().device("cuda").build();
    try (dev.clip4j.model.ClipModel pair = dev.clip4j.model.ClipModel.pair(dev.clip4j.model.ClipModel.load(clip, on),
        dev.clip4j.model.ClipModel.load(SentenceTransformerPipelineTest.fixture(), bare))) {
      float[][] rows = pair.embedTexts(texts);
      for (int i = 0; i < rows.length; i++) {
        assertThat(Tensors.maxAbsDiff(rows[i], cpuRows[i])).as(texts.get(i)).isLessThanOrEqualTo(1e-4);
      }
    }
  }
}
