package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.testing.Conformance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A torch.jit.script'ed open_clip model: read as weights by default (its parameters are a CLIP
 * state dict), or run as code (encode_image/encode_text, normalised by clip4j) when asked; both
 * give the reference embeddings.
 */
class TorchScriptModelTest {

  @ParameterizedTest
  @org.junit.jupiter.params.provider.CsvSource({"tiny-gelu,OPENAI_JIT", "tiny-quickgelu,OPENAI_JIT",
      "tiny-gelu,TORCHSCRIPT", "tiny-quickgelu,TORCHSCRIPT"})
  void embeddingsAndLogitsMatchTheReference(String name, ModelFormat format) throws Exception {
    LoadOptions o = format == ModelFormat.TORCHSCRIPT ? LoadOptions.builder().format(format).build() : LoadOptions.defaults();
    try (ClipModel m = ClipModel.load(ModelFixtures.model(name).resolve("torchscript_scripted.pt"), o)) {
      assertThat(m.info().format()).isEqualTo(format);
      assertThat(m.info().embedDim()).isEqualTo(64);
      assertThat(m.info().imageSize()).isEqualTo(224);
      assertThat(m.info().contextLength()).isEqualTo(77);
      Tensor img = m.embedImages(ModelFixtures.pixels());
      Tensor txt = m.embedTexts(ModelFixtures.tokenIds());
      assertThat(maxAbsDiff(toFloats(img), ModelFixtures.expected(name, "expected_image_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(toFloats(txt), ModelFixtures.expected(name, "expected_text_embeddings.npy"))).isLessThanOrEqualTo(1e-5);
      float[] logits = toFloats(img.matmul(txt.t()).mul(new org.bytedeco.pytorch.Scalar(Math.exp(m.logitScale()))));
      assertThat(maxAbsDiff(logits, ModelFixtures.expected(name, "expected_logits_per_image.npy"))).isLessThanOrEqualTo(1e-4);
      float[] probs = toFloats(torch.softmax(img.matmul(txt.t()).mul(new org.bytedeco.pytorch.Scalar(Math.exp(m.logitScale()))), 1));
      assertThat(maxAbsDiff(probs, ModelFixtures.expected(name, "expected_probs_per_image.npy"))).isLessThanOrEqualTo(1e-4);
    }
  }

  /**
   * A scripted open_clip adds its whole positional embedding, so it only takes ids of the full
   * context length: texts embedded by string (each chunk at its longest text) and the embedder's
   * short buckets are padded to it (they failed with a size mismatch before), and the load's dummy
   * forward now runs through the heads at a short length too.
   */
  @Test
  void textsShorterThanTheContextArePaddedForTheProgram() throws Exception {
    java.util.List<String> texts = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(Conformance.dir().resolve("tokenizer_cases.jsonl"))) {
      if (!line.isBlank()) {
        texts.add(new com.fasterxml.jackson.databind.ObjectMapper().readTree(line).get("text").asText());
      }
    }
    float[] expected = ModelFixtures.expected("tiny-gelu", "expected_text_embeddings.npy");
    try (ClipModel m = ClipModel.load(ModelFixtures.model("tiny-gelu").resolve("torchscript_scripted.pt"))) {
      float[][] rows = m.embedTexts(texts.subList(0, 4)); // short texts: the chunk runs at ~10 positions
      for (int i = 0; i < rows.length; i++) {
        assertThat(maxAbsDiff(rows[i], Arrays.copyOfRange(expected, i * 64, (i + 1) * 64))).as(texts.get(i))
            .isLessThanOrEqualTo(1e-5);
      }
      try (Tensor cut = ModelFixtures.tokenIds().narrow(1, 0, 16).contiguous()) { // rows 0-3 end before 16
        float[] got = toFloats(m.embedTexts(cut.narrow(0, 0, 4)));
        assertThat(maxAbsDiff(got, Arrays.copyOfRange(expected, 0, 4 * 64))).isLessThanOrEqualTo(1e-5);
      }
    }
  }

  @Test
  void badInputsAreTypedErrors() throws Exception {
    try (ClipModel m = ClipModel.load(ModelFixtures.model("tiny-gelu").resolve("torchscript_scripted.pt"),
        LoadOptions.builder().format(ModelFormat.TORCHSCRIPT).build())) {
      assertThatThrownBy(() -> m.embedImages(torch.zeros(1, 3, 32, 32)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("224");
      assertThatThrownBy(() -> m.embedTexts(ModelFixtures.longs(new long[] {49406, 60000, 49407}, 1, 3)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("[0, 49408)");
      assertThatThrownBy(() -> m.embedTexts(ModelFixtures.longs(new long[] {-1}, 1, 1)))
          .isInstanceOf(InvalidInputException.class);
      assertThatThrownBy(() -> m.embedTexts(torch.zeros(1, 78).to(torch.ScalarType.Long)))
          .isInstanceOf(InvalidInputException.class).hasMessageContaining("1..77");
    }
  }

  @Test
  void corruptFilesAreTypedErrorsNamingTheFile(@TempDir Path tmp) throws Exception {
    byte[] good = Files.readAllBytes(ModelFixtures.model("tiny-gelu").resolve("torchscript_scripted.pt"));
    Random rng = new Random(7);
    byte[] random = new byte[4096];
    rng.nextBytes(random);
    byte[][] cases = {new byte[0], random, Arrays.copyOf(good, good.length / 2), Arrays.copyOf(good, 100)};
    for (int i = 0; i < cases.length; i++) {
      Path f = tmp.resolve("bad" + i + ".pt");
      Files.write(f, cases[i]);
      assertThatThrownBy(() -> ClipModel.load(f)).as("case %d", i)
          .isInstanceOf(InvalidModelException.class).hasMessageContaining(f.toString());
    }
  }
}
