package dev.clip4j.text.st;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.clip4j.Engine;
import dev.clip4j.io.Npy;
import dev.clip4j.testing.Tensors;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
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
    Engine.ensureInitialized();
    assumeTrue(torch.cuda_is_available(), "no CUDA device");
    List<String> texts = SentenceTransformerPipelineTest.texts();
    float[] want = Npy.read(SentenceTransformerPipelineTest.fixture().resolve("expected_text_embeddings_unnormalized.npy")).floats();
    try (SentenceTransformerPipeline p =
        SentenceTransformerPipeline.load(SentenceTransformerPipelineTest.fixture(), "cuda:0")) {
      assertThat(p.device()).isEqualTo("cuda:0");
      Tensor e = p.embed(texts);
      assertThat(e.is_cuda()).isTrue();
      assertThat(Tensors.maxAbsDiff(Tensors.toFloats(e.cpu()), want)).isLessThanOrEqualTo(1e-5);
    }
  }
}
